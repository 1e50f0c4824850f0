// `socklab-capture record`: live traffic into a pcap or pcapng file, until a
// count, a time, Ctrl-C or another stop signal; the kernel's drop count is always reported.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "commands.hpp"
#include "socklab/capture/live.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;         // bad interface, bad filter, file not writable, read error
constexpr int exit_dropped = 3;        // the file is written, but the kernel dropped packets
constexpr int exit_not_permitted = 4;  // no capture privilege (as the demos)

struct RecordOptions {
  std::string interface = "lo";
  std::optional<std::uint16_t> port;
  std::string filter;
  std::uint64_t count = 0;
  double seconds = 0;
  std::string file;
  bool pcapng = false;
  int snaplen = socklab::capture::LiveCaptureConfig{}.snaplen;
  int buffer_mib = socklab::capture::LiveCaptureConfig{}.buffer_bytes >> 20;
};

// Owns a descriptor for the lifetime of the command.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The signals that would otherwise end the process and lose the file become
// readable events on a descriptor while recording: SIGINT (Ctrl-C), SIGTERM
// and SIGHUP (the terminal or SSH session closed) stop the capture and keep
// the file, through the same path as --count and --seconds; SIGUSR1 prints the
// counts so far and recording goes on (as tcpdump's). SIGPIPE is ignored: a
// closed stderr loses the messages, never the file.
class StopSignals {
 public:
  static constexpr std::array<int, 4> handled{SIGINT, SIGTERM, SIGHUP, SIGUSR1};

