#include "demo.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <system_error>

#include "classroom.hpp"
#include "error_text.hpp"
#include "help_text.hpp"
#include "quiz.hpp"
#include "report.hpp"
#include "socklab/cli/docs.hpp"
#include "socklab/cli/version.hpp"
#include "socklab_lessons.hpp"
#include "socklab/cli/help_format.hpp"
#include "socklab/capture/terminal.hpp"

namespace socklab::demo {

namespace {

std::set<std::string> placeholders(std::string_view text) {
  std::set<std::string> out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      ++i;
      continue;
    }
    if (text[i] != '{') continue;
    const std::size_t close = text.find('}', i);
    if (close == std::string_view::npos) break;
    const std::string_view inside = text.substr(i + 1, close - i - 1);
    out.emplace(inside.substr(0, inside.find('|')));  // {n|one|other} uses n, as {n} does
    i = close;
  }
  return out;
}

// The raw note text (placeholders unfilled) of a parsed lesson, by re-reading its Markdown.
std::string raw_note(const Lesson& l, const std::string& key) {
  const std::string marker = "- " + key + ":";
  const auto& md = l.markdown();
  std::size_t pos = md.find("\n" + marker);
  if (pos == std::string::npos) return {};
  pos += 1 + marker.size();
  const std::size_t end = md.find("\n- ", pos);
  return md.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

// Compares one lesson file's notes with the keys the code uses. `overrides`: keys
// the file may define in place of common.md's (the wire's notes), with only the
// placeholders the shared code fills.
void check_lesson(const Lesson& l, std::span<const std::string_view> keys, std::vector<std::string>& problems,
                  std::span<const std::string_view> overrides = {}) {
  std::set<std::string, std::less<>> declared(keys.begin(), keys.end());
  const std::set<std::string, std::less<>> overridable(overrides.begin(), overrides.end());
  const std::set<std::string> filled(kWireValues.begin(), kWireValues.end());
  for (std::string_view k : keys) {
    if (!l.has(k)) problems.push_back(fmt::format("lessons/{}: note \"{}\" is missing (the code uses it)", l.path(), k));
  }
  for (const auto& k : l.keys()) {
    if (declared.contains(k) || k.starts_with("help.")) continue;  // help notes: check_help_notes
    if (!overridable.contains(k)) {
      problems.push_back(fmt::format("lessons/{}: note \"{}\" is not used by the code (remove it, or declare it)",
                                     l.path(), k));
      continue;
    }
    for (const auto& hole : placeholders(raw_note(l, k))) {
      if (!filled.contains(hole)) {
        problems.push_back(fmt::format("lessons/{}: note \"{}\" uses {{{}}}, which the wire's notes do not fill "
                                       "(they fill: {})",
                                       l.path(), k, hole, fmt::join(kWireValues, ", ")));
      }
    }
  }
}

bool use_color(ColorChoice c) {
  const auto mode = c == ColorChoice::always  ? capture::ColorMode::always
                    : c == ColorChoice::never ? capture::ColorMode::never
                                              : capture::ColorMode::auto_detect;
  return capture::use_color(mode, STDOUT_FILENO);
}

// "Run demo-x --help for the flags." in the lesson's language (English when the
// texts cannot be read: the usage error is still shown).
std::string usage_hint(Lang lang, const std::string& program) {
  if (auto common = Lesson::load("common", lang)) return common->note(CommonNote{"usage_hint"}, {{"program", program}});
  return "Run " + program + " --help for the flags.";
}

// A lone client whose connect() was refused (RST): nobody listens at --host/--port.
bool connect_refused(const Session& s) {
  const auto calls = s.calls();
  return std::ranges::any_of(calls, [](const net::CallEvent& c) { return c.call == "connect" && c.err == ECONNREFUSED; });
}

// What CLI11 refused, as the user typed it: the arguments left over, and each
// flag its message names with the value given to it ("--port 70000", "--port=abc").
std::string refused_input(const CLI::App& app, std::string_view message, int argc, char** argv) {
  std::vector<std::string> out = app.remaining();
  // The flags it names: "--port", "--port:", and in a list "[--merged,--abort]".
  std::string spaced(message);
  std::ranges::replace_if(spaced, [](char c) { return c == ',' || c == '[' || c == ']' || c == ':'; }, ' ');
  std::istringstream words{spaced};
  for (std::string w; words >> w;) {
    if (!w.starts_with('-') || w.size() < 2) continue;
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      std::string shown;
      if (a == w) shown = i + 1 < argc && argv[i + 1][0] != '-' ? w + " " + argv[i + 1] : w;
      else if (a.starts_with(w + "=")) shown = std::string(a);
      if (!shown.empty() && std::find(out.begin(), out.end(), shown) == out.end()) out.push_back(shown);
    }
  }
  std::string text;
  for (const auto& o : out) text += (text.empty() ? "" : ", ") + o;
  return text.empty() ? std::string(message) : text;
}

}  // namespace

