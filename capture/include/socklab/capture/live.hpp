// LiveCapture: records the traffic of one interface (default: loopback) with libpcap.
//
//   auto cap = LiveCapture::start({.filter = port_filter(port), .write_to = "run.pcap"});
//   ... the demo's sockets talk ...
//   cap->wait_for(is_fin_from_server, 2s);   // a condition, never a sleep
//   auto stats = cap->stop();                // every queued packet read, file renamed into place
//
// start() returns only once the handle is active and the filter installed: from
// then on the kernel queues every matching packet, so the first SYN is never missed.
// stop() reads every packet still in the kernel ring before it closes the handle.
// Immediate mode is on, so packets are handed over one by one, not in blocks.
// On loopback the capture gets each packet on the receive path before the
// socket it is for: once a program has seen a packet's effect (recv returned,
// a state changed), that packet is queued, and stop() delivers it. A packet
// whose effect cannot be seen (the last ACK of a teardown) is waited for with
// wait_for().
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "socklab/capture/capture_file.hpp"
#include "socklab/capture/pcapng_writer.hpp"
#include "socklab/capture/raw_packet.hpp"
#include "socklab/net/error.hpp"

namespace socklab::capture {

// The BPF program for one port: TCP and UDP to or from it, the ICMP/ICMPv6
// errors that quote a datagram of it (so a "port unreachable" is seen too), and
// IP fragments: an IPv6 first fragment of the port's TCP or UDP, and every later
// IPv4 or IPv6 fragment of TCP or UDP (they carry no ports to tell whose they are).
// Pure text, available without libpcap.
std::string port_filter(std::uint16_t port);

struct CaptureStats {
  std::uint64_t captured = 0;              // packets handed over (kept, written, given to the sink)
  std::uint64_t received = 0;              // pcap_stats ps_recv: packets the kernel filter accepted
  std::uint64_t dropped_by_kernel = 0;     // ps_drop: lost because the ring was full
  std::uint64_t dropped_by_interface = 0;  // ps_ifdrop: lost by the interface/driver
  std::uint64_t stray_fragments = 0;       // later IP fragments left out (see keep_stray_fragments)
};
// "12 packets captured, 12 received by filter, 0 dropped by kernel, 0 dropped by interface"
// (then ", 3 stray fragments left out" when there were some)
std::string to_string(const CaptureStats& s);

struct LiveCaptureConfig {
  std::string interface = "lo";
  // BPF program text (tcpdump syntax); empty: every packet. See port_filter().
  std::string filter{};
  // Bytes kept of each packet, 64..262144 (default: whole packets, as tcpdump).
  int snaplen = 262144;
  // Kernel ring size. In immediate mode libpcap gives every packet a slot sized
  // for the largest packet the snaplen allows: on loopback at the default
  // snaplen about 64 KiB (in 128 KiB blocks), so 64 MiB holds 1,022 packets not
  // yet read and costs 128 MiB; with snaplen 128 a slot is 208 bytes and 64 MiB
  // holds 322,638. Measured in bench/README.md ("Live capture"). At least 1 MiB.
  int buffer_bytes = 64 << 20;
  // Keep every packet in memory (take_packets()); off for long recordings.
  bool keep_packets = true;
  // Also write a capture file here (nanosecond timestamps); it appears at
  // stop(). The rules of capture_file.hpp apply: start() fails, before any
  // packet, when the target cannot be written. A write error (disk full) ends
  // the capture at once (see on_error) and stop() keeps the packets written
  // before it, in a valid file, and says so in its error.
  std::filesystem::path write_to{};
  // pcap or pcapng; default: by the name (capture_format_for). In pcapng each
  // packet's comment carries its phase and analysis flags ("data; retransmission"),
  // and the section's comment is pcapng_section.comment.
  std::optional<CaptureFormat> write_format{};
  PcapngSection pcapng_section{};
  // Called on the capture thread for every packet; must not block for long, nor
  // call back into the LiveCapture (stop() from there would wait for itself).
  std::function<void(const RawPacket&)> sink{};
  // Stop handing packets over after this many (0: no limit), like tcpdump -c.
  std::uint64_t max_packets = 0;
  // Called once, on the capture thread, when max_packets have been captured.
  std::function<void()> on_limit{};
  // Called once, on the capture thread, when the capture ends by itself on an
  // error (a write error, the interface gone): stop() returns that error.
  std::function<void()> on_error{};
  // A later IP fragment carries no ports, so port_filter() lets every one of
  // them through, whoever sent it. By default one is kept only when this capture
  // kept its datagram's first fragment (on loopback fragments leave in order);
  // the others, another program's on a shared lo, are left out and counted in
  // CaptureStats::stray_fragments. True: keep every packet the filter passes.
  bool keep_stray_fragments = false;
};

class LiveCapture {
 public:
  // Opens, activates and filters the handle, then starts the capture thread.
  // Errors carry libpcap's own text; a missing privilege gives EPERM (see
  // is_missing_privilege() and explain_capture_error()).
  static net::Result<LiveCapture> start(LiveCaptureConfig config);

  LiveCapture(LiveCapture&&) noexcept;
  LiveCapture& operator=(LiveCapture&&) noexcept;
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;
  // Without stop(): ends the thread and discards the unfinished pcap file.
  ~LiveCapture();

  // Waits until a captured packet satisfies `match` or the timeout passes; true
  // if one did. Packets kept before the call count. `match` runs on the capture
  // thread for packets that arrive while waiting, with the capture's lock held:
  // keep it short, never throw, never call back into the LiveCapture.
  bool wait_for(std::function<bool(const RawPacket&)> match, std::chrono::milliseconds timeout);
  // Waits until `n` packets have been captured or the timeout passes.
  bool wait_for_count(std::uint64_t n, std::chrono::milliseconds timeout);

  // Returns once every packet the kernel had queued when it was called has
  // been handed over (kept, written, given to the sink), without stopping: a
  // server that serves many clients on one capture takes each one's packets
  // after this. False when the capture has ended (stop(), an error).
  bool flush();

  // Packets captured so far.
  [[nodiscard]] std::uint64_t captured() const noexcept;
  [[nodiscard]] LinkType link_type() const noexcept;
  [[nodiscard]] const std::string& interface() const noexcept;
  // The filter installed, as given to libpcap (on loopback with "inbound" added,
  // because the kernel shows every loopback packet twice, once per direction).
  [[nodiscard]] const std::string& filter() const noexcept;

  // Reads every packet still queued in the kernel, closes the handle, renames
  // the capture file into place, and returns the counts. Calling it again returns
  // the same counts. After an error of the capture the file still holds the
  // packets written before it, and the error says so.
  net::Result<CaptureStats> stop();

  // Moves out the packets kept so far (all of them after stop()).
  std::vector<RawPacket> take_packets();

 private:
  struct Impl;
  explicit LiveCapture(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// True when `e` says the process may not capture (libpcap could not open its
// packet socket: EPERM); false for every other error, a pcap file's included.
bool is_missing_privilege(const net::Error& e) noexcept;

// A paragraph for the user. For a missing privilege it names the capability
// (CAP_NET_RAW, and CAP_NET_ADMIN for some setups) and both fixes: run as root,
// or `setcap cap_net_raw,cap_net_admin+eip PROGRAM`. `program` defaults to this
// process's own binary (/proc/self/exe). Other errors: e.message().
std::string explain_capture_error(const net::Error& e, std::filesystem::path program = {});

}  // namespace socklab::capture
