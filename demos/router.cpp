// demo-router — two LANs joined by a router: A and B on LAN 1, C on LAN 2, R between
// them (a namespace with forwarding on). A sends a UDP datagram to C and C answers.
// The frames captured on both LANs show what a router does: A asks ARP for R, not for
// C; the frame is made anew at R (other MAC addresses) while the IP addresses stay;
// the TTL goes down by one. --ttl 1: R drops the datagram and answers with ICMP time
// exceeded, quoting the datagram it dropped (the idea behind traceroute).
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "demo.hpp"
#include "observe.hpp"
#include "socklab/capture/packet.hpp"

namespace {

using namespace socklab;
using demo::Actor;
using demo::must;
using demo::Session;
using demo::Values;

constexpr std::array<std::string_view, 35> kNoteKeys{
    // the timeline: calls
    "bind", "ttl_set", "ttl_default", "sendto", "recvfrom_c", "sendto_c", "recvfrom_a", "icmp_counted",
    // the timeline: frames
    "arp_for_router", "arp_request", "arp_reply", "there_lan1", "there_lan2", "back_lan2", "back_lan1",
    "time_exceeded", "wire_other",
    // facts
    "routes", "neighbours", "router_counters", "arp_heard", "sender_seen_by_c", "frame_lan_1", "frame_lan_2",
    // verdicts
    "verdict_arp", "verdict_mac", "verdict_ip", "verdict_ttl", "verdict_reply", "verdict_time_exceeded",
    "verdict_quote", "verdict_lan2", "why_no_icmp",
    // usage, and a step that did not happen (the lesson stops)
    "usage_role", "failed_no_time_exceeded"};
using Note = demo::Key<kNoteKeys>;

constexpr std::string_view kPing = "ping", kPong = "pong";
constexpr std::uint16_t kPort = 5000;
constexpr std::string_view kIpA = "10.0.1.1", kIpC = "10.0.2.1", kIpR1 = "10.0.1.254";
// add_two_lans: A :0a, B :0b on LAN 1, C :0c on LAN 2, R's eth0 :f1 and eth1 :f2.
const lab::Mac kMacA = lab::Mac::local(0x0a), kMacC = lab::Mac::local(0x0c);
const lab::Mac kMacR1 = lab::Mac::local(0xf1), kMacR2 = lab::Mac::local(0xf2);
// The router's counters the lesson shows (nstat's names), as deltas over the run.
constexpr std::array<std::string_view, 3> kRouterCounters{"IpForwDatagrams", "IpInHdrErrors", "IcmpOutTimeExcds"};

std::string address_text(const capture::IpAddress& a) {
  std::array<char, 48> buf{};
  return {buf.data(), capture::format_address(a, buf.data())};
}

// One captured frame as this lesson reads it, with the LAN it was seen on.
struct Frame {
  const capture::PacketRecord* record = nullptr;
  int lan = 0;                 // 1 or 2, from the places that captured it
  std::string eth_src, eth_dst;
  std::uint16_t arp_op = 0;    // capture::arp_op, 0: not ARP
  std::string arp_sender, arp_target, arp_sender_mac;
  bool ipv4 = false;
  std::string ip_src, ip_dst;
  int ttl = 0, ip_id = 0, ip_checksum = 0;
  std::string payload;         // UDP
  bool icmp = false;
  int icmp_type = 0, icmp_code = 0;
  capture::IcmpHeader quote;

