// demo-layers — the OSI layers: one message ("hello") from host A to host B over a
// veth cable in a lab (two network namespaces). It goes down the layers on A (your
// program's send(), the kernel's TCP and IP headers, the driver's Ethernet header)
// and up them on B, and the lesson shows each header's real bytes, read from the
// frame captured at A's and B's interfaces. --udp: the same with a datagram.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "demo.hpp"
#include "socklab/capture/packet.hpp"

namespace {

using namespace socklab;
using demo::Actor;
using demo::must;
using demo::Session;

constexpr std::array<std::string_view, 30> kNoteKeys{
    // the timeline
    "listen", "connect", "send", "recv", "bind_udp", "sendto", "recvfrom", "wire_data", "wire_other",
    // down on A, up on B (facts)
    "down_heading", "app_down", "transport_tcp", "transport_udp", "network", "link", "physical", "up_heading",
    "link_up", "network_up", "transport_up", "app_up", "osi_map", "no_header",
    // verdicts
    "verdict_link", "verdict_network", "verdict_transport", "verdict_seen",
    // bad usage, and a step that did not happen (the lesson stops), in the run's language
    "usage_role", "failed_not_acknowledged", "failed_not_captured"};
using Note = demo::Key<kNoteKeys>;

constexpr std::string_view kMessage = "hello";
constexpr std::uint16_t kPort = 5000;
constexpr std::string_view kIpA = "10.0.0.1", kIpB = "10.0.0.2";
const lab::Mac kMacA = lab::Mac::local(0x0a), kMacB = lab::Mac::local(0x0b);

std::string hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) out += fmt::format("{}{:02x}", i == 0 ? "" : " ", bytes[i]);
  return out;
}

std::string mac_text(const std::array<std::uint8_t, 6>& m) { return lab::Mac{m}.str(); }

std::string ipv4_text(const capture::IpAddress& a) {
  return fmt::format("{}.{}.{}.{}", a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]);
}

std::string tcp_flags_text(std::uint16_t f) {
  std::string out;
  if (f & capture::tcp_flags::syn) out += 'S';
  if (f & capture::tcp_flags::fin) out += 'F';
  if (f & capture::tcp_flags::rst) out += 'R';
  if (f & capture::tcp_flags::psh) out += 'P';
  if (f & capture::tcp_flags::ack) out += '.';
  return out;
}

// Two hosts joined by a cable, each knowing the other's MAC (a static ARP entry:
// ARP is the LAN lesson's; here one frame carries the message, nothing before it).
void build_lab(lab::Lab& lab) {
  auto& a = lab.add_host("A");
  auto& b = lab.add_host("B");
  lab.connect(a, {.address = std::string(kIpA) + "/24", .mac = kMacA}, b, {.address = std::string(kIpB) + "/24", .mac = kMacB});
  lab.add_neighbour(a, "eth0", kIpB, kMacB);
  lab.add_neighbour(b, "eth0", kIpA, kMacA);
}

// The frame that carried the message from A to B, and where it was seen.
struct Carried {
  capture::RawPacket frame;
  std::vector<std::string> seen;
};

std::optional<Carried> find_message(const Session& s) {
  for (const auto& p : s.packets()) {
    if (p.len != kMessage.size() || !p.src.starts_with(std::string(kIpA) + ":")) continue;
    if (p.n == 0 || p.n > s.raw_packets().size()) continue;
    return Carried{s.raw_packets()[p.n - 1], s.places_of(p)};
  }
  return std::nullopt;
}

