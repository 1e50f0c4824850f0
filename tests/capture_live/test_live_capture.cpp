// Live capture on the loopback interface (needs CAP_NET_RAW: a PRIVILEGED test).
#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <grp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>

#include <fmt/format.h>

#include "live_test_support.hpp"
#include "net_helpers.hpp"
#include "socklab/capture/live.hpp"
#include "socklab/capture/packet.hpp"
#include "socklab/net.hpp"

using namespace std::chrono_literals;
using socklab::capture::LiveCapture;
using socklab::capture::LiveCaptureConfig;
using socklab::capture::port_filter;
using socklab::capture::RawPacket;
using socklab::net::Endpoint;
using socklab::net::TcpListener;
using socklab::net::TcpStream;
using socklab::net::UdpSocket;
using socklab::net::value_or_throw;
using socklab::test::Frame;
using socklab::test::parse_frame;
using socklab::test::run_command;
using socklab::test::ScratchDir;

namespace {

std::vector<Frame> frames_of(const std::vector<RawPacket>& packets) {
  std::vector<Frame> frames;
  for (const auto& p : packets) {
    auto f = parse_frame(p.bytes);
    REQUIRE(f);
    frames.push_back(*f);
  }
  return frames;
}

std::string shell_quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// A port nobody listens on: bound once by us, then closed.
std::uint16_t closed_udp_port(const Endpoint& loopback) {
  auto s = value_or_throw(UdpSocket::bind(loopback));
  return value_or_throw(s.local_endpoint()).port();
}

}  // namespace

TEST_CASE("a TCP conversation is captured whole, from the first SYN to the last ACK", "[live]") {
  auto listener = value_or_throw(TcpListener::bind(Endpoint::loopback_v4()));
  const std::uint16_t port = listener.endpoint().port();
  ScratchDir dir;
  const auto pcap = dir / "conversation.pcap";
  auto cap = LiveCapture::start({.filter = port_filter(port), .write_to = pcap});
  REQUIRE(cap);

  // start() returned: the capture is armed, so the SYN sent now must be in it.
  auto client = value_or_throw(TcpStream::connect(listener.endpoint()));
  auto server = std::move(value_or_throw(listener.accept()).stream);
  const std::uint16_t client_port = value_or_throw(client.local_endpoint()).port();
  std::array<std::byte, 16> buf{};
  value_or_throw(client.send_all("hello"));
  REQUIRE(value_or_throw(server.recv_exact(std::span(buf).first(5))) == 5);
  value_or_throw(server.send_all("world!"));
  REQUIRE(value_or_throw(client.recv_exact(std::span(buf).first(6))) == 6);
  value_or_throw(client.shutdown_write());
  REQUIRE(value_or_throw(server.recv_some(buf)) == 0);  // the client's FIN arrived
  value_or_throw(server.close());
  REQUIRE(value_or_throw(client.recv_some(buf)) == 0);  // the server's FIN arrived

  // The client's last ACK leaves when the server's FIN is processed: wait for it
  // on the wire rather than for a guessed time.
  const bool last_ack_seen = cap->wait_for(
      [&](const RawPacket& p) {
        const auto f = parse_frame(p.bytes);
        return f && f->sport == client_port && f->tcp_only(Frame::ackf) && f->payload.empty() &&
               f->ack != 0;  // checked precisely below, once every packet is in hand
      },
      5s);
  REQUIRE(last_ack_seen);
  auto stats = cap->stop();
  REQUIRE(stats);
  INFO(to_string(*stats));
  CHECK(stats->dropped_by_kernel == 0);
  CHECK(stats->received == stats->captured + stats->stray_fragments);  // strays: other programs' fragments

  const auto frames = frames_of(cap->take_packets());
  REQUIRE(frames.size() == stats->captured);
  REQUIRE(frames.size() >= 8);
  // The three-way handshake opens the capture.
  CHECK(frames[0].tcp_only(Frame::syn));
  CHECK(frames[0].sport == client_port);
  CHECK(frames[0].dport == port);
  CHECK(frames[1].tcp_only(Frame::syn | Frame::ackf));
  CHECK(frames[1].sport == port);
  CHECK(frames[2].tcp_only(Frame::ackf));
  const std::uint32_t client_isn = frames[0].seq, server_isn = frames[1].seq;

  auto find = [&](auto pred) { return std::find_if(frames.begin(), frames.end(), pred); };
  const auto hello = find([&](const Frame& f) { return f.sport == client_port && f.payload == "hello"; });
  const auto world = find([&](const Frame& f) { return f.sport == port && f.payload == "world!"; });
  const auto client_fin = find([&](const Frame& f) { return f.sport == client_port && (f.tcp_flags & Frame::fin); });
  const auto server_fin = find([&](const Frame& f) { return f.sport == port && (f.tcp_flags & Frame::fin); });
  REQUIRE(hello != frames.end());
  REQUIRE(world != frames.end());
  REQUIRE(client_fin != frames.end());
  REQUIRE(server_fin != frames.end());
  CHECK(hello->seq == client_isn + 1);
  CHECK(world->seq == server_isn + 1);
  CHECK(client_fin->seq == client_isn + 1 + 5);
  CHECK(hello < world);
  CHECK(world < client_fin);
  CHECK(client_fin < server_fin);
  // The last segment acknowledges the server's FIN.
  const Frame& last = frames.back();
  CHECK(last.sport == client_port);
  CHECK(last.tcp_only(Frame::ackf));
  CHECK(last.ack == server_fin->seq + 1);

  // The file holds the same packets, and tcpdump reads every one of them.
  REQUIRE(std::filesystem::exists(pcap));
  CHECK(dir.files() == std::vector<std::string>{"conversation.pcap"});
  const auto tcpdump = run_command(fmt::format("{} -nn -r {} 2>/dev/null", SOCKLAB_TCPDUMP, shell_quote(pcap)));
  REQUIRE(tcpdump.exit_code == 0);
  const auto lines = socklab::test::lines_of(tcpdump.out);
  CHECK(lines.size() == stats->captured);
  REQUIRE_FALSE(lines.empty());
  CHECK_THAT(lines[0], Catch::Contains(fmt::format("127.0.0.1.{} > 127.0.0.1.{}: Flags [S],", client_port, port)));
}