  StopSignals() {
    sigemptyset(&set_);
    for (int sig : handled) sigaddset(&set_, sig);
    // Blocked before the capture thread starts, so it inherits the mask.
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
    // A shell starts background jobs with SIGINT ignored, and an ignored signal
    // never reaches a signalfd: take the default back (it stays blocked), as tcpdump does.
    for (std::size_t i = 0; i < handled.size(); ++i) {
      struct sigaction action {};
      action.sa_handler = SIG_DFL;
      ::sigaction(handled[i], &action, &saved_[i]);
    }
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &saved_pipe_);
    fd_ = ::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  ~StopSignals() {
    if (fd_ >= 0) ::close(fd_);
    for (std::size_t i = 0; i < handled.size(); ++i) ::sigaction(handled[i], &saved_[i], nullptr);
    ::sigaction(SIGPIPE, &saved_pipe_, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  // The next pending signal (taken off the queue, so it does not strike once unblocked); 0: none.
  [[nodiscard]] int take() const noexcept {
    signalfd_siginfo info{};
    if (::read(fd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return 0;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  sigset_t set_{}, old_{};
  std::array<struct sigaction, handled.size()> saved_{};
  struct sigaction saved_pipe_ {};
  int fd_ = -1;
};

// The messages go to stderr, which may be a pipe whose reader went away
// (`2>&1 | head -1`): a message that cannot be written is dropped, never a
// reason to stop (fmt::print would throw) and lose the file.
template <typename... T>
void say(fmt::format_string<T...> format, T&&... args) {
  const std::string text = fmt::format(format, std::forward<T>(args)...);
  (void)std::fwrite(text.data(), 1, text.size(), stderr);
}

// Wakes the waiting loop from the capture thread (count reached, capture failed).
void notify(int eventfd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(eventfd, &one, sizeof one);
}

constexpr double max_seconds = 365.0 * 24 * 3600;

// CLI11's own range messages print the double's whole range as a 309-digit
// number: these say the range in words.
std::string check_count(const std::string& text) {
  std::uint64_t n = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (err != std::errc{} || end != text.data() + text.size() || n == 0)
    return fmt::format("\"{}\" is not a number of packets: give a whole number, 1 or more", text);
  return {};
}

std::string check_seconds(const std::string& text) {
  double v = 0;
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (err != std::errc{} || end != text.data() + text.size() || !std::isfinite(v) || v <= 0 || v > max_seconds)
    return fmt::format("\"{}\" is not a recording time: give a number of seconds above 0 and at most 31536000 "
                       "(one year), e.g. 0.5 or 10",
                       text);
  return {};
}

std::string check_file(const std::string& text) {
  if (text.empty()) return "a file name is needed (-w '' names none)";
  return {};
}

int run_record(const RecordOptions& o) {
  using namespace socklab::capture;
  StopSignals signals;
  Fd limit_reached(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (signals.fd() < 0 || limit_reached.fd < 0) {
    say("socklab-capture: cannot set up signal handling\n");
    return exit_failed;
  }

  LiveCaptureConfig config;
  config.interface = o.interface;
  config.filter = o.port ? port_filter(*o.port) : o.filter;
  config.keep_stray_fragments = !o.port;  // a filter of the user's own keeps what it matches
  config.snaplen = o.snaplen;
  config.buffer_bytes = o.buffer_mib << 20;
  config.keep_packets = false;  // straight to the file: memory stays flat however long it runs
  config.write_to = o.file;
  if (o.pcapng) config.write_format = CaptureFormat::pcapng;
  const std::string shown = o.port ? port_filter(*o.port) : o.filter;
  config.pcapng_section = {
      .comment = fmt::format("socklab-capture record on {}{}{}", o.interface, shown.empty() ? "" : ", filter: ", shown),
      .application = "socklab-capture record"};
  config.max_packets = o.count;
  config.on_limit = [fd = limit_reached.fd] { notify(fd); };
  config.on_error = [fd = limit_reached.fd] { notify(fd); };

  // The file is checked before capturing: a bad -w is reported before any packet.
  if (auto target = output_file_target(o.file, "capture file"); !target) {
    say("socklab-capture: {}\n", target.error().message());
    return exit_failed;
  }

  auto capture = LiveCapture::start(std::move(config));
  if (!capture) {
    say("socklab-capture: {}\n", explain_capture_error(capture.error()));
    return is_missing_privilege(capture.error()) ? exit_not_permitted : exit_failed;
  }
  say("socklab-capture: recording on {}{}{}, writing {} ({})\n", o.interface,
             shown.empty() ? "" : " with filter: ", shown, o.file,
             o.count ? fmt::format("until {} packets, Ctrl-C to stop sooner", o.count) : "Ctrl-C to stop");

  // Wait for the first of: a signal, the packet count, the time limit.
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                           std::chrono::duration<double>(o.seconds));
  pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {limit_reached.fd, POLLIN, 0}};
  for (;;) {
    int timeout = -1;
    if (o.seconds > 0) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
      if (left <= 0) break;
      timeout = static_cast<int>(std::min<long long>(left, 1'000'000'000));
    }
    const int ready = ::poll(fds, 2, timeout);
    if (ready < 0 && errno == EINTR) continue;
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
      const int sig = signals.take();
      if (sig == SIGUSR1) {
        say("socklab-capture: {} packets captured so far\n", capture->captured());
        continue;
      }
      if (sig != 0) say("socklab-capture: {} received, finishing the file\n", ::sigabbrev_np(sig));
      break;
    }
    if (ready != 0) break;
  }

  auto stats = capture->stop();
  if (!stats) {
    // The error says whether the packets before it were kept (a write error, a
    // capture error) or nothing was (the file could not be put in place).
    say("socklab-capture: {}\n", stats.error().message());
    return exit_failed;
  }
  say("socklab-capture: {}\n", to_string(*stats));
  say("socklab-capture: wrote {} packets to {}\n", stats->captured, o.file);
  if (stats->dropped_by_kernel > 0) {
    fmt::print(stderr,
               "socklab-capture: the kernel dropped {} packets (the ring was full): the file is "
               "incomplete; try a larger --buffer-mib or a smaller --snaplen\n",
               stats->dropped_by_kernel);
    return exit_dropped;
  }
  return exit_ok;
}

}  // namespace

void add_record_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<RecordOptions>();
  auto* cmd = app.add_subcommand("record", "Record live traffic into a pcap or pcapng file (needs capture privilege)");
  cmd->add_option("-i,--interface", opts->interface, "Interface to capture on")->capture_default_str();
  auto* port = cmd->add_option("--port", opts->port,
                               "Capture TCP and UDP on this port, and the ICMP errors about it")
                   ->check(CLI::Range(1, 65535));
  auto* filter = cmd->add_option("--filter", opts->filter, "A whole BPF filter, in tcpdump syntax");
  port->excludes(filter);
  cmd->add_option("-c,--count", opts->count, "Stop after this many packets (1 or more)")
      ->check(CLI::Validator(check_count, "COUNT"));
  cmd->add_option("--seconds", opts->seconds, "Stop after this many seconds (above 0, at most 31536000: a year)")
      ->check(CLI::Validator(check_seconds, "SECONDS"));
  cmd->add_option("-w,--write", opts->file,
                  "The file to write (nanosecond timestamps): pcap, or pcapng when it ends in .pcapng")
      ->required()
      ->check(CLI::Validator(check_file, "FILE"));
  cmd->add_flag("--pcapng", opts->pcapng,
                "Write pcapng whatever the name: each packet carries its phase and analysis flags as a comment");
  cmd->add_option("--snaplen", opts->snaplen, "Bytes kept of each packet")
      ->check(CLI::Range(64, 262144))
      ->capture_default_str();
  cmd->add_option("--buffer-mib", opts->buffer_mib,
                  "Kernel ring size in MiB; each packet not yet read takes one slot "
                  "(64 KiB on loopback for whole packets, 208 bytes with --snaplen 128)")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  cmd->footer(
      "The file appears only when the recording ends (Ctrl-C, SIGTERM, SIGHUP, --count or --seconds),\n"
      "complete; SIGUSR1 prints the counts so far. -w replaces only a regular file (a directory, device,\n"
      "FIFO or socket is refused) and follows a symbolic link to the file it names. If writing fails\n"
      "(disk full), recording stops at once and the packets written before it are kept, in a valid file.\n"
      "The counts printed at the end say how many packets the kernel dropped, if any.\n"
      "\n"
      "Examples:\n"
      "  socklab-capture record --port 8080 -w conversation.pcap          # until Ctrl-C\n"
      "  socklab-capture record --port 8080 --count 3 -w handshake.pcap   # the first 3 packets\n"
      "  socklab-capture record --filter 'udp port 9999 or icmp' --seconds 5 -w udp.pcap\n"
      "  socklab-capture record --port 9999 --snaplen 128 -w burst.pcap   # headers only: room for bursts\n"
      "  socklab-capture record --port 8080 -w annotated.pcapng           # phases as packet comments\n"
      "  socklab-capture read --ladder conversation.pcap                  # then look at it\n"
      "\n"
      "Capturing needs CAP_NET_RAW: run as root, or once:\n"
      "  sudo setcap cap_net_raw,cap_net_admin+eip \"$(command -v socklab-capture)\"\n"
      "\n"
      "Exit codes: 0 recorded; 1 failed (bad interface, filter or -w target: nothing captured; a write\n"
      "error: the packets before it are kept); 2 bad usage; 3 written, but the kernel dropped packets;\n"
      "4 no capture privilege.");
  cmd->callback([opts, &exit_code] { exit_code = run_record(*opts); });
}