// The walk down the layers on A and up on B, each header's bytes as captured.
void explain_layers(Session& s, const Carried& c, bool udp, const std::string& sport) {
  const auto d = capture::decode(s.capture_link(), c.frame.bytes, c.frame.wire_len, c.frame.ts_ns);
  const std::span<const std::uint8_t> all(c.frame.bytes);
  const auto link_bytes = all.first(d.link.length);
  const auto ip_bytes = all.subspan(d.link.length, d.ip.header_len);
  const std::size_t transport_len = udp ? 8 : d.tcp.header_len;
  const auto transport_bytes = all.subspan(d.link.length + d.ip.header_len, transport_len);
  const std::string payload(d.payload.begin(), d.payload.end());
  const std::string src_mac = mac_text(d.link.src_mac), dst_mac = mac_text(d.link.dst_mac);
  const std::string src_ip = ipv4_text(d.ip.src), dst_ip = ipv4_text(d.ip.dst);
  const std::string ethertype = fmt::format("0x{:04x}", d.link.protocol);
  const std::string protocol = std::to_string(d.ip.protocol);
  const std::string call_out = udp ? "sendto()" : "send()", call_in = udp ? "recvfrom()" : "recv()";
  const std::string where = fmt::format("{}", fmt::join(c.seen, ", "));

  s.fact("down", {{"host", "A"}, {"ip", kIpA}, {"mac", kMacA.str()}}, Note{"down_heading"},
         {{"ip", std::string(kIpA)}, {"mac", kMacA.str()}});
  s.fact("application", {{"call", call_out}, {"bytes", hex(d.payload)}, {"data", payload}}, Note{"app_down"},
         {{"call", call_out}, {"n", std::to_string(d.payload.size())}, {"data", payload}, {"bytes", hex(d.payload)}});
  if (udp) {
    s.fact("transport",
           {{"proto", "udp"}, {"bytes", hex(transport_bytes)}, {"sport", d.sport}, {"dport", d.dport}, {"length", d.udp.length}},
           Note{"transport_udp"},
           {{"n", std::to_string(transport_len)}, {"sport", std::to_string(d.sport)}, {"dport", std::to_string(d.dport)},
            {"length", std::to_string(d.udp.length)}, {"bytes", hex(transport_bytes)}});
  } else {
    s.fact("transport",
           {{"proto", "tcp"}, {"bytes", hex(transport_bytes)}, {"sport", d.sport}, {"dport", d.dport}, {"seq", d.tcp.seq},
            {"ack", d.tcp.ack}, {"flags", tcp_flags_text(d.tcp.flags)}},
           Note{"transport_tcp"},
           {{"n", std::to_string(transport_len)}, {"sport", std::to_string(d.sport)}, {"dport", std::to_string(d.dport)},
            {"seq", std::to_string(d.tcp.seq)}, {"ack", std::to_string(d.tcp.ack)}, {"flags", tcp_flags_text(d.tcp.flags)},
            {"bytes", hex(transport_bytes)}});
  }
  s.fact("network",
         {{"bytes", hex(ip_bytes)}, {"src", src_ip}, {"dst", dst_ip}, {"ttl", d.ip.ttl}, {"protocol", d.ip.protocol}},
         Note{"network"},
         {{"n", std::to_string(ip_bytes.size())}, {"src", src_ip}, {"dst", dst_ip}, {"ttl", std::to_string(d.ip.ttl)},
          {"protocol", protocol}, {"name", udp ? "UDP" : "TCP"}, {"bytes", hex(ip_bytes)}});
  s.fact("link", {{"bytes", hex(link_bytes)}, {"src", src_mac}, {"dst", dst_mac}, {"ethertype", ethertype}}, Note{"link"},
         {{"n", std::to_string(link_bytes.size())}, {"src", src_mac}, {"dst", dst_mac}, {"ethertype", ethertype},
          {"bytes", hex(link_bytes)}, {"frame", std::to_string(c.frame.bytes.size())}});
  s.fact("physical", nullptr, Note{"physical"});
  s.fact("up", {{"host", "B"}, {"ip", kIpB}, {"mac", kMacB.str()}}, Note{"up_heading"},
         {{"ip", std::string(kIpB)}, {"mac", kMacB.str()}});
  s.fact("link_up", where, Note{"link_up"}, {{"dst", dst_mac}, {"n", std::to_string(link_bytes.size())}});
  s.fact("network_up", dst_ip, Note{"network_up"},
         {{"dst", dst_ip}, {"protocol", protocol}, {"n", std::to_string(ip_bytes.size())}});
  s.fact("transport_up", d.dport, Note{"transport_up"},
         {{"dport", std::to_string(d.dport)}, {"n", std::to_string(transport_len)}});
  s.fact("application_up", payload, Note{"app_up"}, {{"call", call_in}, {"n", std::to_string(payload.size())}, {"data", payload}});
  s.fact("osi", nullptr, Note{"osi_map"});
  s.fact("no_header", nullptr, Note{"no_header"});

  s.verdict("link", {{"src", kMacA.str()}, {"dst", kMacB.str()}, {"ethertype", "0x0800"}},
            {{"src", src_mac}, {"dst", dst_mac}, {"ethertype", ethertype}}, Note{"verdict_link"},
            {{"src", src_mac}, {"dst", dst_mac}});
  s.verdict("network", {{"src", kIpA}, {"dst", kIpB}, {"protocol", udp ? 17 : 6}},
            {{"src", src_ip}, {"dst", dst_ip}, {"protocol", d.ip.protocol}}, Note{"verdict_network"},
            {{"src", src_ip}, {"dst", dst_ip}});
  s.verdict("transport", {{"sport", sport}, {"dport", std::to_string(kPort)}, {"data", kMessage}},
            {{"sport", std::to_string(d.sport)}, {"dport", std::to_string(d.dport)}, {"data", payload}},
            Note{"verdict_transport"}, {{"sport", std::to_string(d.sport)}, {"dport", std::to_string(d.dport)}});
  s.verdict("seen", nlohmann::json{"A:eth0", "B:eth0"}, c.seen, Note{"verdict_seen"}, {{"places", where}});
}