TEST_CASE("the capture is armed when start() returns: the first SYN is never missed", "[live]") {
  for (int round = 0; round < 5; ++round) {
    auto listener = value_or_throw(TcpListener::bind(Endpoint::loopback_v4()));
    auto cap = LiveCapture::start({.filter = port_filter(listener.endpoint().port()), .buffer_bytes = 4 << 20});
    REQUIRE(cap);
    auto client = value_or_throw(TcpStream::connect(listener.endpoint()));
    // connect() returned: the SYN-ACK came back and the final ACK left; all three are queued.
    auto stats = cap->stop();
    REQUIRE(stats);
    const auto frames = frames_of(cap->take_packets());
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].tcp_only(Frame::syn));
    CHECK(frames[1].tcp_only(Frame::syn | Frame::ackf));
    CHECK(frames[2].tcp_only(Frame::ackf));
  }
}

TEST_CASE("stop() reads every packet still queued in the kernel", "[live]") {
  // A sink that holds the capture thread until every datagram has been sent:
  // they all wait in the kernel ring, and stop() must still deliver them.
  auto receiver = value_or_throw(UdpSocket::bind(Endpoint::loopback_v4()));
  const auto to = value_or_throw(receiver.local_endpoint());
  std::mutex gate;
  std::unique_lock hold(gate);
  auto cap = LiveCapture::start({.filter = port_filter(to.port()),
                                 .keep_packets = true,
                                 .sink = [&](const RawPacket&) { std::lock_guard pass(gate); }});
  REQUIRE(cap);
  auto sender = value_or_throw(UdpSocket::open(AF_INET));
  constexpr int count = 200;
  for (int i = 0; i < count; ++i)
    value_or_throw(sender.send_to(socklab::test::bytes_of(fmt::format("datagram {}", i)), to));
  hold.unlock();
  auto stats = cap->stop();
  REQUIRE(stats);
  CHECK(stats->captured == count);
  CHECK(stats->dropped_by_kernel == 0);
  const auto frames = frames_of(cap->take_packets());
  REQUIRE(frames.size() == count);
  CHECK(frames.front().payload == "datagram 0");
  CHECK(frames.back().payload == fmt::format("datagram {}", count - 1));
}

