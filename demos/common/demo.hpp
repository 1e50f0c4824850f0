// The entry point every demo shares: the common flags, the lesson text, the
// session that plays the sides, and the report (lesson, ladder, summary, or JSON).
//
//   constexpr std::array<std::string_view, 3> kNoteKeys{"connect", "syn", "verdict_segments"};
//   using Note = socklab::demo::Key<kNoteKeys>;
//
//   int main(int argc, char** argv) {
//     socklab::demo::Demo demo({"handshake", "Lesson 1: the three-way handshake", kNoteKeys});
//     bool refused = false;
//     demo.cli().add_flag("--refused", refused, "Connect to a port nobody listens on");
//     return demo.run(argc, argv, [&](Session& s) { refused ? run_refused(s) : run_handshake(s); });
//   }
#pragma once

#include <functional>
#include <set>
#include <string>
#include <span>
#include <string_view>

#include <CLI/CLI.hpp>

#include "bytes.hpp"
#include "common_notes.hpp"
#include "lesson.hpp"
#include "note_key.hpp"
#include "observe.hpp"
#include "options.hpp"
#include "render.hpp"
#include "session.hpp"
#include "wire_notes.hpp"

namespace socklab::demo {

struct DemoInfo {
  std::string_view name;                      // "handshake": the program is demo-handshake, the
                                              // lesson lessons/<lang>/handshake.md
  std::string_view description;               // first line of --help
  std::span<const std::string_view> note_keys;  // every note key the demo's code uses
};

// Adds --version and the hidden --man-page/--bash-completion (socklab_cli) to the
// program `app`; its man page takes the goal and the examples of lessons/en/<lesson>.md.
void add_program_flags(CLI::App& app, std::string_view lesson);

// --check-notes: the lesson files (en, zh) of `info`, and common.md, define
// exactly the notes the code declares, with the same placeholders in both
// languages; with `app`, the help notes of its flags too (help_text.hpp:
// `common_options` names the common flags). Prints what is wrong (exit_failed)
// or "notes ok" (exit_ok).
int check_notes(const DemoInfo& info, const CLI::App* app = nullptr, const std::set<std::string>& common_options = {});

// A command line CLI11 refused: its message (in Chinese runs, the refused input
// named in the run's language) and the --help hint on stderr; exit_usage.
int report_parse_error(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv,
                       const std::string& program);

class Demo {
 public:
  explicit Demo(DemoInfo info);

  // Add the demo's own flags (its variants) here before run().
  [[nodiscard]] CLI::App& cli() noexcept { return app_; }

  // With --role server this demo serves a class (classroom.hpp): student after
  // student, several at once, until Ctrl-C or --serve N. `when` (after the
  // flags are parsed) says whether the chosen variant can; one that cannot
  // serves one client per run. `two_connections` says whether the variant's
  // client makes two connections: its class then hands each run its student's
  // second one (Session::expect_second_connection, accept_second).
  void serve_classes(std::function<bool()> when = {}, std::function<bool()> two_connections = {}) {
    serves_class_ = when ? std::move(when) : [] { return true; };
    two_connections_ = std::move(two_connections);
  }
  // The same for a UDP lesson: the class's port is a UDP socket (and a TCP
  // listener on the same number); a run is a sender's ADDR:PORT (classroom.hpp).
  // A variant for which `own_sockets` says true (a lesson about one socket's own
  // receive buffer, which a class must not share) is a TCP class on the class
  // port instead, each run with a UDP socket of its own (Session::student_udp).
  void serve_udp_classes(std::function<bool()> when, std::function<bool()> own_sockets = {}) {
    serve_classes(std::move(when));
    udp_class_ = true;
    if (own_sockets) give_students_ports(std::move(own_sockets));
  }
  // And each student's run gets a socket of its own on a port of the class's
  // range (Session::student_listener, student_udp): a lesson about one socket's
  // own queue, which classmates must not share. `when` as serve_classes's.
  void give_students_ports(std::function<bool()> when = {}) {
    students_get_ports_ = when ? std::move(when) : [] { return true; };
  }

  // Parses the flags, runs `lesson`, prints the report; returns the exit code
  // (see ExitCode in options.hpp).
  int run(int argc, char** argv, const std::function<void(Session&)>& lesson);

 private:
  DemoInfo info_;
  CLI::App app_;
  CommonOptions options_;
  std::set<std::string> common_option_names_;
  std::function<bool()> students_get_ports_;
  std::function<bool()> serves_class_;
  std::function<bool()> two_connections_;  // the rest select the variant (--quiz's questions)
  bool udp_class_ = false;
};

}  // namespace socklab::demo
