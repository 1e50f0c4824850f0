// `socklab-capture record`: live traffic into a pcap file, until a count, a time
// or Ctrl-C; the kernel's drop count is always reported.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

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

// SIGINT and SIGTERM become readable events on a descriptor while recording,
// so Ctrl-C ends the capture through the same path as --count and --seconds.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    // Blocked before the capture thread starts, so it inherits the mask.
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
    // A shell starts background jobs with SIGINT ignored, and an ignored signal
    // never reaches a signalfd: take the default back (it stays blocked), as tcpdump does.
    for (int sig : {SIGINT, SIGTERM}) {
      struct sigaction action {};
      action.sa_handler = SIG_DFL;
      ::sigaction(sig, &action, &saved_[sig == SIGINT ? 0 : 1]);
    }
    fd_ = ::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  ~StopSignals() {
    if (fd_ >= 0) ::close(fd_);
    ::sigaction(SIGINT, &saved_[0], nullptr);
    ::sigaction(SIGTERM, &saved_[1], nullptr);
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  sigset_t set_{}, old_{};
  struct sigaction saved_[2] {};
  int fd_ = -1;
};

int run_record(const RecordOptions& o) {
  using namespace socklab::capture;
  StopSignals signals;
  Fd limit_reached(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (signals.fd() < 0 || limit_reached.fd < 0) {
    fmt::print(stderr, "socklab-capture: cannot set up signal handling\n");
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
  config.max_packets = o.count;
  config.on_limit = [fd = limit_reached.fd] {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
  };

  auto capture = LiveCapture::start(std::move(config));
  if (!capture) {
    fmt::print(stderr, "socklab-capture: {}\n", explain_capture_error(capture.error()));
    return is_missing_privilege(capture.error()) ? exit_not_permitted : exit_failed;
  }
  const std::string shown = o.port ? port_filter(*o.port) : o.filter;
  fmt::print(stderr, "socklab-capture: recording on {}{}{}, writing {} ({})\n", o.interface,
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
    if (ready > 0 || (ready < 0 && errno != EINTR)) break;
  }
  if ((fds[0].revents & POLLIN) != 0) {
    // Taken off the queue, so the signal does not strike once it is unblocked.
    signalfd_siginfo info{};
    [[maybe_unused]] auto n = ::read(signals.fd(), &info, sizeof info);
    fmt::print(stderr, "socklab-capture: interrupted, finishing the file\n");
  }

  auto stats = capture->stop();
  if (!stats) {
    fmt::print(stderr, "socklab-capture: {} (no file written)\n", stats.error().message());
    return exit_failed;
  }
  fmt::print(stderr, "socklab-capture: {}\n", to_string(*stats));
  fmt::print(stderr, "socklab-capture: wrote {} packets to {}\n", stats->captured, o.file);
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
  auto* cmd = app.add_subcommand("record", "Record live traffic into a pcap file (needs capture privilege)");
  cmd->add_option("-i,--interface", opts->interface, "Interface to capture on")->capture_default_str();
  auto* port = cmd->add_option("--port", opts->port,
                               "Capture TCP and UDP on this port, and the ICMP errors about it")
                   ->check(CLI::Range(1, 65535));
  auto* filter = cmd->add_option("--filter", opts->filter, "A whole BPF filter, in tcpdump syntax");
  port->excludes(filter);
  cmd->add_option("-c,--count", opts->count, "Stop after this many packets")->check(CLI::PositiveNumber);
  cmd->add_option("--seconds", opts->seconds, "Stop after this many seconds")->check(CLI::PositiveNumber);
  cmd->add_option("-w,--write", opts->file, "The pcap file to write (nanosecond timestamps)")->required();
  cmd->add_option("--snaplen", opts->snaplen, "Bytes kept of each packet")
      ->check(CLI::Range(64, 262144))
      ->capture_default_str();
  cmd->add_option("--buffer-mib", opts->buffer_mib,
                  "Kernel ring size in MiB; each packet not yet read takes one slot "
                  "(64 KiB on loopback for whole packets, 208 bytes with --snaplen 128)")
      ->check(CLI::Range(1, 2047))
      ->capture_default_str();
  cmd->footer(
      "The file appears only when the recording ends (Ctrl-C, --count or --seconds), complete.\n"
      "The counts printed at the end say how many packets the kernel dropped, if any.\n"
      "\n"
      "Examples:\n"
      "  socklab-capture record --port 8080 -w conversation.pcap          # until Ctrl-C\n"
      "  socklab-capture record --port 8080 --count 3 -w handshake.pcap   # the first 3 packets\n"
      "  socklab-capture record --filter 'udp port 9999 or icmp' --seconds 5 -w udp.pcap\n"
      "  socklab-capture record --port 9999 --snaplen 128 -w burst.pcap   # headers only: room for bursts\n"
      "  socklab-capture read --ladder conversation.pcap                  # then look at it\n"
      "\n"
      "Capturing needs CAP_NET_RAW: run as root, or once:\n"
      "  sudo setcap cap_net_raw,cap_net_admin+eip \"$(command -v socklab-capture)\"\n"
      "\n"
      "Exit codes: 0 recorded; 1 failed (bad interface, filter or file; no file is left);\n"
      "2 bad usage; 3 written, but the kernel dropped packets; 4 no capture privilege.");
  cmd->callback([opts, &exit_code] { exit_code = run_record(*opts); });
}