void layers(Session& s, bool udp) {
  if (s.options().role != demo::Role::both)
    throw demo::UsageError(s.note(Note{"usage_role"}));
  if (udp) s.set_variant("udp", "--udp");
  auto& lab = s.lab();
  build_lab(lab);
  s.show_columns({"A", "B"});  // the sender on the left
  s.keep_raw_packets();
  s.capture(demo::CaptureSpec::on_lab(lab.places(), "ip"));
  s.explain_packets([&s](const capture::PacketRecord& p) -> std::optional<std::string> {
    if (p.len == kMessage.size() && p.src.starts_with(std::string(kIpA) + ":")) return s.note(Note{"wire_data"});
    return s.note(Note{"wire_other"});
  });
  const auto at_b = must(net::Endpoint::from_host_port(std::string(kIpB), kPort));
  std::string sport;
  if (udp) {
    // B's socket exists before A sends: the datagram finds it.
    auto b_socket = lab.node("B").in_namespace([&] { return must(net::UdpSocket::bind(at_b, {.trace = s.trace("B")})); });
    s.explain("B", "bind", Note{"bind_udp"});
    s.play({{"A",
             [&](Actor& me) {
               auto sock = must(net::UdpSocket::open(AF_INET, {.trace = me.trace}));
               must(sock.send_to(demo::bytes_of(kMessage), at_b));
               s.explain("A", "sendto", Note{"sendto"});
               sport = std::to_string(must(sock.local_endpoint()).port());
               s.end_capture();
             },
             &lab.node("A")},
            {"B",
             [&](Actor&) {
               std::array<std::byte, 64> buf{};
               must(b_socket.recv_from(buf, s.patience()));
               s.explain("B", "recvfrom", Note{"recvfrom"});
               s.end_capture();
             },
             &lab.node("B")}});
  } else {
    // B listens before A connects: the kernel queues A's connection until accept().
    auto listener = lab.node("B").in_namespace([&] { return must(net::TcpListener::bind(at_b, {.trace = s.trace("B")})); });
    s.explain("B", "listen", Note{"listen"});
    s.play({{"A",
             [&](Actor& me) {
               auto stream = must(net::TcpStream::connect(at_b, {.timeout = s.patience(), .trace = me.trace}));
               s.explain("A", "connect", Note{"connect"});
               must(stream.send_all(kMessage));
               s.explain("A", "send", Note{"send"});
               sport = std::to_string(must(stream.local_endpoint()).port());
               if (!demo::wait_until_acknowledged(stream, s.patience()))
                 throw demo::DemoFailure(s.note(Note{"failed_not_acknowledged"}));
               s.end_capture();
             },
             &lab.node("A")},
            {"B",
             [&](Actor&) {
               auto conn = must(listener.accept(s.patience()));
               std::array<std::byte, 5> buf{};
               must(conn.stream.recv_exact(buf));
               s.explain("B", "recv", Note{"recv"});
               s.end_capture();
             },
             &lab.node("B")}});
  }
  if (!s.capturing()) return;  // the headers are in the frame: without the capture, only the calls
  const auto carried = find_message(s);
  if (!carried) throw demo::DemoFailure(s.note(Note{"failed_not_captured"}, {{"message", std::string(kMessage)}}));
  explain_layers(s, *carried, udp, sport);
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"layers", "demo-layers: the OSI layers, one message from host A to host B, header by header", kNoteKeys});
  bool udp = false;
  app.cli().add_flag("--udp", udp, "Send the message as a UDP datagram instead of over a TCP connection");
  return app.run(argc, argv, [&](Session& s) { layers(s, udp); });
}
