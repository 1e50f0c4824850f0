// --version, man pages and bash completions: generated from each program's
// CLI::App (socklab_cli), checked against what the program's --help says, rendered
// by groff with every warning on, and completed by bash as a user would.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "process.hpp"
#include "socklab/cli/docs.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using socklab::test::run;

namespace {

std::vector<fs::path> programs() {
  std::vector<fs::path> out;
  std::string all = SOCKLAB_PROGRAM_FILES;
  for (std::size_t start = 0, bar; (bar = all.find('|', start)) != std::string::npos; start = bar + 1) {
    out.emplace_back(all.substr(start, bar - start));
  }
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The build tree's generated file for `program` (man/man1/X.1, completions/X).
fs::path generated(const fs::path& program, const std::string& kind) {
  return fs::path(SOCKLAB_BINARY_DIR) / (kind == "man" ? "man/man1" : "completions") /
         (program.filename().string() + (kind == "man" ? ".1" : ""));
}

// Completes `line` (the cursor at its end) with the program's completion script
// loaded, as bash does on TAB; returns the candidates, one per line.
std::string complete(const fs::path& script, const std::string& line) {
  const std::string bash =
      "source \"$1\"; read -ra COMP_WORDS <<< \"$2\"; [[ $2 == *' ' ]] && COMP_WORDS+=(''); "
      "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); fn=$(complete -p \"${COMP_WORDS[0]}\" | awk '{print $(NF-1)}'); "
      "\"$fn\"; printf '%s\\n' \"${COMPREPLY[@]}\"";
  auto r = run({"/bin/bash", "-c", bash, "bash", script.string(), line});
  REQUIRE(r.exit_code == 0);
  return r.out;
}

}  // namespace

TEST_CASE("every program prints its version and the git revision it was built from", "[cli]") {
  REQUIRE(programs().size() >= 2);
  std::string expected_revision = "unknown";
  if (std::string(SOCKLAB_GIT).size() > 0 && fs::exists(fs::path(SOCKLAB_SOURCE_DIR) / ".git")) {
    auto git = run({SOCKLAB_GIT, "-C", SOCKLAB_SOURCE_DIR, "describe", "--always", "--dirty", "--abbrev=12"});
    if (git.exit_code == 0) expected_revision = git.out.substr(0, git.out.find('\n'));
  }
  for (const auto& p : programs()) {
    INFO(p);
    auto r = run({p.string(), "--version"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == p.filename().string() + " (socklab) " SOCKLAB_PROJECT_VERSION "\ngit revision " +
                       expected_revision + "\n");
  }
}

TEST_CASE("outside a git checkout of the sources the revision is \"unknown\"", "[cli]") {
  TempDir tarball;  // a source tree unpacked from a tarball: no .git
  const auto out = tarball.path / "revision.cpp";
  // Also a directory inside some other git checkout (this build tree, when it is in
  // the source tree) must not take that checkout's revision.
  for (const fs::path& source : {tarball.path, fs::path(SOCKLAB_BINARY_DIR)}) {
    INFO(source);
    auto r = run({SOCKLAB_CMAKE, "-DSOURCE_DIR=" + source.string(), "-DOUTPUT=" + out.string(), "-P",
                  SOCKLAB_REVISION_SCRIPT});
    REQUIRE(r.exit_code == 0);
    CHECK(slurp(out).find("kGitRevision = \"unknown\"") != std::string::npos);
    fs::remove(out);
  }
}

TEST_CASE("each man page is the program's own, lists every flag of --help, and renders without warnings", "[cli]") {
  for (const auto& p : programs()) {
    INFO(p);
    const std::string page = slurp(generated(p, "man"));
    auto now = run({p.string(), "--man-page"});
    REQUIRE(now.exit_code == 0);
    CHECK(page == now.out);  // the build's copy is not stale

    // Every flag --help shows (of the program and of each subcommand) is in the page.
    std::vector<std::vector<std::string>> helps{{p.string(), "--help"}};
    for (const std::string sub : {"read", "record", "server", "client"}) {
      if (page.find("\\fB" + p.filename().string() + " " + sub + "\\fR") != std::string::npos) {
        helps.push_back({p.string(), sub, "--help"});
      }
    }
    for (const auto& argv : helps) {
      auto help = run(argv);
      REQUIRE(help.exit_code == 0);
      const std::regex flag(R"((^|[\s,])(--[a-z][a-z0-9-]*))");
      for (std::sregex_iterator it(help.out.begin(), help.out.end(), flag), end; it != end; ++it) {
        std::string escaped = (*it)[2].str();
        escaped = std::regex_replace(escaped, std::regex("-"), "\\-");
        INFO(argv[1] << ": " << (*it)[2].str());
        CHECK(page.find("\\fB" + escaped + "\\fR") != std::string::npos);
      }
    }

    if (std::string(SOCKLAB_GROFF).empty()) continue;
    auto groff = run({SOCKLAB_GROFF, "-ww", "-man", "-Tutf8", "-P-cbou", generated(p, "man").string()});
    CHECK(groff.exit_code == 0);
    CHECK(groff.err.empty());
    CHECK(groff.out.find("NAME") != std::string::npos);
  }
}

TEST_CASE("the man page of a lesson carries its goal and its examples", "[cli]") {
  for (const auto& p : programs()) {
    if (p.filename() != "demo-handshake") continue;
    const std::string page = slurp(generated(p, "man"));
    CHECK(page.find(".SH DESCRIPTION\n.PP\nBefore a single byte of your data travels") != std::string::npos);
    CHECK(page.find("\\fBsudo demo\\-handshake \\-\\-capture\\fR\nthe calls and the wire") != std::string::npos);
    CHECK(page.find("\\fBsocklab\\-capture\\fR(1)") != std::string::npos);
    return;
  }
  FAIL("demo-handshake is not among the programs");
}

TEST_CASE("bash completes each program's flags, their choices and its subcommands", "[cli]") {
  for (const auto& p : programs()) {
    INFO(p);
    const auto script = generated(p, "completion");
    const std::string name = p.filename().string();
    auto syntax = run({"/bin/bash", "-n", script.string()});
    CHECK(syntax.exit_code == 0);
    if (name == "socklab-capture") {
      CHECK(complete(script, name + " re") == "read\nrecord\n");
      CHECK(complete(script, name + " read --col") == "--color\n");
      CHECK(complete(script, name + " read --color ") == "auto\nalways\nnever\n");
      CHECK(complete(script, name + " record --snaplen ") == "\n");  // a number: nothing to offer
    } else if (name == "demo-chat") {
      CHECK(complete(script, name + " ") == "server\nclient\n");
      CHECK(complete(script, name + " server --max-c") == "--max-clients\n");
      CHECK(complete(script, name + " client --lang ") == "en\nzh\n");
    } else {
      CHECK(complete(script, name + " --lan") == "--lang\n");
      CHECK(complete(script, name + " --lang ") == "en\nzh\n");
      CHECK(complete(script, name + " --role ") == "server\nclient\n");
      CHECK(complete(script, name + " --ver") == "--version\n");
    }
  }
}

TEST_CASE("the generators escape what roff and bash would misread", "[cli]") {
  CLI::App app("tool: does \\things with 'quotes' \xe2\x80\x94 and \"more\"", "tool");
  std::string word;
  app.add_option("--mode", word, ".leading dot, a backslash \\ and Chinese \xe4\xb8\xad\xe6\x96\x87")
      ->check(CLI::IsMember({"fast", "slow"}));
  bool secret = false;
  app.add_flag("--secret", secret, "hidden")->group("");
  app.footer("Exit codes:\n  0  ok\n  2  bad usage\n'quoted line");
  const std::string page = socklab::cli::man_page(app, {});
  CHECK(page.find(".SH NAME\ntool \\- does \\ethings with 'quotes' \\[u2014] and \\(dqmore\\(dq\n") !=
        std::string::npos);
  CHECK(page.find("\\fB\\-\\-mode\\fR \\fIfast|slow\\fR\n\\&.leading dot, a backslash \\e and Chinese \\[u4E2D]\\[u6587]\n") !=
        std::string::npos);
  CHECK(page.find("secret") == std::string::npos);
  CHECK(page.find(".RS\n.nf\n0  ok\n2  bad usage\n.fi\n.RE\n.PP\n\\&'quoted line\n") != std::string::npos);

  const std::string completion = socklab::cli::bash_completion(app);
  CHECK(completion.find("\" --mode\") COMPREPLY=($(compgen -W \"fast slow\" -- \"$cur\")); return ;;") !=
        std::string::npos);
  CHECK(completion.find("secret") == std::string::npos);
}

TEST_CASE("examples are the program's command lines in the sh blocks of a Markdown text", "[cli]") {
  const std::string md =
      "# Lesson\n\n```sh\ndemo-x --a   # first\nsudo demo-x --capture\ndemo-xy --no\necho demo-x\n```\n\n"
      "demo-x --outside-a-block\n\n```text\ndemo-x --not-sh\n```\n";
  CHECK(socklab::cli::markdown_examples(md, "demo-x") ==
        std::vector<std::string>{"demo-x --a   # first", "sudo demo-x --capture"});
}