int report_parse_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv,
                       const std::string& program) {
  // CLI11 has its own exit codes per error kind; every bad usage is 2 here.
  if (const Lang lang = lang_of_arguments(argc, argv); lang != Lang::en) {
    // CLI11's messages are English: name the refused input in the run's language.
    if (auto common = Lesson::load("common", lang)) {
      std::fprintf(stderr, "%s: %s\n%s\n", program.c_str(),
                   common->note(CommonNote{"bad_arguments"}, {{"input", refused_input(app, e.what(), argc, argv)}}).c_str(),
                   usage_hint(lang, program).c_str());
      return exit_usage;
    }
  }
  std::fprintf(stderr, "%s: %s\nRun %s --help for the flags.\n", program.c_str(), e.what(), program.c_str());
  return exit_usage;
}

void add_program_flags(CLI::App& app, std::string_view lesson) {
  cli::add_version_flag(app);
  cli::add_doc_flags(app, [&app, name = std::string(lesson)] {
    cli::ManPageInfo info;
    if (auto l = Lesson::load(name, Lang::en)) {
      info.description = l->goal();
      info.examples = cli::markdown_examples(l->markdown(), app.get_name());
    }
    info.files = {fmt::format("share/doc/socklab/lessons/en/{0}.md: the whole lesson, also in Chinese "
                              "(lessons/zh/{0}.md), under /usr in the Debian package, else under the "
                              "installation prefix; the program carries its own copy",
                              name)};
    // Every other lesson, from the lesson texts built in, and the capture tool.
    for (const auto& f : lessons::all()) {
      constexpr std::string_view dir = "en/", ext = ".md";
      if (!f.path.starts_with(dir) || !f.path.ends_with(ext)) continue;
      const auto other = f.path.substr(dir.size(), f.path.size() - dir.size() - ext.size());
      if (other != "common" && other != name) info.see_also.push_back(fmt::format("demo-{}(1)", other));
    }
    info.see_also.emplace_back("socklab-capture(1)");
    return info;
  });
}

Demo::Demo(DemoInfo info) : info_(info), app_(std::string(info.description), "demo-" + std::string(info.name)) {
  cli::use_wrapping_help(app_);
  add_common_flags(app_, options_);
  add_program_flags(app_, info_.name);
  for (const CLI::Option* o : app_.get_options()) common_option_names_.insert(o->get_name());
  app_.footer(
      "Exit codes: 0 the lesson ran, 1 a step failed (the message says which), 2 bad usage, "
      "4 --capture asked for but not permitted (run as root, or setcap cap_net_raw,cap_net_admin+eip on the "
      "program) or this build has no capture support (no libpcap).\nSee demos/README.md for the JSON lines.");
}

