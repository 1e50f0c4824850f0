// bench-live-burst: records a loopback burst with LiveCapture (as
// `socklab-capture record` does: straight to a pcap file) and checks that every
// packet arrived: the count on the wire, the kernel's drop counter, the file.
//
//   sudo ./build/bench/live/bench-live-burst                      # 100,000 UDP datagrams
//   sudo ./build/bench/live/bench-live-burst --proto tcp          # TCP_NODELAY segments
//   sudo ./build/bench/live/bench-live-burst --capacity           # packets the ring holds unread
//   sudo ./build/bench/live/bench-live-burst --snaplen 262144     # whole packets: 64 KiB slots
//
// Exit code 0 only when nothing was lost.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "socklab/capture/live.hpp"
#include "socklab/net.hpp"

namespace {

using namespace socklab;
using clock_type = std::chrono::steady_clock;

struct Options {
  std::uint64_t packets = 100'000;
  std::string proto = "udp";
  std::size_t payload = 16;
  // Headers and a little payload: a ring slot is then 208 bytes, and the
  // library's default 64 MiB ring holds 322,638 packets (bench/README.md).
  int snaplen = 128;
  int buffer_mib = capture::LiveCaptureConfig{}.buffer_bytes >> 20;
  bool capacity = false;
};

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

// Packets in a pcap file, read back through libpcap.
std::uint64_t count_in_file(const std::filesystem::path& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (p == nullptr) return 0;
  std::uint64_t n = 0;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &hdr, &data) == 1) ++n;
  pcap_close(p);
  return n;
}

// Sends the burst; returns the payload bytes handed to the kernel.
std::uint64_t send_burst(const Options& o, const net::Endpoint& to, net::TcpStream* tcp) {
  const std::vector<std::byte> payload(o.payload, std::byte{'x'});
  std::uint64_t bytes = 0;
  if (tcp != nullptr) {
    for (std::uint64_t i = 0; i < o.packets; ++i) bytes += net::value_or_throw(tcp->send_all(payload));
    return bytes;
  }
  auto sender = net::value_or_throw(net::UdpSocket::open(AF_INET));
  for (std::uint64_t i = 0; i < o.packets; ++i) bytes += net::value_or_throw(sender.send_to(payload, to));
  return bytes;
}

int run(const Options& o) {
  const bool udp = o.proto == "udp";
  const std::filesystem::path dir = std::filesystem::temp_directory_path();
  const std::filesystem::path file = dir / fmt::format("bench-live-burst-{}.pcap", ::getpid());

  // Receivers: UDP datagrams are never read (the capture sees them before the
  // socket does); TCP bytes are drained by a thread so the sender never stalls.
  std::optional<net::UdpSocket> udp_receiver;
  std::optional<net::TcpListener> listener;
  net::Endpoint to;
  if (udp) {
    udp_receiver = net::value_or_throw(net::UdpSocket::bind(net::Endpoint::loopback_v4()));
    to = net::value_or_throw(udp_receiver->local_endpoint());
  } else {
    listener = net::value_or_throw(net::TcpListener::bind(net::Endpoint::loopback_v4()));
    to = listener->endpoint();
  }

  // --capacity: the capture thread is held at its first packet, so the ring
  // fills up and the count says how many packets it holds unread.
  std::mutex gate;
  std::unique_lock hold(gate, std::defer_lock);
  if (o.capacity) hold.lock();

  capture::LiveCaptureConfig config;
  config.filter = capture::port_filter(to.port());
  config.snaplen = o.snaplen;
  config.buffer_bytes = o.buffer_mib << 20;
  config.keep_packets = false;
  config.write_to = file;
  if (o.capacity) config.sink = [&](const capture::RawPacket&) { std::lock_guard pass(gate); };

  const auto t_start = clock_type::now();
  auto cap = capture::LiveCapture::start(std::move(config));
  if (!cap) {
    fmt::print(stderr, "{}\n", capture::explain_capture_error(cap.error()));
    return 4;
  }
  const double start_ms = ms_since(t_start);

  std::optional<net::TcpStream> client;
  std::thread drain;
  std::uint64_t received_bytes = 0;
  if (!udp) {
    net::ConnectOptions copts;
    copts.nodelay = true;
    client = net::value_or_throw(net::TcpStream::connect(to, copts));
    auto server = std::move(net::value_or_throw(listener->accept()).stream);
    drain = std::thread([&received_bytes, s = std::move(server)]() mutable {
      std::vector<std::byte> buf(1 << 16);
      for (;;) {
        auto n = s.recv_some(buf);
        if (!n || *n == 0) break;
        received_bytes += *n;
      }
    });
  }

  const auto t_send = clock_type::now();
  const std::uint64_t sent_bytes = send_burst(o, to, client ? &*client : nullptr);
  const double send_ms = ms_since(t_send);
  if (client) {
    net::value_or_throw(client->shutdown_write());
    drain.join();  // every byte arrived, so every data segment was on the wire
  }
  if (o.capacity) hold.unlock();

  const auto t_stop = clock_type::now();
  auto stats = cap->stop();
  const double stop_ms = ms_since(t_stop);
  if (!stats) {
    fmt::print(stderr, "capture failed: {}\n", stats.error().message());
    return 1;
  }
  const std::uint64_t in_file = count_in_file(file);
  const auto file_bytes = std::filesystem::file_size(file);
  std::filesystem::remove(file);

  fmt::print("proto {}  payload {} B  snaplen {}  ring {} MiB\n", o.proto, o.payload, o.snaplen, o.buffer_mib);
  fmt::print("sent     {} {} ({} payload bytes) in {:.1f} ms = {:.0f} packets/s\n", o.packets,
             udp ? "datagrams" : "send() calls", sent_bytes, send_ms, static_cast<double>(o.packets) / (send_ms / 1000));
  fmt::print("capture  {}\n", capture::to_string(*stats));
  fmt::print("file     {} packets, {} bytes\n", in_file, file_bytes);
  fmt::print("times    start (ring set up) {:.1f} ms, stop (drain + close + rename) {:.1f} ms\n", start_ms, stop_ms);

  if (o.capacity) {
    // Held at the first packet: the rest waited in the ring, or were dropped.
    fmt::print("capacity the ring held {} packets unread (+1 being handled)\n", stats->captured - 1);
    return 0;
  }
  bool ok = stats->dropped_by_kernel == 0 && stats->captured == stats->received && in_file == stats->captured;
  if (udp) ok = ok && stats->captured == o.packets;
  if (!udp) {
    fmt::print("tcp      {} payload bytes received by the peer\n", received_bytes);
    ok = ok && received_bytes == sent_bytes;
  }
  fmt::print("result   {}\n", ok ? "OK: nothing lost" : "FAILED: packets lost");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Records a loopback burst with LiveCapture and checks nothing was lost."};
  app.add_option("--packets", o.packets, "Datagrams (UDP) or send() calls (TCP)")->capture_default_str();
  app.add_option("--proto", o.proto, "udp or tcp (TCP_NODELAY)")->check(CLI::IsMember({"udp", "tcp"}))->capture_default_str();
  app.add_option("--payload", o.payload, "Bytes per datagram or send()")->check(CLI::Range(1, 1400))->capture_default_str();
  app.add_option("--snaplen", o.snaplen, "Bytes kept per packet")->capture_default_str();
  app.add_option("--buffer-mib", o.buffer_mib, "Kernel ring size in MiB")->capture_default_str();
  app.add_flag("--capacity", o.capacity, "Measure how many packets the ring holds unread");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench-live-burst: {}\n", e.what());
    return 1;
  }
}