  [[nodiscard]] bool carries(std::string_view text) const { return record->proto == capture::Proto::udp && payload == text; }
  [[nodiscard]] bool time_exceeded() const { return icmp && icmp_type == 11; }
};

// LAN 1 is A's, B's and R's eth0; LAN 2 is R's eth1 and C's.
int lan_of(const std::vector<std::string>& places) {
  for (const auto& p : places) {
    if (p == "R:eth1" || p.starts_with("C:")) return 2;
    if (p == "R:eth0" || p.starts_with("A:") || p.starts_with("B:")) return 1;
  }
  return 0;
}

Frame read_frame(const Session& s, const capture::PacketRecord& p) {
  Frame f;
  f.record = &p;
  f.lan = lan_of(s.places_of(p));
  f.eth_src = p.eth_src;
  f.eth_dst = p.eth_dst;
  if (p.n == 0 || p.n > s.raw_packets().size()) return f;
  const auto& raw = s.raw_packets()[p.n - 1];
  const auto d = capture::decode(s.capture_link(), raw.bytes, raw.wire_len, raw.ts_ns);
  if (d.arp.ethernet_ipv4) {
    f.arp_op = d.arp.op;
    f.arp_sender = address_text(d.arp.sender_ip);
    f.arp_target = address_text(d.arp.target_ip);
    f.arp_sender_mac = lab::Mac{d.arp.sender_mac}.str();
  }
  if (d.reached >= capture::Layer::network && d.ip.version == 4) {
    f.ipv4 = true;
    f.ip_src = address_text(d.ip.src);
    f.ip_dst = address_text(d.ip.dst);
    f.ttl = d.ip.ttl;
    f.ip_id = d.ip.id;
    f.ip_checksum = d.ip.checksum;
  }
  if (d.proto == capture::Proto::udp) f.payload.assign(d.payload.begin(), d.payload.end());
  if (d.proto == capture::Proto::icmp) {
    f.icmp = true;
    f.icmp_type = d.icmp.type;
    f.icmp_code = d.icmp.code;
    f.quote = d.icmp.quote_len > 0 ? d.icmp : capture::IcmpHeader{};
  }
  return f;
}

std::vector<Frame> frames_of(const Session& s) {
  std::vector<Frame> out;
  for (const auto& p : s.packets()) out.push_back(read_frame(s, p));
  return out;
}

const Frame* find(const std::vector<Frame>& frames, int lan, const std::function<bool(const Frame&)>& match) {
  const auto it = std::ranges::find_if(frames, [&](const Frame& f) { return f.lan == lan && match(f); });
  return it == frames.end() ? nullptr : &*it;
}

// "default via 10.0.1.254 dev eth0", "10.0.1.0/24 dev eth0 scope link": as `ip route` shows them.
std::string route_text(const lab::Route& r) {
  std::string out = r.destination;
  if (!r.gateway.empty()) out += " via " + r.gateway;
  out += " dev " + r.interface;
  if (r.scope == "link") out += " scope link";
  return out;
}

nlohmann::json route_json(const lab::Route& r) {
  return {{"destination", r.destination}, {"gateway", r.gateway}, {"interface", r.interface},
          {"source", r.source},           {"protocol", r.protocol}, {"scope", r.scope}};
}

// Each node's main routing table, read back over netlink: shown once, before anything is sent.
void show_routes(Session& s, lab::Lab& lab) {
  for (const char* name : {"A", "B", "R", "C"}) {
    const auto routes = must(lab.node(name).routes());
    nlohmann::json value = nlohmann::json::array();
    std::vector<std::string> lines;
    for (const auto& r : routes) {
      value.push_back(route_json(r));
      lines.push_back(route_text(r));
    }
    s.fact(fmt::format("routes_{}", name), value, Note{"routes"},
           {{"host", name}, {"routes", fmt::format("{}", fmt::join(lines, "; "))}});
  }
}

// What A's ARP table holds after the run (netlink): the router's MAC, never C's.
void show_neighbours(Session& s, const lab::Node& node) {
  const auto table = must(node.neighbours());
  nlohmann::json value = nlohmann::json::array();
  std::vector<std::string> known;
  for (const auto& n : table) {
    value.push_back({{"ip", n.ip}, {"mac", n.mac ? n.mac->str() : ""}, {"state", n.state}});
    known.push_back(n.mac ? n.ip + " " + n.mac->str() : n.ip);
  }
  s.fact(fmt::format("neighbours_{}", node.name()), value, Note{"neighbours"},
         {{"host", node.name()}, {"known", fmt::format("{}", fmt::join(known, ", "))}});
}

std::map<std::string, std::int64_t> router_deltas(const lab::KernelCounters& before, const lab::KernelCounters& after) {
  std::map<std::string, std::int64_t> out;
  for (const auto name : kRouterCounters) {
    if (const auto d = lab::KernelCounters::delta(before, after, name)) out.emplace(name, *d);
  }
  return out;
}

// The timeline's note beside each frame.
std::optional<std::string> frame_note(const Session& s, const Frame& f) {
  const std::string lan = std::to_string(f.lan);
  if (f.arp_op == capture::arp_op::request && f.eth_src == kMacA.str() && f.arp_target == kIpR1)
    return s.note(Note{"arp_for_router"}, {{"target", f.arp_target}, {"destination", std::string(kIpC)}});
  if (f.arp_op == capture::arp_op::request)
    return s.note(Note{"arp_request"}, {{"lan", lan}, {"target", f.arp_target}, {"sender", f.arp_sender}});
  if (f.arp_op == capture::arp_op::reply)
    return s.note(Note{"arp_reply"}, {{"lan", lan}, {"ip", f.arp_sender}, {"mac", f.arp_sender_mac}});
  const Values ip{{"src", f.ip_src}, {"dst", f.ip_dst}, {"ttl", std::to_string(f.ttl)}};
  auto with = [&](Values v) {
    v.insert(v.end(), ip.begin(), ip.end());
    return v;
  };
  if (f.carries(kPing) && f.lan == 1) return s.note(Note{"there_lan1"}, ip);
  if (f.carries(kPing) && f.lan == 2) return s.note(Note{"there_lan2"}, ip);
  if (f.carries(kPong) && f.lan == 2) return s.note(Note{"back_lan2"}, ip);
  if (f.carries(kPong) && f.lan == 1) return s.note(Note{"back_lan1"}, ip);
  if (f.time_exceeded())
    return s.note(Note{"time_exceeded"}, with({{"frame", std::to_string(f.record->related)},
                                              {"sport", std::to_string(f.quote.quoted_sport)},
                                              {"dport", std::to_string(f.quote.quoted_dport)}}));
  return s.note(Note{"wire_other"});
}

nlohmann::json macs(const Frame* f) { return f ? nlohmann::json{f->eth_src, f->eth_dst} : nlohmann::json(); }
nlohmann::json ips(const Frame* f) { return f ? nlohmann::json{f->ip_src, f->ip_dst} : nlohmann::json(); }
nlohmann::json ttl(const Frame* f) { return f ? nlohmann::json(f->ttl) : nlohmann::json(); }

// The two frames of one datagram, one above the other: what changed at R and what did not.
void show_frame(Session& s, std::string name, const Frame* f) {
  if (f == nullptr) return;
  s.fact(std::move(name),
         {{"eth_src", f->eth_src}, {"eth_dst", f->eth_dst}, {"ip_src", f->ip_src}, {"ip_dst", f->ip_dst},
          {"ttl", f->ttl}, {"ip_checksum", fmt::format("0x{:04x}", f->ip_checksum)}, {"data", f->payload},
          {"seen", s.places_of(*f->record)}},
         f->lan == 1 ? Note{"frame_lan_1"} : Note{"frame_lan_2"},
         {{"data", f->payload}, {"eth_src", f->eth_src}, {"eth_dst", f->eth_dst}, {"ip_src", f->ip_src},
          {"ip_dst", f->ip_dst}, {"ttl", std::to_string(f->ttl)}, {"checksum", fmt::format("0x{:04x}", f->ip_checksum)},
          {"places", fmt::format("{}", fmt::join(s.places_of(*f->record), ", "))}});
}

// A's ARP requests: whose MAC it asked for, and where the broadcast was heard.
void verdict_arp(Session& s, const std::vector<Frame>& frames) {
  nlohmann::json asked = nlohmann::json::array();
  for (const auto& f : frames) {
    if (f.arp_op != capture::arp_op::request || f.eth_src != kMacA.str()) continue;
    asked.push_back(f.arp_target);
    const auto& places = s.places_of(*f.record);
    s.fact("arp_request_heard", {{"eth_dst", f.eth_dst}, {"target", f.arp_target}, {"seen", places}},
           Note{"arp_heard"}, {{"eth_dst", f.eth_dst}, {"places", fmt::format("{}", fmt::join(places, ", "))}});
  }
  s.verdict("arp_for_router_not_target", nlohmann::json{kIpR1}, asked, Note{"verdict_arp"},
            {{"asked", fmt::format("{}", fmt::join(asked, ", "))}, {"destination", std::string(kIpC)}});
}

void verdicts_through(Session& s, const std::vector<Frame>& frames, int sent_ttl) {
  const auto ping = [](const Frame& f) { return f.carries(kPing); };
  const auto pong = [](const Frame& f) { return f.carries(kPong); };
  const Frame* there1 = find(frames, 1, ping);
  const Frame* there2 = find(frames, 2, ping);
  const Frame* back2 = find(frames, 2, pong);
  const Frame* back1 = find(frames, 1, pong);
  show_frame(s, "frame_there_lan1", there1);
  show_frame(s, "frame_there_lan2", there2);
  verdict_arp(s, frames);
  const auto one = [](const Frame* f, std::string Frame::* field) { return f ? f->*field : std::string("?"); };
  s.verdict("mac_rewritten_at_router", {{"lan1", {kMacA.str(), kMacR1.str()}}, {"lan2", {kMacR2.str(), kMacC.str()}}},
            {{"lan1", macs(there1)}, {"lan2", macs(there2)}}, Note{"verdict_mac"},
            {{"lan1_src", one(there1, &Frame::eth_src)}, {"lan1_dst", one(there1, &Frame::eth_dst)},
             {"lan2_src", one(there2, &Frame::eth_src)}, {"lan2_dst", one(there2, &Frame::eth_dst)}});
  s.verdict("ip_addresses_unchanged", {{"lan1", {kIpA, kIpC}}, {"lan2", {kIpA, kIpC}}},
            {{"lan1", ips(there1)}, {"lan2", ips(there2)}}, Note{"verdict_ip"},
            {{"lan1_src", one(there1, &Frame::ip_src)}, {"lan1_dst", one(there1, &Frame::ip_dst)},
             {"lan2_src", one(there2, &Frame::ip_src)}, {"lan2_dst", one(there2, &Frame::ip_dst)}});
  s.verdict("ttl_decremented", {{"lan1", sent_ttl}, {"lan2", sent_ttl - 1}}, {{"lan1", ttl(there1)}, {"lan2", ttl(there2)}},
            Note{"verdict_ttl"},
            {{"lan1", there1 ? std::to_string(there1->ttl) : "?"}, {"lan2", there2 ? std::to_string(there2->ttl) : "?"}});
  s.verdict("reply_same_way",
            {{"lan2", {{"mac", {kMacC.str(), kMacR2.str()}}, {"ip", {kIpC, kIpA}}}},
             {"lan1", {{"mac", {kMacR1.str(), kMacA.str()}}, {"ip", {kIpC, kIpA}}}}},
            {{"lan2", {{"mac", macs(back2)}, {"ip", ips(back2)}}}, {"lan1", {{"mac", macs(back1)}, {"ip", ips(back1)}}}},
            Note{"verdict_reply"},
            {{"lan2_src", one(back2, &Frame::eth_src)}, {"lan2_dst", one(back2, &Frame::eth_dst)},
             {"lan1_src", one(back1, &Frame::eth_src)}, {"lan1_dst", one(back1, &Frame::eth_dst)},
             {"ip_src", one(back1, &Frame::ip_src)}, {"ip_dst", one(back1, &Frame::ip_dst)}});
}

void verdicts_expired(Session& s, const std::vector<Frame>& frames, std::uint16_t sport) {
  const Frame* sent = find(frames, 1, [](const Frame& f) { return f.carries(kPing); });
  const Frame* icmp = find(frames, 1, [](const Frame& f) { return f.time_exceeded(); });
  show_frame(s, "frame_there_lan1", sent);
  verdict_arp(s, frames);
  nlohmann::json observed;
  if (icmp) {
    observed = {{"type", icmp->icmp_type}, {"code", icmp->icmp_code}, {"from", icmp->ip_src},
                {"eth_src", icmp->eth_src}, {"to", icmp->ip_dst}};
  }
  s.verdict("time_exceeded_from_router",
            {{"type", 11}, {"code", 0}, {"from", kIpR1}, {"eth_src", kMacR1.str()}, {"to", kIpA}}, observed,
            Note{"verdict_time_exceeded"},
            {{"from", icmp ? icmp->ip_src : "?"}, {"eth_src", icmp ? icmp->eth_src : "?"},
             {"type", icmp ? std::to_string(icmp->icmp_type) : "?"}, {"code", icmp ? std::to_string(icmp->icmp_code) : "?"}});
  s.why(Note{"why_no_icmp"});
  // The quote, read from the ICMP message's bytes, against the datagram A sent.
  nlohmann::json quoted;
  if (icmp && icmp->quote.has_quote) {
    quoted = {{"src", address_text(icmp->quote.quoted_src)}, {"dst", address_text(icmp->quote.quoted_dst)},
              {"protocol", icmp->quote.quoted_protocol},     {"id", icmp->quote.quoted_id},
              {"sport", icmp->quote.quoted_sport},           {"dport", icmp->quote.quoted_dport},
              {"frame", icmp->record->related}};
  }
  s.verdict("quotes_our_datagram",
            {{"src", kIpA}, {"dst", kIpC}, {"protocol", 17}, {"id", sent ? sent->ip_id : -1}, {"sport", sport},
             {"dport", kPort}, {"frame", sent ? sent->record->n : 0}},
            quoted, Note{"verdict_quote"},
            {{"frame", sent ? std::to_string(sent->record->n) : "?"}, {"sport", std::to_string(sport)},
             {"dport", std::to_string(kPort)}, {"id", sent ? std::to_string(sent->ip_id) : "?"}});
  const auto on_lan2 = std::ranges::count_if(frames, [](const Frame& f) { return f.lan == 2; });
  s.verdict("nothing_on_lan2", 0, on_lan2, Note{"verdict_lan2"}, {{"frames", std::to_string(on_lan2)}});
}

void router(Session& s, int ttl_flag) {
  if (s.options().role != demo::Role::both)
    throw demo::UsageError(s.note(Note{"usage_role"}));
  const bool expires = ttl_flag == 1;
  if (ttl_flag != 0) s.set_variant(expires ? "ttl1" : "ttl", fmt::format("--ttl {}", ttl_flag));
  auto& lab = s.lab();
  lab::Node& r = lab::add_two_lans(lab, {"A", "B"}, {"C"});
  // LAN 1 on the left, LAN 2 on the right; B (LAN 1) has no column: it only hears A's
  // broadcast, which the fact on A's ARP request lists among the places that saw it.
  s.show_columns({"A", "R", "C"});
  s.keep_raw_packets();
  show_routes(s, lab);
  // What the lesson talks about: not the IGMP reports a bridge sends on its own a
  // random while after it comes up (RFC 3376's unsolicited reports).
  s.capture(demo::CaptureSpec::on_lab(lab.places(false), "arp or udp or icmp"));
  s.explain_packets([&s](const capture::PacketRecord& p) { return frame_note(s, read_frame(s, p)); });

  const auto at_c = must(net::Endpoint::from_host_port(std::string(kIpC), kPort));
  // C's socket exists before A sends: the datagram finds it.
  auto c_socket = lab.node("C").in_namespace([&] { return must(net::UdpSocket::bind(at_c, {.trace = s.trace("C")})); });
  s.explain("C", "bind", Note{"bind"});
  const auto r_before = must(r.kernel_counters());
  int sent_ttl = 0;
  std::uint16_t sport = 0;
  std::string sender_at_c;

  std::vector<demo::Part> parts{
      {"A",
       [&](Actor& me) {
         const auto& a = *me.host;
         auto sock = must(net::UdpSocket::open(AF_INET, {.trace = me.trace}));
         if (ttl_flag != 0) {
           must(sock.set_ttl(ttl_flag));
           s.explain("A", "setsockopt", Note{"ttl_set"}, {{"ttl", std::to_string(ttl_flag)}});
         }
         sent_ttl = must(sock.ttl());
         if (ttl_flag == 0) s.record_note("A", fmt::format("IP_TTL {}", sent_ttl), Note{"ttl_default"}, {{"ttl", std::to_string(sent_ttl)}});
         const auto before = must(a.kernel_counters());
         must(sock.send_to(demo::bytes_of(kPing), at_c));
         s.explain("A", "sendto", Note{"sendto"});
         sport = must(sock.local_endpoint()).port();
         if (expires) {
           // The router's ICMP message reaches A's kernel, not A's socket (a soft error,
           // reported only with IP_RECVERR): A's kernel counts it, and that is what A waits for.
           const auto counted = [&] {
             const auto now = a.kernel_counters();
             return now && lab::KernelCounters::delta(before, *now, "IcmpInTimeExcds").value_or(0) >= 1;
           };
           if (!demo::wait_until(counted, s.patience()))
             throw demo::DemoFailure(s.note(Note{"failed_no_time_exceeded"}));
           s.record_note("A", "ICMP +1", Note{"icmp_counted"});
         } else {
           std::array<std::byte, 64> buf{};
           must(sock.recv_from(buf, s.patience()));
           s.explain("A", "recvfrom", Note{"recvfrom_a"});
         }
         s.end_capture();
       },
       &lab.node("A")}};
  if (!expires) {
    parts.push_back({"C",
                     [&](Actor&) {
                       std::array<std::byte, 64> buf{};
                       const auto got = must(c_socket.recv_from(buf, s.patience()));
                       sender_at_c = got.from.to_string();
                       s.explain("C", "recvfrom", Note{"recvfrom_c"}, {{"from", sender_at_c}});
                       must(c_socket.send_to(demo::bytes_of(kPong), got.from));
                       s.explain("C", "sendto", Note{"sendto_c"}, {{"to", sender_at_c}});
                       s.end_capture();
                     },
                     &lab.node("C")});
  }
  s.play(std::move(parts));

  // What the kernels say, with or without the capture.
  if (!sender_at_c.empty())
    s.fact("sender_seen_by_c", sender_at_c, Note{"sender_seen_by_c"}, {{"from", sender_at_c}});
  show_neighbours(s, lab.node("A"));
  const auto deltas = router_deltas(r_before, must(r.kernel_counters()));
  const auto shown = [&](std::string_view name) {
    const auto it = deltas.find(std::string(name));
    return it == deltas.end() ? std::string("?") : std::to_string(it->second);
  };
  s.fact("router_counters", deltas, Note{"router_counters"},
         {{"forwarded", shown("IpForwDatagrams")}, {"header_errors", shown("IpInHdrErrors")},
          {"time_exceeded", shown("IcmpOutTimeExcds")}});

  if (!s.capturing()) return;  // the frames are the capture's: without it, only the calls and the kernels
  const auto frames = frames_of(s);
  if (expires) {
    verdicts_expired(s, frames, sport);
  } else {
    verdicts_through(s, frames, sent_ttl);
  }
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"router", "demo-router: two LANs and a router, MACs change at each hop, IPs stay, the TTL drops", kNoteKeys});
  int ttl = 0;
  app.cli().add_option("--ttl", ttl, "A's IP TTL (1: the datagram dies at the router, ICMP time exceeded)")
      ->check(CLI::Range(1, 255));
  return app.run(argc, argv, [&](Session& s) { router(s, ttl); });
}
