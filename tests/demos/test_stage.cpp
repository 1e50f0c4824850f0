// The stage (demos/common/stage.hpp) with lab participants: a script over three hosts
// on a switch records each host's calls under its name, captures on every place of the
// lab, keeps its findings apart, and leaves no namespace behind.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "observe.hpp"
#include "report.hpp"
#include "session.hpp"
#include "socklab/capture/terminal.hpp"
#include "socklab/lab/lab.hpp"

namespace {

using namespace socklab;
using namespace std::chrono_literals;
using demo::Actor;
using demo::Session;

constexpr std::array<std::string_view, 2> kKeys{"heard", "verdict_heard"};
using Note = demo::Key<kKeys>;

demo::Lesson test_lesson() {
  auto l = demo::Lesson::parse("test/stage.md",
                               "# Stage test\n\nThree hosts.\n\n## Notes\n\n"
                               "- heard: {who} heard {what}.\n"
                               "- verdict_heard: Both heard it: {observed}.\n");
  REQUIRE(l);
  return *l;
}

demo::CommonOptions options(bool capture) {
  demo::CommonOptions o;
  o.capture = capture;
  return o;
}

std::string text_of(std::span<const std::byte> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

}  // namespace

TEST_CASE("a script over three lab hosts records each host's calls under its name", "[stage][lab]") {
  auto common = demo::Lesson::load("common", demo::Lang::en);
  REQUIRE(common);
  std::set<std::string> heard;
  std::vector<net::CallEvent> calls;
  std::vector<capture::PacketRecord> packets;
  std::vector<std::vector<std::string>> places;
  {
    Session s(options(true), "stage", test_lesson(), *common);
    auto& lab = s.lab();
    lab::add_lan(lab, "sw", {"A", "B", "C"}, "10.0.0", 0x0a);
    // The listeners exist before anyone plays: A's connect is queued by the kernel,
    // whenever B and C get to accept().
    std::map<std::string, net::TcpListener> listeners;
    for (const char* host : {"B", "C"}) {
      listeners.emplace(host, lab.node(host).in_namespace([&] {
        return demo::must(net::TcpListener::bind(net::Endpoint::any_v4(7000), {.trace = s.trace(host)}));
      }));
    }
    REQUIRE(s.capture(demo::CaptureSpec::on_lab(lab.places(), "tcp")));
    auto listen_and_hear = [&](Actor& me) {
      auto conn = demo::must(listeners.at(me.name).accept(s.patience()));
      std::array<std::byte, 16> buf{};
      const auto n = demo::must(conn.stream.recv_exact(std::span(buf).first(5)));
      s.record_note(me.name, "heard", Note{"heard"}, {{"who", me.name}, {"what", text_of(std::as_bytes(std::span(buf).first(n)))}});
      s.end_capture();
    };
    s.play({{"B", listen_and_hear, &lab.node("B")},
            {"C", listen_and_hear, &lab.node("C")},
            {"A",
             [&](Actor& me) {
               for (const char* to : {"10.0.0.2", "10.0.0.3"}) {
                 auto stream = demo::must(net::TcpStream::connect(demo::must(net::Endpoint::from_host_port(to, 7000)),
                                                                  {.timeout = s.patience(), .trace = me.trace}));
                 demo::must(stream.send_all(std::string_view("hello")));
                 REQUIRE(demo::wait_until_acknowledged(stream, s.patience()));
               }
               s.end_capture();
             },
             &lab.node("A")}});
    for (const auto& c : s.calls())
      if (c.call == "note") heard.insert(c.participant);
    s.verdict("heard", 2, static_cast<int>(heard.size()), Note{"verdict_heard"});
    calls = s.calls();
    packets = s.packets();
    for (const auto& p : packets) places.push_back(s.places_of(p));
    CHECK(s.participants() == std::vector<std::string>{"B", "C", "A"});
    // The ladder: one column per participant, in the order the lesson shows them,
    // within 80 columns; A's SYN to B is an arrow between their lifelines.
    s.show_columns({"A", "sw", "B", "C"});
    const auto ladder = demo::render_timeline(s, *common, {.ascii = false, .color = false, .width = 80});
    std::istringstream rows(ladder);
    std::string row;
    std::getline(rows, row);
    CHECK(row == "Timeline (one column per participant; time runs down)");
    std::getline(rows, row);
    for (const char* title : {"┬ A", "┬ sw", "┬ B", "┬ C"}) CHECK(row.find(title) != std::string::npos);
    bool syn_arrow = false;
    while (std::getline(rows, row)) {
      CHECK(capture::display_width(row) <= 80);
      if (row.find("S seq 0") != std::string::npos && row.find("▶") != std::string::npos) syn_arrow = true;
    }
    CHECK(syn_arrow);
    CHECK(s.named_participants());
    REQUIRE(s.verdicts().size() == 1);
    CHECK(s.verdicts()[0].ok);
    CHECK(s.verdicts()[0].text == "Both heard it: 2.");
    for (const auto& c : calls) {
      if (c.call != "note") continue;
      const auto note = s.call_note(c);
      REQUIRE(note);
      CHECK(*note == c.participant + " heard hello.");
    }
  }
  CHECK(heard == std::set<std::string>{"B", "C"});
  // Every call carries its host's name; each host made the calls its part says.
  std::map<std::string, std::multiset<std::string>> by_host;
  for (const auto& c : calls) {
    CHECK(c.side == net::Side::none);
    by_host[c.participant].insert(c.call);
  }
  CHECK(by_host.size() == 3);
  CHECK(by_host["A"].count("connect") == 2);
  CHECK(by_host["A"].count("send") == 2);
  CHECK(by_host["B"].count("listen") == 1);
  CHECK(by_host["B"].count("accept") == 1);
  CHECK(by_host["C"].count("accept") == 1);
  CHECK(by_host["B"].count("connect") == 0);
  // The capture ran at every place: A's SYN to B is one event seen at A, at the
  // switch's two ports on the way, and at B; never at C.
  const auto syn_to_b = std::find_if(packets.begin(), packets.end(), [](const capture::PacketRecord& p) {
    return p.flags == "S" && p.dst == "10.0.0.2:7000";
  });
  REQUIRE(syn_to_b != packets.end());
  const auto& seen = places[static_cast<std::size_t>(syn_to_b - packets.begin())];
  CHECK(std::set<std::string>(seen.begin(), seen.end()) ==
        std::set<std::string>{"A:eth0", "sw:A-eth0", "sw:B-eth0", "B:eth0"});
  CHECK(seen.front() == "A:eth0");
  // The stage is gone, and its lab with it.
  const std::string mine = "socklab-" + std::to_string(::getpid()) + "-";
  for (const auto& ns : lab::socklab_namespaces()) CHECK_FALSE(ns.starts_with(mine));
}

TEST_CASE("without a lab the stage still plays named participants on loopback", "[stage]") {
  auto common = demo::Lesson::load("common", demo::Lang::en);
  REQUIRE(common);
  Session s(options(false), "stage", test_lesson(), *common);
  auto listener = demo::must(net::TcpListener::bind(net::Endpoint::loopback_v4(0), {.trace = s.trace("ear")}));
  const auto at = listener.endpoint();
  s.play({{"ear", [&](Actor&) { auto c = demo::must(listener.accept(s.patience())); }},
          {"mouth", [&](Actor& me) {
             auto c = demo::must(net::TcpStream::connect(at, {.timeout = s.patience(), .trace = me.trace}));
           }}});
  const auto calls = s.calls();
  CHECK(std::any_of(calls.begin(), calls.end(), [](const net::CallEvent& c) { return c.participant == "ear" && c.call == "accept"; }));
  CHECK(std::any_of(calls.begin(), calls.end(), [](const net::CallEvent& c) { return c.participant == "mouth" && c.call == "connect"; }));
  CHECK_FALSE(s.capturing());
  CHECK(s.packets().empty());
}

TEST_CASE("a participant waits for a frame at a place no socket of it reads", "[stage][lab]") {
  auto common = demo::Lesson::load("common", demo::Lang::en);
  REQUIRE(common);
  Session s(options(true), "stage", test_lesson(), *common);
  auto& lab = s.lab();
  lab::add_lan(lab, "hub", {"A", "B", "C"}, "10.0.0", 0x0a, true);
  REQUIRE(s.capture(demo::CaptureSpec::on_lab(lab.places(), "udp")));
  const auto to_c = demo::must(net::Endpoint::from_host_port("10.0.0.3", 9));
  const auto is_datagram = [](const capture::RawPacket& p) { return p.bytes.size() > 23 && p.bytes[23] == 17; };
  bool at_b = false, at_nowhere = true;
  s.play({{"A",
           [&](Actor& me) {
             auto sock = demo::must(net::UdpSocket::open(AF_INET, {.trace = me.trace}));
             demo::must(sock.send_to(std::as_bytes(std::span("x", 1)), to_c));
             // B's kernel drops it (not its MAC), but the hub repeated it onto B's cable.
             at_b = s.wait_for_frame("B:eth0", is_datagram, s.patience());
             at_nowhere = s.wait_for_frame("nowhere:eth0", is_datagram, 1ms);
             s.end_capture();
           },
           &lab.node("A")}});
  CHECK(at_b);
  CHECK_FALSE(at_nowhere);
  CHECK_FALSE(s.wait_for_frame("B:eth0", is_datagram, 1ms));  // the capture has stopped
}