int check_notes(const DemoInfo& info, const CLI::App* app, const std::set<std::string>& common_options) {
  std::vector<std::string> problems;
  std::map<std::string, std::map<std::string, std::set<std::string>>> holes;  // key -> lang -> placeholders
  std::vector<std::string_view> common_keys(kCommonNoteKeys.begin(), kCommonNoteKeys.end());
  common_keys.insert(common_keys.end(), kWireNoteKeys.begin(), kWireNoteKeys.end());
  for (Lang lang : {Lang::en, Lang::zh}) {
    for (const auto& [name, keys] : {std::pair{std::string(info.name), info.note_keys},
                                     std::pair{std::string("common"), std::span<const std::string_view>(common_keys)}}) {
      auto l = Lesson::load(name, lang);
      if (!l) {
        problems.push_back(l.error());
        continue;
      }
      // A lesson may override the wire's notes; common.md defines them.
      if (name == "common") {
        check_lesson(*l, keys, problems);
      } else {
        check_lesson(*l, keys, problems, kWireNoteKeys);
      }
      if (app != nullptr) check_help_notes(*app, *l, lang, name == "common", common_options, problems);
      for (const auto& k : l->keys()) holes[name + "/" + k][std::string(to_string(lang))] = placeholders(raw_note(*l, k));
    }
  }
  if (auto en = Lesson::load(info.name, Lang::en), zh = Lesson::load(info.name, Lang::zh); en && zh) {
    std::ranges::move(quiz::compare(*en, *zh), std::back_inserter(problems));
  }
  for (const auto& [key, by_lang] : holes) {
    if (by_lang.size() == 2 && by_lang.at("en") != by_lang.at("zh")) {
      problems.push_back(fmt::format("note \"{}\": the en and zh texts use different {{placeholders}}", key));
    }
  }
  for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
  if (!problems.empty()) return exit_failed;
  std::printf("notes ok: demo-%s and common, %zu keys, en and zh\n", std::string(info.name).c_str(),
              info.note_keys.size() + common_keys.size());
  return exit_ok;
}

