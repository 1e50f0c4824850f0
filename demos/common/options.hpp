// The flags every demo shares, and the exit codes every demo returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "lesson.hpp"
#include "socklab/lab/lab.hpp"
#include "socklab/net/endpoint.hpp"

namespace socklab::demo {

// Documented in demos/README.md; tests and scripts rely on them.
enum ExitCode : int {
  exit_ok = 0,                     // the lesson ran (verdicts say whether it looked as expected)
  exit_failed = 1,                 // a socket call failed unexpectedly, or a port was in use
  exit_usage = 2,                  // bad flags or values
  exit_capture_not_permitted = 4,  // --capture asked for, but this process may not capture
  exit_missing_privilege = lab::exit_missing_privilege,  // 5: a lab lesson without CAP_NET_ADMIN and CAP_SYS_ADMIN (lab/README.md)
};

enum class Role { both, server, client };
enum class ColorChoice { automatic, always, never };

struct CommonOptions {
  Role role = Role::both;
  std::string host;              // client: the server's address (--host)
  std::string listen;            // server: the address to listen on (--listen)
  std::uint16_t port = 0;        // 0: the kernel picks a free port
  bool ipv6 = false;             // -6: ::1 instead of 127.0.0.1
  bool capture = false;          // --capture, or implied by --pcap
  std::string pcap_path;         // -w/--pcap
  std::string html_path;         // --html: the timeline as a self-contained page
  bool pcapng = false;           // --pcapng, or implied by a -w name ending in .pcapng
  bool json = false;
  Lang lang = Lang::en;
  bool no_lesson = false;
  bool ascii = false;
  ColorChoice color = ColorChoice::automatic;
  bool quiz = false;             // --quiz: predict, then reveal (quiz.hpp); implied by --answers
  std::optional<std::string> answers;  // --answers a,b,c: the quiz's answers without asking
  std::size_t serve = 0;         // --serve N: a class server stops after N students (0: at Ctrl-C)
  std::size_t summary_every = 0; // --summary-every N: the class summary after every N students too
  bool check_notes = false;      // hidden: check the lesson files against the code and exit

  // The words given on the command line, turned into the enums above by finish().
  std::string role_flag, lang_flag, color_flag;

  // The command line as the user typed it (argv, the program's path included),
  // for hints that say "run again with ...".
  std::vector<std::string> command_line;

  // Resolved by finish(): where the server listens, where the client connects.
  net::Endpoint listen_endpoint;
  net::Endpoint server_endpoint;
};

// The language from the environment: LC_ALL, then LC_MESSAGES, then LANG; zh* means Chinese.
Lang lang_from_environment();

// The common flags, one bit each: a program with subcommands (demo-chat server,
// client) takes on each the ones that apply there.
enum CommonFlag : std::uint32_t {
  flag_role = 1U << 0, flag_host = 1U << 1, flag_listen = 1U << 2, flag_port = 1U << 3, flag_ipv6 = 1U << 4,
  flag_serve = 1U << 5,  // --serve and --summary-every
  flag_capture = 1U << 6, flag_pcap = 1U << 7, flag_pcapng = 1U << 8, flag_html = 1U << 9, flag_json = 1U << 10,
  flag_lang = 1U << 11, flag_no_lesson = 1U << 12, flag_ascii = 1U << 13, flag_color = 1U << 14,
  flag_quiz = 1U << 15,  // --quiz and --answers
  flag_check_notes = 1U << 16,
};
using CommonFlags = std::uint32_t;
inline constexpr CommonFlags all_common_flags = (1U << 17) - 1;

// Adds the common flags `which` to `app`, writing into `opts`, with their English
// help; localize_help (help_text.hpp) gives them another language's.
void add_common_flags(CLI::App& app, CommonOptions& opts, CommonFlags which = all_common_flags);

// The language a command line asks for (--lang zh, --lang=zh), else the
// environment's: for what is said before the flags are parsed (--help, errors).
Lang lang_of_arguments(int argc, char** argv);

// `word` quoted for a POSIX shell: as is when it is made of safe characters
// only, else in single quotes (a ' inside becomes '\'').
std::string shell_quote(std::string_view word);

// The user's own command line, quoted for a shell, with `missing` (already
// shell words, e.g. "--capture") appended and "sudo " in front when `as_root`.
std::string rerun_command(const CommonOptions& opts, std::string_view missing, bool as_root);

// Checks the flags together and resolves the endpoints. The error text names
// the flag and says what is wrong (exit_usage).
std::optional<std::string> finish(CommonOptions& opts, std::string_view program);

}  // namespace socklab::demo
