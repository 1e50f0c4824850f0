// What the LAN lessons read from a host's kernel: its routing table, its own sysctls, its
// protocol counters as deltas; a datagram sent with TTL 1 through a router; forged SYNs,
// refused for any target that is not a host of the lab, and what they do to a listener.
#include <catch2/catch.hpp>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <thread>

#include "lab_test_support.hpp"
#include "socklab/lab/forged_syn.hpp"
#include "socklab/lab/lab_capture.hpp"
#include "socklab/net/tcp.hpp"
#include "socklab/net/tcp_state.hpp"

using namespace socklab::test;
using socklab::capture::RawPacket;
using socklab::net::TcpListener;
using socklab::net::TcpStream;

namespace {

std::string own_syncookies() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_syncookies");
  std::string v;
  in >> v;
  return v;
}

std::int64_t delta(const KernelCounters& before, const Node& n, std::string_view name) {
  return KernelCounters::delta(before, value_or_throw(n.kernel_counters()), name).value();
}

// Re-reads the counters until `name` has grown by at least `at_least` (the kernel counts
// as it handles each frame, in softirq: the condition, not a guessed time), 5 s at most.
std::int64_t wait_for_delta(const KernelCounters& before, const Node& n, std::string_view name, std::int64_t at_least) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::int64_t d = delta(before, n, name);
  while (d < at_least && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
    d = delta(before, n, name);
  }
  return d;
}

// Ethernet + IPv4: ICMP type 11 (time exceeded) whose quoted datagram went to `to`.
bool is_time_exceeded_for(const RawPacket& p, std::array<std::uint8_t, 4> to) {
  const auto& b = p.bytes;
  if (b.size() < 14 + 20 + 8 + 20 || b[12] != 0x08 || b[13] != 0x00 || b[23] != 1 || b[34] != 11) return false;
  return std::equal(to.begin(), to.end(), b.begin() + 42 + 16);  // the quoted IP header's destination
}

// The listener's half-open connections (SYN_RECV), read over sock_diag inside S.
std::size_t half_open(const Node& s, std::uint16_t port) {
  return s.in_namespace([&] {
    return value_or_throw(socklab::net::find_tcp_sockets({.local_port = port, .states = {socklab::net::TcpState::syn_recv}}))
        .size();
  });
}

bool is_udp_with_ttl(const RawPacket& p, std::uint8_t ttl) {
  return p.bytes.size() >= 34 && p.bytes[12] == 0x08 && p.bytes[13] == 0x00 && p.bytes[23] == 17 && p.bytes[22] == ttl;
}

}  // namespace

TEST_CASE("a host's routing table read back: its LAN, and the default route through the router", "[lab]") {
  Lab lab = Lab::create();
  Node& r = add_two_lans(lab);
  const auto a = value_or_throw(lab.node("A").routes());
  REQUIRE(a.size() == 2);
  CHECK(std::ranges::any_of(a, [](const Route& x) {
    return x.destination == "default" && x.gateway == "10.0.1.254" && x.interface == "eth0" && x.scope == "global";
  }));
  CHECK(std::ranges::any_of(a, [](const Route& x) {
    return x.destination == "10.0.1.0/24" && x.gateway.empty() && x.interface == "eth0" && x.scope == "link" &&
           x.protocol == "kernel" && x.source == "10.0.1.1";
  }));
  const auto rr = value_or_throw(r.routes());
  CHECK(rr.size() == 2);  // its two LANs, no default
  CHECK(std::ranges::none_of(rr, [](const Route& x) { return x.destination == "default"; }));
  CHECK(std::ranges::any_of(rr, [](const Route& x) { return x.destination == "10.0.2.0/24" && x.interface == "eth1"; }));
}

TEST_CASE("two LANs with A and B on the first, C on the second: addresses, MACs and routes", "[lab]") {
  Lab lab = Lab::create();
  add_two_lans(lab, {"A", "B"}, {"C"});
  CHECK(value_or_throw(lab.node("B").addresses("eth0")) == std::vector<std::string>{"10.0.1.2/24"});
  CHECK(value_or_throw(lab.node("C").addresses("eth0")) == std::vector<std::string>{"10.0.2.1/24"});
  CHECK(value_or_throw(lab.node("C").mac("eth0")) == Mac::local(0x0c));
  for (const char* h : {"A", "B", "C"}) {
    const auto routes = value_or_throw(lab.node(h).routes());
    CHECK(std::ranges::count_if(routes, [](const Route& x) { return x.destination == "default"; }) == 1);
  }
  ping(lab, lab.node("B"), lab.node("C"), "10.0.2.1", nullptr);
}