int Demo::run(int argc, char** argv, const std::function<void(Session&)>& lesson) {
  const std::string program = "demo-" + std::string(info_.name);
  options_.command_line.assign(argv, argv + argc);
  // A reader of our output that goes away (`demo-handshake | head -1`) is no
  // error: the writes fail with EPIPE and are dropped, the lesson ends and its
  // files (-w, --html) are written whole, the exit code is the lesson's. Sockets
  // send with MSG_NOSIGNAL, so no lesson relies on the signal.
  std::signal(SIGPIPE, SIG_IGN);
  // --help in the language asked for, whose texts the parse has not read yet.
  if (const Lang lang = lang_of_arguments(argc, argv); lang != Lang::en) {
    auto lesson = Lesson::load(info_.name, lang);
    auto common = Lesson::load("common", lang);
    if (lesson && common) localize_help(app_, *lesson, *common, common_option_names_, program);
  }
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::Success& e) {  // --version, --man-page, --bash-completion
    return app_.exit(e);
  } catch (const CLI::ParseError& e) {
    return report_parse_error(app_, e, argc, argv, program);
  }
  if (auto problem = finish(options_, program)) {
    std::fprintf(stderr, "%s: %s\n%s\n", program.c_str(), problem->c_str(), usage_hint(options_.lang, program).c_str());
    return exit_usage;
  }
  if (options_.check_notes) return check_notes(info_, &app_, common_option_names_);

  auto lesson_text = Lesson::load(info_.name, options_.lang);
  auto common_text = Lesson::load("common", options_.lang);
  if (!lesson_text || !common_text) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), (!lesson_text ? lesson_text.error() : common_text.error()).c_str());
    return exit_failed;
  }
  const Lesson common = *common_text;
  if (options_.role == Role::server) {
    const bool class_server = serves_class_ && serves_class_();
    std::optional<std::string> problem;
    // --serve 1 is what a server of one client per run does anyway.
    if (!class_server && (options_.serve > 1 || options_.summary_every != 0)) {
      problem = common.note(CommonNote{"class_one_client"}, {{"demo", std::string(info_.name)}});
    }
    const std::string file_flag = !options_.pcap_path.empty() ? "-w" : !options_.html_path.empty() ? "--html" : options_.quiz ? "--quiz" : "";
    if (class_server && !file_flag.empty()) problem = common.note(CommonNote{"class_no_file"}, {{"flag", file_flag}});
    if (problem) {
      std::fprintf(stderr, "%s: %s\n%s\n", program.c_str(), problem->c_str(), usage_hint(options_.lang, program).c_str());
      return exit_usage;
    }
    if (class_server) {
      const ReportStyle style{.ascii = options_.ascii || !capture::locale_is_utf8(), .color = use_color(options_.color)};
      // A UDP lesson whose runs have sockets of their own is a TCP class on the class port.
      const bool own_ports = students_get_ports_ && students_get_ports_();
      Classroom classroom(options_, std::string(info_.name), *lesson_text, common, style, udp_class_ && !own_ports);
      if (own_ports) classroom.give_students_ports();
      if (two_connections_ && two_connections_()) classroom.dispatch_second_connections();
      return classroom.run(lesson);
    }
  }
  std::optional<quiz::Quiz> quiz;  // asked before the run, graded after it
  if (options_.quiz) {
    auto prepared = quiz::Quiz::prepare(*lesson_text, common, app_, common_option_names_, options_, program);
    std::optional<std::string> problem = prepared ? std::nullopt : std::optional(prepared.error());
    if (prepared) problem = (quiz = std::move(*prepared))->collect(options_, stdin, stderr);
    if (problem) {
      std::fprintf(stderr, "%s: %s\n%s\n", program.c_str(), problem->c_str(), usage_hint(options_.lang, program).c_str());
      return exit_usage;
    }
  }
  Session session(options_, std::string(info_.name), std::move(*lesson_text), *common_text);

  std::optional<std::string> failure;
  try {
    lesson(session);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n%s\n", program.c_str(), e.what(), usage_hint(options_.lang, program).c_str());
    return exit_usage;
  } catch (const LabUnavailable& e) {  // a lab lesson cannot run at all without the privileges
    std::fprintf(stderr, "%s: %s\n", program.c_str(), e.what());
    return exit_missing_privilege;
  } catch (const std::exception& e) {
    failure = failure_text(e, common, options_.lang);
  }
  session.write_capture_file();  // pcapng: every note is known now
  // Said plainly, and only that: no ladder, whose notes would describe a lesson that did not happen.
  const bool refused = failure && options_.role == Role::client && connect_refused(session);
  if (refused) failure = common.note(CommonNote{"no_server"}, {{"endpoint", options_.server_endpoint.to_string()}});

  // The page first, so the report can say whether it was written.
  std::optional<std::string> html_problem;
  if (!options_.html_path.empty()) html_problem = write_html_report(options_.html_path, session, common, failure);
  try {
    if (quiz) quiz->grade(session);
    if (options_.json) {
      print_json_report(stdout, session, failure);
      if (quiz) quiz->print_json(stdout);
    } else {
      const ReportStyle style{.ascii = options_.ascii || !capture::locale_is_utf8(), .color = use_color(options_.color)};
      if (!refused) print_text_report(stdout, session, common, style, failure);
      if (quiz && !refused) quiz->print_text(stdout, style.ascii, style.width);
      if (!options_.html_path.empty() && !html_problem && !failure) {
        std::printf("%s\n", common.note(CommonNote{"html_written"}, {{"path", options_.html_path}}).c_str());
      }
    }
    std::fflush(stdout);
  } catch (const std::system_error& e) {
    // The reader of the report went away (fmt::print throws on EPIPE): the
    // rest is not wanted, and the files were written before it.
    if (e.code() != std::errc::broken_pipe) throw;
  }
  if (html_problem) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), common.note(CommonNote{"html_failed"}, {{"problem", *html_problem}}).c_str());
    if (!failure) return exit_failed;
  }
  if (failure) {
    const std::string said = refused ? *failure : common.note(CommonNote{"failed"}, {{"message", *failure}});
    std::fprintf(stderr, "%s: %s\n", program.c_str(), said.c_str());
    return exit_failed;
  }
  if (const auto& problem = session.capture_problem()) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(),
                 common.note(CommonNote{"capture_problem"}, {{"problem", *problem}}).c_str());
    return session.capture_not_permitted() ? exit_capture_not_permitted : exit_failed;
  }
  return exit_ok;
}

}  // namespace socklab::demo
