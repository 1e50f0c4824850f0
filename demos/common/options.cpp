#include "options.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <system_error>

#include "common_notes.hpp"
#include "socklab/capture/capture_file.hpp"
#include "socklab/net/error.hpp"

namespace socklab::demo {

Lang lang_from_environment() {
  // POSIX precedence; an empty variable counts as unset.
  for (const char* name : {"LC_ALL", "LC_MESSAGES", "LANG"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    return std::string_view(v).starts_with("zh") ? Lang::zh : Lang::en;
  }
  return Lang::en;
}

Lang lang_of_arguments(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--lang" && i + 1 < argc) return std::string_view(argv[i + 1]) == "zh" ? Lang::zh : Lang::en;
    if (a.starts_with("--lang=")) return a.substr(7) == "zh" ? Lang::zh : Lang::en;
  }
  return lang_from_environment();
}

namespace {

// -w and --html take a file to write: an empty name is refused, naming the flag.
CLI::Validator file_name_for(const std::string& flag) {
  return CLI::Validator(
      [flag](const std::string& v) { return v.empty() ? "a file name is needed (" + flag + " '' names none)" : std::string(); },
      "FILE");
}

}  // namespace

void add_common_flags(CLI::App& app, CommonOptions& opts, CommonFlags which) {
  // English here; other languages in lessons/<lang>/common.md as help.<flag> (help_text.hpp).
  const std::string where = "Where", output = "Output";
  const auto wants = [which](CommonFlag f) { return (which & f) != 0; };
  if (wants(flag_role)) {
    app.add_option("--role", opts.role_flag, "Run one side only (default: both, in one process): server on the teacher's machine, client on the students'")->check(CLI::IsMember({"server", "client"}))->group(where);
  }
  if (wants(flag_host)) app.add_option("--host", opts.host, "Client: the server's address (default 127.0.0.1, ::1 with -6)")->group(where);
  if (wants(flag_listen)) app.add_option("--listen", opts.listen, "Server: the address to listen on (default 127.0.0.1, ::1 with -6; 0.0.0.0 lets other machines in)")->group(where);
  if (wants(flag_port)) app.add_option("--port,-p", opts.port, "The server's port (default: a free one the kernel picks)")->check(CLI::Range(0, 65535))->group(where);
  if (wants(flag_ipv6)) app.add_flag("-6,--ipv6", opts.ipv6, "Use IPv6 (::1)")->group(where);
  if (wants(flag_serve)) {
    app.add_option("--serve", opts.serve, "Server: serve N students, then print the class summary and exit (default: until Ctrl-C)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
        ->group(where);
    app.add_option("--summary-every", opts.summary_every, "Server: print the class summary after every N students as well")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
        ->group(where);
  }
  if (wants(flag_capture)) app.add_flag("--capture", opts.capture, "Record this demo's own packets and show them beside the calls (needs root or CAP_NET_RAW)")->group(output);
  if (wants(flag_pcap)) {
    app.add_option("-w,--pcap", opts.pcap_path, "Also keep the capture in this file (implies --capture; opens in tcpdump/Wireshark): pcap, or pcapng with the lesson's notes on each packet when it ends in .pcapng")
        ->check(file_name_for("-w"))
        ->group(output);
  }
  if (wants(flag_pcapng)) app.add_flag("--pcapng", opts.pcapng, "Write the -w file as pcapng whatever its name: each packet's comment has its phase, the lesson's note and the calls made since the previous packet")->group(output);
  if (wants(flag_html)) {
    app.add_option("--html", opts.html_path, "Also write the timeline as one self-contained HTML page (opens from disk, fetches nothing)")
        ->check(file_name_for("--html"))
        ->group(output);
  }
  if (wants(flag_json)) app.add_flag("--json", opts.json, "Print JSON lines (packets, calls, verdicts) instead of the lesson")->group(output);
  if (wants(flag_lang)) app.add_option("--lang", opts.lang_flag, "Language of the lesson: en or zh (default from LANG)")->check(CLI::IsMember({"en", "zh"}))->group(output);
  if (wants(flag_no_lesson)) app.add_flag("--no-lesson", opts.no_lesson, "Skip the lesson's title and goal; show the timeline only")->group(output);
  if (wants(flag_ascii)) app.add_flag("--ascii", opts.ascii, "Draw the ladder with ASCII instead of box-drawing characters")->group(output);
  if (wants(flag_color)) {
    app.add_option("--color", opts.color_flag, "Colour: auto (on a terminal, unless NO_COLOR), always, never")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->group(output);
  }
  if (wants(flag_quiz)) {
    app.add_flag("--quiz", opts.quiz, "Predict, then reveal: answer two or three questions, run the lesson, see each answer graded against what this run observed")->group(output);
    app.add_option_function<std::string>("--answers", [&opts](const std::string& v) { opts.answers = v; }, "The --quiz answers in order, comma-separated (implies --quiz; for scripts: nothing is asked)")
        ->group(output);
  }
  if (wants(flag_check_notes)) {
    app.add_flag("--check-notes", opts.check_notes, "")->group("");  // hidden: for tests and lesson writers
  }
}

std::string shell_quote(std::string_view word) {
  constexpr std::string_view safe =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_";
  if (!word.empty() && word.find_first_not_of(safe) == std::string_view::npos) return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string rerun_command(const CommonOptions& opts, std::string_view missing, bool as_root) {
  std::string out = as_root ? "sudo" : "";
  for (const auto& word : opts.command_line) {
    if (!out.empty()) out += ' ';
    out += shell_quote(word);
  }
  if (!missing.empty()) {
    if (!out.empty()) out += ' ';
    out += missing;
  }
  return out;
}

namespace {

// Why a -w or --html file cannot be written, in the run's language: capture's
// own message is English, so the lesson's words are chosen by its error code.
std::string target_problem(const Lesson& common, std::string_view flag, CommonNote what, const std::string& path,
                           const net::Error& e) {
  const Values v{{"flag", std::string(flag)}, {"what", common.note(what)}, {"path", path}};
  const auto is = [&e](std::errc c) { return e.code == std::make_error_condition(c); };
  if (is(std::errc::is_a_directory)) return common.note(CommonNote{"file_is_directory"}, v);
  if (is(std::errc::file_exists)) return common.note(CommonNote{"file_not_regular"}, v);
  if (is(std::errc::permission_denied)) return common.note(CommonNote{"file_not_writable"}, v);
  if (is(std::errc::no_such_file_or_directory)) return common.note(CommonNote{"file_no_directory"}, v);
  if (is(std::errc::not_a_directory)) return common.note(CommonNote{"file_not_in_directory"}, v);
  if (is(std::errc::too_many_symbolic_link_levels)) return common.note(CommonNote{"file_link_loop"}, v);
  Values with_error = v;
  with_error.emplace_back("error", e.errno_value() != 0 ? net::errno_name(e.errno_value()) : e.code.message());
  return common.note(CommonNote{"file_unwritable"}, with_error);
}

// --host or --listen that names no usable address: the wrong family for -6, or nothing known.
std::string address_problem(const Lesson& common, std::string_view flag, const std::string& value) {
  const Values v{{"flag", std::string(flag)}, {"address", value}};
  // It is an address, only not of the family -6 asks for.
  if (net::Endpoint::from_host_port(value, 0, AF_UNSPEC)) return common.note(CommonNote{"address_wrong_family"}, v);
  return common.note(CommonNote{"address_unknown"}, v);
}

}  // namespace

std::optional<std::string> finish(CommonOptions& opts, std::string_view program) {
  // The language first: every message below is in the run's language.
  opts.lang = opts.lang_flag.empty() ? lang_from_environment() : opts.lang_flag == "zh" ? Lang::zh : Lang::en;
  const auto common = Lesson::load("common", opts.lang);
  if (!common) return common.error();
  if (!opts.pcap_path.empty()) opts.capture = true;
  if (opts.answers) opts.quiz = true;
  if (opts.pcapng && opts.pcap_path.empty()) return common->note(CommonNote{"pcapng_needs_file"});
  if (!opts.pcap_path.empty()) {
    // Checked before anything runs: a -w that cannot be written is never found out after the lesson.
    if (auto target = capture::output_file_target(opts.pcap_path, "capture file"); !target)
      return target_problem(*common, "-w", CommonNote{"file_capture"}, opts.pcap_path, target.error());
    if (capture::capture_format_for(opts.pcap_path) == capture::CaptureFormat::pcapng) opts.pcapng = true;
  }
  // The page too: under the same rules as -w (capture_file.hpp), refused before the lesson runs.
  if (!opts.html_path.empty()) {
    if (auto target = capture::output_file_target(opts.html_path, "HTML page"); !target)
      return target_problem(*common, "--html", CommonNote{"file_html"}, opts.html_path, target.error());
  }
  opts.role = opts.role_flag == "server" ? Role::server : opts.role_flag == "client" ? Role::client : Role::both;
  opts.color = opts.color_flag == "always" ? ColorChoice::always
               : opts.color_flag == "never" ? ColorChoice::never
                                            : ColorChoice::automatic;
  const int family = opts.ipv6 ? AF_INET6 : AF_UNSPEC;
  const char* loopback = opts.ipv6 ? "::1" : "127.0.0.1";

  if (opts.role == Role::client && opts.port == 0) {
    return common->note(CommonNote{"client_needs_port"}, {{"program", std::string(program)}});
  }
  if (opts.role != Role::server && (opts.serve != 0 || opts.summary_every != 0)) {
    return common->note(CommonNote{"serve_needs_server"}, {{"flag", opts.serve != 0 ? "--serve" : "--summary-every"}});
  }
  if (opts.role == Role::client && !opts.listen.empty()) return common->note(CommonNote{"listen_for_server"});
  if (opts.role == Role::server && !opts.host.empty()) return common->note(CommonNote{"host_for_client"});

  const std::string listen = opts.listen.empty() ? loopback : opts.listen;
  auto at = net::Endpoint::from_host_port(listen, opts.port, family);
  if (!at) return address_problem(*common, "--listen", listen);
  opts.listen_endpoint = *at;

  const std::string host = opts.host.empty() ? loopback : opts.host;
  auto to = net::Endpoint::from_host_port(host, opts.port, family);
  if (!to) return address_problem(*common, "--host", host);
  opts.server_endpoint = *to;
  return std::nullopt;
}

}  // namespace socklab::demo