TEST_CASE("a sysctl set in one namespace changes neither the machine's nor another host's", "[lab]") {
  Lab lab = Lab::create();
  add_lan(lab, "sw", {"S", "L"}, "10.0.0", 0x0a);
  Node& s = lab.node("S");
  const std::string own = own_syncookies();
  s.set_sysctl("net.ipv4.tcp_syncookies", "0");
  CHECK(value_or_throw(s.sysctl("net.ipv4.tcp_syncookies")) == "0");
  CHECK(value_or_throw(lab.node("L").sysctl("net.ipv4.tcp_syncookies")) == "1");  // a new namespace's default
  CHECK(own_syncookies() == own);
  s.set_sysctl("net.ipv4.tcp_syncookies", "1");
  CHECK(value_or_throw(s.sysctl("net.ipv4.tcp_syncookies")) == "1");

  // Names outside net.* are the machine's, not the namespace's: refused before any write.
  for (const char* bad : {"kernel.hostname", "net.ipv4/../../kernel/hostname", "net..ipv4", "net.ipv4.", "vm.swappiness"}) {
    CAPTURE(bad);
    try {
      s.set_sysctl(bad, "1");
      FAIL("accepted");
    } catch (const LabError& e) {
      CHECK(std::string(e.what()).find(bad) != std::string::npos);
      CHECK(std::string(e.what()).find("only net.*") != std::string::npos);
    }
    const auto read = s.sysctl(bad);
    REQUIRE_FALSE(read);
    CHECK(read.error().message().find("only net.*") != std::string::npos);
  }
  CHECK_THROWS_AS(s.set_sysctl("net.ipv4.no_such_sysctl", "1"), LabError);
  CHECK_FALSE(s.sysctl("net.ipv4.no_such_sysctl"));
}

TEST_CASE("TTL 1 through a router: dropped there, ICMP time exceeded quotes it; TTL 64 arrives as 63", "[lab][capture]") {
  Lab lab = Lab::create();
  Node& r = add_two_lans(lab);
  const auto before = value_or_throw(r.kernel_counters());
  std::vector<Lab::Place> at;
  for (const auto& p : lab.places(false)) {
    if (p.node->name() != "R") at.push_back(p);
  }
  auto cap = value_or_throw(LabCapture::start(at));
  auto a = lab.run_on(lab.node("A"), [](Participant& p) {
    auto s = value_or_throw(UdpSocket::open(AF_INET, {.trace = p.trace}));
    const auto to = value_or_throw(Endpoint::from_host_port("10.0.2.1", 9));
    value_or_throw(s.set_ttl(1));
    value_or_throw(s.send_to(bytes_of("one hop"), to));
    value_or_throw(s.set_ttl(64));
    value_or_throw(s.send_to(bytes_of("many hops"), to));
  });
  a.join();
  CHECK(cap.wait_for("A:eth0", [](const RawPacket& p) { return is_time_exceeded_for(p, {10, 0, 2, 1}); }, 5s));
  CHECK(cap.wait_for("B:eth0", [](const RawPacket& p) { return is_udp_with_ttl(p, 63); }, 5s));
  const auto events = value_or_throw(cap.stop());
  // The TTL-1 datagram never reached B.
  CHECK(std::ranges::none_of(events, [](const auto& e) {
    return is_udp_with_ttl(e.frame, 0) && std::ranges::any_of(e.seen, [](const auto& s) { return s.place == "B:eth0"; });
  }));
  CHECK(delta(before, r, "IcmpOutTimeExcds") == 1);
}

TEST_CASE("forged SYNs: any target that is not another host of this lab is refused, nothing sent", "[lab]") {
  Lab lab = Lab::create();
  add_lan(lab, "sw", {"S", "X"}, "10.0.0", 0x0a);
  Node& x = lab.node("X");
  Lab other = Lab::create();
  Node& y = other.add_host("Y");
  const auto tx_before = value_or_throw(x.counters("eth0")).tx_packets;

  struct Bad {
    ForgedSyns plan;
    const Node* from;
    const char* why;
  };
  const Bad bad[] = {
      {{.target = "127.0.0.1", .port = 80, .count = 1}, &x, "no host of this lab"},
      {{.target = "8.8.8.8", .port = 80, .count = 1}, &x, "no host of this lab"},
      {{.target = "10.0.0.99", .port = 80, .count = 1}, &x, "no host of this lab"},
      {{.target = "10.0.0.2", .port = 80, .count = 1}, &x, "sender's own"},
      {{.target = "server", .port = 80, .count = 1}, &x, "not an IPv4 address"},
      {{.target = "10.0.0.1", .port = 80, .count = 0}, &x, "not between 1 and"},
      {{.target = "10.0.0.1", .port = 80, .count = max_forged_syns + 1}, &x, "not between 1 and"},
      {{.target = "10.0.0.1", .port = 0, .count = 1}, &x, "port 0"},
      {{.target = "10.0.0.1", .port = 80, .count = 1, .sources = 0}, &x, "sources 0"},
      {{.target = "10.0.0.1", .port = 80, .count = 10, .first_port = 65530}, &x, "do not fit"},
      {{.target = "10.0.0.1", .port = 80, .count = 1}, &y, "not a node of this lab"},
      {{.target = "10.0.0.1", .port = 80, .count = 1}, &lab.node("sw"), "is a switch"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.plan.target, b.why);
    const auto r = send_forged_syns(lab, *b.from, b.plan);
    REQUIRE_FALSE(r);
    const std::string text = r.error().message();
    CHECK(text.find("\"" + b.plan.target + "\"") != std::string::npos);
    CHECK(text.find(b.why) != std::string::npos);
  }
  CHECK(value_or_throw(x.counters("eth0")).tx_packets == tx_before);
  CHECK_FALSE(x.is_current_namespace());
  CHECK(x.in_namespace([&] { return x.is_current_namespace() && !lab.node("S").is_current_namespace(); }));
}