TEST_CASE("the port filter sees the ICMP unreachable for its port and not for others", "[live]") {
  for (const auto& loopback : {Endpoint::loopback_v4(), Endpoint::loopback_v6()}) {
    INFO(loopback.to_string());
    const std::uint16_t watched = closed_udp_port(loopback);
    const std::uint16_t other = closed_udp_port(loopback);
    auto cap = LiveCapture::start({.filter = port_filter(watched)});
    REQUIRE(cap);
    auto sender = value_or_throw(UdpSocket::open(loopback.family()));
    value_or_throw(sender.send_to(socklab::test::bytes_of("to nobody"), loopback.with_port(other)));
    value_or_throw(sender.send_to(socklab::test::bytes_of("to nobody"), loopback.with_port(watched)));
    const bool unreachable = cap->wait_for(
        [](const RawPacket& p) {
          const auto f = parse_frame(p.bytes);
          return f && (f->proto == 1 || f->proto == 58);
        },
        5s);
    REQUIRE(unreachable);
    REQUIRE(cap->stop());
    const auto frames = frames_of(cap->take_packets());
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].proto == 17);
    CHECK(frames[0].dport == watched);
    CHECK(frames[1].proto == (loopback.family() == AF_INET ? 1 : 58));
    // Port unreachable: ICMP type 3 code 3, ICMPv6 type 1 code 4.
    CHECK(frames[1].icmp_type == (loopback.family() == AF_INET ? 3 : 1));
    CHECK(frames[1].icmp_code == (loopback.family() == AF_INET ? 3 : 4));
    CHECK(frames[1].quoted_dport == watched);
  }
}

TEST_CASE("a datagram too big for lo's MTU is captured in its fragments; others' are left out", "[live][fragment]") {
  // 65,527 bytes of UDP over ::1 (demo-udp -6 --max): with the IPv6 and UDP
  // headers it does not fit lo's 65536-byte MTU, so it leaves as two fragments,
  // and only the first one shows the ports.
  const auto loopback = Endpoint::loopback_v6();
  auto watched = value_or_throw(UdpSocket::bind(loopback));
  auto other = value_or_throw(UdpSocket::bind(loopback));
  const auto watched_at = value_or_throw(watched.local_endpoint());
  auto cap = LiveCapture::start({.filter = port_filter(watched_at.port())});
  REQUIRE(cap);
  auto sender = value_or_throw(UdpSocket::open(AF_INET6));
  const std::vector<std::byte> big(65527, std::byte{'m'});
  std::vector<std::byte> buf(70000);
  // First another program's datagram: the filter lets its later fragment
  // through (no ports to tell), the capture leaves it out.
  value_or_throw(sender.send_to(big, value_or_throw(other.local_endpoint())));
  REQUIRE(value_or_throw(other.recv_from(buf, 5s)).size == big.size());
  value_or_throw(sender.send_to(big, watched_at));
  // Received whole: both fragments went through the capture's receive path first.
  REQUIRE(value_or_throw(watched.recv_from(buf, 5s)).size == big.size());
  auto stats = cap->stop();
  REQUIRE(stats);
  INFO(to_string(*stats));
  CHECK(stats->stray_fragments >= 1);
  const auto packets = cap->take_packets();
  REQUIRE(packets.size() == 2);
  const auto first = socklab::capture::decode(cap->link_type(), packets[0].bytes, packets[0].wire_len);
  const auto second = socklab::capture::decode(cap->link_type(), packets[1].bytes, packets[1].wire_len);
  CHECK(first.proto == socklab::capture::Proto::udp);
  CHECK(first.dport == watched_at.port());
  CHECK(first.payload_len == big.size());
  CHECK(first.ip.more_fragments);
  CHECK(second.ip.fragment_offset == first.ip.fragment_len);
  CHECK(second.ip.fragment_id == first.ip.fragment_id);
  CHECK_FALSE(second.ip.more_fragments);
  CHECK(first.ip.fragment_len + second.ip.fragment_len == 8 + big.size());
}

TEST_CASE("max_packets stops handing packets over, like tcpdump -c", "[live]") {
  auto receiver = value_or_throw(UdpSocket::bind(Endpoint::loopback_v4()));
  const auto to = value_or_throw(receiver.local_endpoint());
  ScratchDir dir;
  auto cap = LiveCapture::start({.filter = port_filter(to.port()), .write_to = dir / "three.pcap", .max_packets = 3});
  REQUIRE(cap);
  auto sender = value_or_throw(UdpSocket::open(AF_INET));
  for (int i = 0; i < 10; ++i) value_or_throw(sender.send_to(socklab::test::bytes_of("x"), to));
  CHECK(cap->wait_for_count(3, 5s));
  auto stats = cap->stop();
  REQUIRE(stats);
  CHECK(stats->captured == 3);
  CHECK(cap->take_packets().size() == 3);
  const auto tcpdump = run_command(fmt::format("{} -nn -r {} 2>/dev/null", SOCKLAB_TCPDUMP, shell_quote(dir / "three.pcap")));
  CHECK(socklab::test::lines_of(tcpdump.out).size() == 3);
}

