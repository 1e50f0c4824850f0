// A demo's -w: the same rules as record's (regular files only, checked before
// the lesson runs), and pcapng with the lesson's notes on each packet.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fstream>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "live_test_support.hpp"

using socklab::test::Child;
using socklab::test::lines_of;
using socklab::test::run_command;
using socklab::test::ScratchDir;

namespace {

const std::string demo = SOCKLAB_DEMO_HANDSHAKE;

std::vector<std::string> comments_of(const ScratchDir& dir, const std::filesystem::path& file) {
  const auto r = run_command(fmt::format("HOME='{}' {} -r '{}' -T fields -e frame.comment 2>/dev/null", dir.path().string(),
                                         SOCKLAB_TSHARK, file.string()));
  REQUIRE(r.exit_code == 0);
  return lines_of(r.out);
}

}  // namespace

TEST_CASE("a demo refuses a bad -w before the lesson runs", "[demo_capture_file]") {
  ScratchDir dir;
  SECTION("empty") {
    Child child({demo, "-w", ""});
    CHECK(child.wait() == 2);
    CHECK_THAT(child.err(), Catch::Contains("a file name is needed"));
  }
  SECTION("a directory") {
    Child child({demo, "-w", dir.path().string()});
    CHECK(child.wait() == 2);
    CHECK_THAT(child.err(), Catch::Contains(dir.path().string() + ": is a directory"));
  }
  SECTION("a device") {
    const auto node = dir / "fakenull";
    REQUIRE(::mknod(node.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0);
    Child child({demo, "-w", node.string()});
    CHECK(child.wait() == 2);
    CHECK_THAT(child.err(), Catch::Contains(node.string() + ": is not a regular file"));
    struct stat st {};
    REQUIRE(::lstat(node.c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
  }
  SECTION("--pcapng without -w") {
    Child child({demo, "--pcapng"});
    CHECK(child.wait() == 2);
    CHECK_THAT(child.err(), Catch::Contains("give -w FILE too"));
  }
}

TEST_CASE("demo -w FILE.pcapng: one comment per packet with the phase, the note and the calls", "[demo_capture_file]") {
  ScratchDir dir;
  const bool zh = GENERATE(false, true);
  const auto file = dir / (zh ? "handshake-zh.pcapng" : "handshake.pcapng");
  std::vector<std::string> argv{demo, "--no-lesson", "-w", file.string(), "--lang", zh ? "zh" : "en"};
  Child child(argv);
  const int code = child.wait();
  INFO(child.err());
  REQUIRE(code == 0);
  CHECK(dir.files().size() == 1);
  const auto comments = comments_of(dir, file);
  REQUIRE(comments.size() >= 3);
  const std::string phase = zh ? "阶段 handshake 1/3" : "phase handshake 1/3";
  CHECK_THAT(comments[0], Catch::Contains(phase));
  CHECK_THAT(comments[0], Catch::Contains(zh ? "上一个报文之后的调用：" : "calls since the previous packet: "));
  CHECK_THAT(comments[0], Catch::Contains(zh ? "客户端：connect 127.0.0.1:" : "client: connect 127.0.0.1:"));
  CHECK_THAT(comments[0], Catch::Contains(zh ? "服务器：listen" : "server: listen"));
  CHECK_THAT(comments[1], Catch::Contains(zh ? "阶段 handshake 2/3" : "phase handshake 2/3"));
  CHECK_THAT(comments[2], Catch::Contains(zh ? "阶段 handshake 3/3" : "phase handshake 3/3"));
  for (const auto& c : comments) CHECK_FALSE(c.empty());

  const auto info = run_command(fmt::format("HOME='{}' {} -M {} 2>&1", dir.path().string(), SOCKLAB_CAPINFOS, file.string()));
  CHECK_THAT(info.out, Catch::Contains("nanoseconds (9)"));
  CHECK_THAT(info.out, Catch::Contains("demo-handshake"));
}

TEST_CASE("a demo whose reader went away (| head -1) ends quietly with its files whole", "[demo_capture_file][pipe]") {
  ScratchDir dir;
  const auto file = dir / "unread.pcapng", page = dir / "unread.html";
  const bool json = GENERATE(false, true);
  std::vector<std::string> argv{demo, "-w", file.string(), "--html", page.string()};
  if (json) argv.emplace_back("--json");
  INFO((json ? "--json" : "text"));
  // SIGPIPE at its default, as a shell starts it; the report's first write finds no reader.
  const auto r = socklab::test::run(argv, {.stdout_reader_gone = true});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("Broken pipe") == std::string::npos);
  CHECK(r.err.find("terminate") == std::string::npos);
  CHECK(comments_of(dir, file).size() >= 3);  // the whole capture, with its notes
  std::ifstream in(page);
  const std::string html{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  CHECK(html.find("</html>") != std::string::npos);
  CHECK(dir.files().size() == 2);  // no temporary file left
}
