// What every demo server needs around its socket, written once for the lesson
// demos' Session and for demo-chat: the message for a failed bind(), and the
// capture of the server's traffic (or why there is none).
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <vector>
#include <string>

#include "lesson.hpp"
#include "options.hpp"
#include "socklab/capture/record.hpp"
#include "socklab/net/endpoint.hpp"
#include "socklab/net/error.hpp"
#include "socklab/net/tcp.hpp"
#include "socklab/net/udp.hpp"

#if SOCKLAB_HAVE_PCAP
#include "socklab/capture/live.hpp"
#endif

namespace socklab::demo {

// True when traffic to `peer` stays on this machine, on the lo interface:
// 127.0.0.0/8, ::1, or one of this machine's own addresses.
[[nodiscard]] bool is_loopback(const net::Endpoint& peer);
// True for 127.0.0.0/8 and ::1 only: an address no other machine can reach.
[[nodiscard]] bool is_loopback_address(const net::Endpoint& e);

// The message for a failed bind() of a server at `at` (--listen/--port), with
// the remedy: a port in use, an address that is not this machine's, a port
// below 1024 without privilege. Any other error: its own message, in `lang`
// (error_text).
[[nodiscard]] std::string explain_bind_failure(const net::Error& e, const net::Endpoint& at, const Lesson& common,
                                               Lang lang = Lang::en);

// This program's own file, shell-quoted, for the setcap command a missing
// privilege asks for (setcap needs the file itself, whatever path or link the
// user typed); "PROGRAM" when /proc/self/exe cannot be read.
[[nodiscard]] std::string own_program_file();

// A UDP socket and a TCP listener on one port number at `at` (UDP's ports and
// TCP's are two separate sets, so one number serves both, and one capture
// filter sees both). With port 0, a number free for both: the kernel's free UDP
// port may be taken for TCP, so another is tried, a few times. `udp_bound` runs
// after each UDP bind (a lesson explains the call there).
struct UdpAndTcp {
  net::UdpSocket udp;
  net::TcpListener tcp;
};
[[nodiscard]] net::Result<UdpAndTcp> bind_udp_and_tcp(const net::Endpoint& at, const net::UdpOptions& udp_options,
                                                      const net::ListenOptions& tcp_options,
                                                      const std::function<void()>& udp_bound = {});

// 0.0.0.0 or ::: every address of the machine.
[[nodiscard]] bool is_unspecified(const net::Endpoint& e);

// The addresses of this machine's interfaces that are up, loopback and
// link-local ones left out (getifaddrs): the ones students on other machines
// can use. `family` AF_INET, AF_INET6, or AF_UNSPEC for both (IPv4 first).
[[nodiscard]] std::vector<std::string> reachable_addresses(int family);

// What a server started with --role server tells the teacher once it listens
// at `bound`: the command students run (`client_command(host)`), with an
// address they can reach; on loopback, that students need the server started
// with --listen 0.0.0.0; on a wildcard address, every address of this machine
// they can use.
[[nodiscard]] std::string server_ready_text(const net::Endpoint& bound, const Lesson& common,
                                            const std::function<std::string(const std::string& host)>& client_command);

// Why --capture shows no wire, for the user.
struct CaptureProblem {
  std::string text;
  // The capture cannot run here at all: no privilege, or a build without
  // libpcap. Demos exit with exit_capture_not_permitted (4) for it.
  bool not_permitted = false;
};

// This build has no libpcap: the calls are shown without the wire.
[[nodiscard]] CaptureProblem no_capture_support(const Lesson& common);

// The capture of a server that runs until it is stopped (demo-chat's): each
// packet of its port decoded as it comes (relative sequence numbers) and handed
// to a sink on the capture's thread, none kept; -w writes them as they pass. In
// a build without libpcap it only says why there is no wire.
class StreamingCapture {
 public:
  using Sink = std::function<void(const capture::PacketRecord&)>;
  struct Counts {
    std::uint64_t captured = 0;
    std::uint64_t dropped_by_kernel = 0;
  };
  StreamingCapture();
  ~StreamingCapture();
  StreamingCapture(const StreamingCapture&) = delete;
  StreamingCapture& operator=(const StreamingCapture&) = delete;

  // Starts on the traffic of a server at `server` (capture_config_for, -w from
  // `opts`); nullopt when it runs, else why not, in `common`'s language (a
  // missing privilege with the user's own command line under sudo).
  std::optional<CaptureProblem> start(const net::Endpoint& server, const CommonOptions& opts, const Lesson& common,
                                      Sink sink);
  [[nodiscard]] bool running() const noexcept;
  // Stops once the packets the kernel still holds went to the sink: how many
  // were captured and dropped, or the error that ended the capture.
  net::Result<Counts> stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

#if SOCKLAB_HAVE_PCAP
// The capture of the traffic of a server at `server`: on "lo" when it is a
// loopback address, else on "any" (clients may come from anywhere); the
// packets of its port only (capture::port_filter); also written to
// `pcap_path` unless it is empty.
[[nodiscard]] capture::LiveCaptureConfig capture_config_for(const net::Endpoint& server, const std::string& pcap_path);

// Starts a capture, or says why it cannot: a missing privilege names its remedy.
[[nodiscard]] std::expected<capture::LiveCapture, CaptureProblem> start_capture(capture::LiveCaptureConfig config);

// The same in the lesson's language `lang`, a missing privilege explained by
// the common note capture_not_permitted: run again as `rerun` (the user's own
// command line under sudo), or setcap the program.
[[nodiscard]] std::expected<capture::LiveCapture, CaptureProblem> start_capture(capture::LiveCaptureConfig config,
                                                                                const Lesson& common,
                                                                                const std::string& rerun,
                                                                                Lang lang = Lang::en);
#endif

}  // namespace socklab::demo