TEST_CASE("wait_for gives up at its timeout when nothing matches", "[live]") {
  // An EtherType reserved for experiments: nothing on loopback carries it, so
  // other programs' traffic cannot interfere.
  auto cap = LiveCapture::start({.filter = "ether proto 0x88b5"});
  REQUIRE(cap);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(cap->wait_for([](const RawPacket&) { return true; }, 50ms));
  CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
  CHECK_FALSE(cap->wait_for_count(1, 10ms));
  REQUIRE(cap->stop());
}

TEST_CASE("bad capture settings are errors that name what is wrong", "[live]") {
  SECTION("a filter that does not compile") {
    auto cap = LiveCapture::start({.filter = "tcp prot 80"});
    REQUIRE_FALSE(cap);
    CHECK(cap.error().code == std::errc::invalid_argument);
    CHECK_THAT(cap.error().message(), Catch::Contains("bad filter \"tcp prot 80\""));
  }
  SECTION("an interface that does not exist") {
    auto cap = LiveCapture::start({.interface = "nosuchif0"});
    REQUIRE_FALSE(cap);
    CHECK(cap.error().code == std::errc::no_such_device);
    CHECK_THAT(cap.error().message(), Catch::Contains("capture on nosuchif0"));
  }
  SECTION("a pcap file in a directory that does not exist") {
    ScratchDir dir;
    auto cap = LiveCapture::start({.write_to = dir / "missing" / "x.pcap"});
    REQUIRE_FALSE(cap);
    CHECK_THAT(cap.error().message(), Catch::Contains("missing/x.pcap"));
    CHECK_FALSE(socklab::capture::is_missing_privilege(cap.error()));  // not a capture problem
    CHECK(dir.files().empty());
  }
  SECTION("sizes out of range") {
    auto small = LiveCapture::start({.snaplen = 10});
    REQUIRE_FALSE(small);
    CHECK_THAT(small.error().message(), Catch::Contains("snaplen 10 is not in 64..262144"));
    auto tiny = LiveCapture::start({.buffer_bytes = 4096});
    REQUIRE_FALSE(tiny);
    CHECK_THAT(tiny.error().message(), Catch::Contains("buffer of 4096 bytes is under 1 MiB"));
  }
}

TEST_CASE("without capture privilege: a clear error, the fix, and no file", "[live][unprivileged]") {
  const passwd* nobody = ::getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  ScratchDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);  // writable for nobody too
  const auto pcap = dir / "denied.pcap";
  int out[2];
  REQUIRE(::pipe(out) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Become nobody: changing the uid from 0 clears every capability.
    ::close(out[0]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(nobody->pw_gid) != 0 || ::setuid(nobody->pw_uid) != 0) ::_exit(90);
    auto cap = LiveCapture::start({.filter = "tcp port 9", .write_to = pcap});
    if (cap) ::_exit(91);
    const std::string text = socklab::capture::explain_capture_error(cap.error(), "/usr/local/bin/demo");
    const bool privilege = socklab::capture::is_missing_privilege(cap.error());
    [[maybe_unused]] auto n = ::write(out[1], text.data(), text.size());
    ::_exit(privilege ? 0 : 92);
  }
  ::close(out[1]);
  std::string text;
  std::array<char, 1024> buf{};
  for (ssize_t n; (n = ::read(out[0], buf.data(), buf.size())) > 0;) text.append(buf.data(), static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO(text);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(text, Catch::Contains("capture on lo"));
  CHECK_THAT(text, Catch::Contains("CAP_NET_RAW"));
  CHECK_THAT(text, Catch::Contains("run it as root"));
  CHECK_THAT(text, Catch::Contains("setcap cap_net_raw,cap_net_admin+eip /usr/local/bin/demo"));
  CHECK(text.find('\n') == std::string::npos);  // one paragraph
  CHECK(dir.files().empty());
}