TEST_CASE("forged SYNs fill a listener's SYN queue without cookies; with cookies a real client still connects",
          "[lab]") {
  Lab lab = Lab::create();
  add_lan(lab, "sw", {"S", "X", "L"}, "10.0.0", 0x0a);
  Node& s = lab.node("S");
  Node& x = lab.node("X");
  Node& l = lab.node("L");
  lab.add_neighbour(x, "eth0", "10.0.0.1", Mac::local(0x0a));  // no ARP wait before the burst
  s.set_sysctl("net.ipv4.tcp_syncookies", "0");
  constexpr int backlog = 4;
  constexpr int queued = backlog + 1;  // the kernel lets the SYN queue hold backlog + 1
  auto listener = s.in_namespace([] {
    return value_or_throw(TcpListener::bind(Endpoint::any_v4(0), {.backlog = backlog}));
  });
  const auto port = value_or_throw(listener.local_endpoint()).port();
  const auto to_s = value_or_throw(Endpoint::from_host_port("10.0.0.1", port));

  const ForgedSyns plan{.target = "10.0.0.1", .port = port, .count = 40, .sources = 8};
  // The forged sources "belong" to a MAC nobody holds: S's SYN-ACKs go out and are lost,
  // and no failed ARP request cuts the half-open connections short.
  for (const auto& a : value_or_throw(forged_sources(lab, plan))) lab.add_neighbour(s, "eth0", a, Mac::local(0xee));
  const auto before = value_or_throw(s.kernel_counters());
  const auto sent = value_or_throw(send_forged_syns(lab, x, plan));
  CHECK(sent.sent == 40);
  REQUIRE(sent.sources.size() == 8);
  CHECK(sent.sources.front() == "10.0.0.254");  // the subnet's top, held by nobody
  CHECK(std::ranges::none_of(sent.sources, [](const std::string& a) { return a == "10.0.0.1" || a == "10.0.0.2" || a == "10.0.0.3"; }));
  // `queued` half-open connections fill the SYN queue; every later SYN is dropped.
  CHECK(wait_for_delta(before, s, "TcpExtTCPReqQFullDrop", 40 - queued) == 40 - queued);
  CHECK(delta(before, s, "TcpExtListenDrops") == 40 - queued);
  CHECK(delta(before, s, "TcpExtSyncookiesSent") == 0);
  CHECK(half_open(s, port) == queued);

  // The real client's SYN is dropped the same way: not answered.
  auto blocked = l.in_namespace([&] { return value_or_throw(TcpStream::connect_start(to_s)); });
  CHECK(wait_for_delta(before, s, "TcpExtTCPReqQFullDrop", 40 - queued + 1) == 40 - queued + 1);
  pollfd p{blocked.fd(), POLLOUT, 0};
  CHECK(::poll(&p, 1, 0) == 0);  // no SYN-ACK came: still connecting
  value_or_throw(blocked.close());

  // Cookies on: the queue is still full of the forged half-open connections, yet the
  // server answers every SYN with a cookie and keeps no state for it.
  s.set_sysctl("net.ipv4.tcp_syncookies", "1");
  // New source ports: a SYN with the 4-tuple of a queued half-open connection is a
  // retransmission of it (answered with its SYN-ACK again), not a new connection.
  const auto mid = value_or_throw(s.kernel_counters());
  value_or_throw(send_forged_syns(lab, x, {.target = "10.0.0.1", .port = port, .count = 10, .sources = 8, .first_port = 30000}));
  CHECK(wait_for_delta(mid, s, "TcpExtSyncookiesSent", 10) == 10);
  CHECK(half_open(s, port) == queued);  // no state kept for the cookies
  auto served = l.in_namespace([&] { return TcpStream::connect(to_s, {.timeout = 5000ms}); });
  REQUIRE(served);
  CHECK(s.in_namespace([&] { return listener.accept(5000ms); }));
  CHECK(delta(mid, s, "TcpExtTCPReqQFullDrop") == 0);
  CHECK(delta(mid, s, "TcpExtSyncookiesSent") == 11);
}
