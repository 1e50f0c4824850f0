// demo-lan — the LAN: three hosts A, B and C on a switch (a lab of network namespaces
// and a Linux bridge); A sends two UDP datagrams to C's IP address. The first needs ARP:
// A's request goes to ff:ff:ff:ff:ff:ff and reaches B and C, C's reply goes to A alone,
// then the datagram reaches C only. A's ARP table and the switch's MAC table are read
// back over netlink before and after; the MAC addresses of the run are taken apart bit
// by bit. --hub: the switch floods every frame, and the datagram is seen at B too.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <bitset>
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

constexpr std::array<std::string_view, 44> kNoteKeys{
    // the timeline
    "label_arp", "label_fdb", "bind_c", "table_before", "sendto_first", "table_resolved",
    "sendto_second", "recvfrom", "fdb_before", "fdb_after", "wire_request", "wire_reply", "wire_datagram",
    "wire_other",
    // what the tables and the addresses showed (facts)
    "empty", "fact_table_before", "fact_during", "fact_arp_gap", "fact_table_after", "fact_c_table", "fact_b_table",
    "fact_fdb_before", "fact_fdb_after", "own_ports", "mac_anatomy", "who_host", "who_port", "who_broadcast", "who_broadcast_address",
    "mac_local_unicast", "mac_maker", "mac_broadcast",
    // verdicts
    "verdict_resolved", "verdict_request_broadcast", "verdict_reply_unicast", "verdict_reply_hub",
    "verdict_datagram_only_at_c", "verdict_seen_at_b", "verdict_second_no_arp", "verdict_learned",
    "verdict_hub_learned_nothing",
    // usage, and a step that did not happen (the lesson stops)
    "usage_role", "failed_no_arp_reply", "failed_frames_missed"};
using Note = demo::Key<kNoteKeys>;

constexpr std::uint16_t kPort = 5000;
constexpr std::string_view kFirst = "one", kSecond = "two";
constexpr std::string_view kIpA = "10.0.0.1", kIpC = "10.0.0.3";
const lab::Mac kMacA = lab::Mac::local(0x0a), kMacB = lab::Mac::local(0x0b), kMacC = lab::Mac::local(0x0c);

// "10.0.0.3 REACHABLE 02:00:00:00:00:0c", one entry per host; the lesson's word for none when empty.
std::string neighbours_text(const Session& s, const std::vector<lab::Neighbour>& table) {
  if (table.empty()) return s.note(Note{"empty"});
  std::vector<std::string> out;
  for (const auto& n : table) out.push_back(fmt::format("{} {}{}", n.ip, n.state, n.mac ? " " + n.mac->str() : ""));
  return fmt::format("{}", fmt::join(out, ", "));
}

nlohmann::json neighbours_json(const std::vector<lab::Neighbour>& table) {
  auto out = nlohmann::json::array();
  for (const auto& n : table)
    out.push_back({{"ip", n.ip}, {"state", n.state}, {"mac", n.mac ? n.mac->str() : ""}, {"interface", n.interface}});
  return out;
}

const lab::Neighbour* entry_for(const std::vector<lab::Neighbour>& table, std::string_view ip) {
  const auto it = std::ranges::find_if(table, [&](const lab::Neighbour& n) { return n.ip == ip; });
  return it == table.end() ? nullptr : &*it;
}

std::vector<lab::FdbEntry> learned(const std::vector<lab::FdbEntry>& fdb) {
  std::vector<lab::FdbEntry> out;
  std::ranges::copy_if(fdb, std::back_inserter(out), [](const lab::FdbEntry& e) { return !e.local; });
  return out;
}

// "02:00:00:00:00:0a @ A-eth0 (0.2 s); 3 of its own (its ports' MACs, not learned)"
std::string fdb_text(const Session& s, const std::vector<lab::FdbEntry>& fdb) {
  std::vector<std::string> out;
  for (const auto& e : learned(fdb)) out.push_back(fmt::format("{} @ {} ({:.1f} s)", e.mac.str(), e.port, e.age_s));
  const auto own = std::ranges::count_if(fdb, [](const lab::FdbEntry& e) { return e.local; });
  out.push_back(s.note(Note{"own_ports"}, {{"n", std::to_string(own)}}));
  return fmt::format("{}", fmt::join(out, "; "));
}

nlohmann::json fdb_json(const std::vector<lab::FdbEntry>& fdb) {
  auto out = nlohmann::json::array();
  for (const auto& e : fdb) out.push_back({{"mac", e.mac.str()}, {"port", e.port}, {"age_s", e.age_s}, {"local", e.local}});
  return out;
}

std::string port_of(const std::vector<lab::FdbEntry>& fdb, const lab::Mac& mac) {
  for (const auto& e : learned(fdb))
    if (e.mac == mac) return e.port;
  return "";
}

// The hosts among the places that saw a frame ("A:eth0" -> "A"), in order; the
// switch's ports left out.
std::vector<std::string> host_names(const std::vector<std::string>& places) {
  std::vector<std::string> hosts;
  for (const auto& p : places)
    if (p.ends_with(":eth0")) hosts.push_back(p.substr(0, p.find(':')));
  std::ranges::sort(hosts);
  return hosts;
}

// "A, C": for the timeline's narrow note column (the verdicts give every place).
std::string hosts_of(const std::vector<std::string>& places) { return fmt::format("{}", fmt::join(host_names(places), ", ")); }

// A's second datagram, as captured anywhere.
bool is_second_datagram(const capture::RawPacket& raw) {
  const auto d = capture::decode(capture::LinkType::ethernet, raw.bytes, raw.wire_len, raw.ts_ns);
  return d.proto == capture::Proto::udp && d.dport == kPort &&
         std::string_view(reinterpret_cast<const char*>(d.payload.data()), d.payload.size()) == kSecond;
}

// One frame of the capture as the lesson reads it.
struct Seen {
  capture::DecodedPacket frame;
  std::vector<std::string> places;
  std::int64_t ts_ns = 0;
  // The hosts whose own interface saw the frame ("A", "C"), in order.
  [[nodiscard]] nlohmann::json hosts() const {
    auto out = nlohmann::json::array();
    for (const auto& h : host_names(places)) out.push_back(h);
    return out;
  }
  // The places in a fixed order (the hosts, then the switch's ports): the order the
  // flooded copies were captured in is the kernel's, not the lesson's.
  [[nodiscard]] std::string where() const {
    auto sorted = places;
    std::ranges::sort(sorted);
    return fmt::format("{}", fmt::join(sorted, ", "));
  }
};

struct Wire {
  std::vector<Seen> requests, replies, datagrams;  // ARP requests from A, replies to A, A's datagrams to C
};

Wire read_wire(const Session& s) {
  Wire w;
  for (const auto& p : s.packets()) {
    if (p.n == 0 || p.n > s.raw_packets().size()) continue;
    const auto& raw = s.raw_packets()[p.n - 1];
    Seen seen{capture::decode(s.capture_link(), raw.bytes, raw.wire_len, raw.ts_ns), s.places_of(p), raw.ts_ns};
    const auto& arp = seen.frame.arp;
    if (arp.ethernet_ipv4 && arp.op == capture::arp_op::request && arp.sender_mac == kMacA.bytes) {
      w.requests.push_back(std::move(seen));
    } else if (arp.ethernet_ipv4 && arp.op == capture::arp_op::reply && arp.target_mac == kMacA.bytes) {
      w.replies.push_back(std::move(seen));
    } else if (p.proto == capture::Proto::udp && p.dport == kPort && p.src.starts_with(std::string(kIpA) + ":")) {
      w.datagrams.push_back(std::move(seen));
    }
  }
  return w;
}


std::string mac_of(const std::array<std::uint8_t, 6>& m) { return lab::Mac{m}.str(); }

// The anatomy of one address of the run: its first byte bit by bit, and what the two
// low bits say (IEEE 802: bit 0 I/G, bit 1 U/L).
void explain_mac(Session& s, std::string name, const lab::Mac& mac, std::string who) {
  const bool local = mac.is_local(), multicast = mac.is_multicast();
  const std::string meaning = mac.is_broadcast() ? s.note(Note{"mac_broadcast"})
                              : local           ? s.note(Note{"mac_local_unicast"}, {{"oui", mac.oui()}})
                                                : s.note(Note{"mac_maker"}, {{"oui", mac.oui()}});
  s.fact(std::move(name),
         {{"mac", mac.str()}, {"oui", mac.oui()}, {"locally_administered", local}, {"multicast", multicast},
          {"broadcast", mac.is_broadcast()}},
         Note{"mac_anatomy"},
         {{"who", std::move(who)}, {"mac", mac.str()}, {"bits", std::bitset<8>(mac.bytes[0]).to_string()}, {"local", local ? "1" : "0"},
          {"multicast", multicast ? "1" : "0"}, {"meaning", meaning}});
}

// Returns the ARP request's destination, as captured.
lab::Mac explain_wire(Session& s, bool hub);

void lan(Session& s, bool hub) {
  if (s.options().role != demo::Role::both)
    throw demo::UsageError(s.note(Note{"usage_role"}));
  if (hub) s.set_variant("hub", "--hub");
  auto& lab = s.lab();
  auto& sw = lab::add_lan(lab, "sw", {"A", "B", "C"}, "10.0.0", 0x0a, hub);
  auto& a = lab.node("A");
  auto& c = lab.node("C");
  s.show_columns({"A", "sw", "B", "C"});  // the sender on the left, the switch between
  s.keep_raw_packets();

  const auto table_before = must(a.neighbours());
  const auto fdb_before = must(sw.fdb());
  const std::string label_arp = s.note(Note{"label_arp"}), label_fdb = s.note(Note{"label_fdb"});
  s.record_note("A", label_arp, Note{"table_before"}, {{"entries", neighbours_text(s, table_before)}});
  s.record_note("sw", label_fdb, Note{"fdb_before"}, {{"n", std::to_string(learned(fdb_before).size())}});

  s.capture(demo::CaptureSpec::on_lab(lab.places(), "arp or udp"));
  s.explain_packets([&s](const capture::PacketRecord& p) -> std::optional<std::string> {
    const auto where = hosts_of(s.places_of(p));
    if (p.n == 0 || p.n > s.raw_packets().size()) return s.note(Note{"wire_other"});
    const auto& raw = s.raw_packets()[p.n - 1];
    const auto d = capture::decode(s.capture_link(), raw.bytes, raw.wire_len, raw.ts_ns);
    if (d.arp.ethernet_ipv4 && d.arp.op == capture::arp_op::request) return s.note(Note{"wire_request"}, {{"places", where}});
    if (d.arp.ethernet_ipv4 && d.arp.op == capture::arp_op::reply) return s.note(Note{"wire_reply"}, {{"places", where}});
    if (p.proto == capture::Proto::udp) return s.note(Note{"wire_datagram"}, {{"places", where}});
    return s.note(Note{"wire_other"});
  });

  const auto at_c = must(net::Endpoint::from_host_port(std::string(kIpC), kPort));
  // C's socket exists before A sends: the datagrams find it.
  auto c_socket = c.in_namespace([&] { return must(net::UdpSocket::bind(at_c, {.trace = s.trace("C")})); });
  s.explain("C", "bind", Note{"bind_c"});

  std::vector<lab::Neighbour> table_during;
  s.play({{"A",
           [&](Actor& me) {
             auto sock = must(net::UdpSocket::open(AF_INET, {.trace = me.trace}));
             must(sock.send_to(demo::bytes_of(kFirst), at_c));
             s.explain("A", "sendto", Note{"sendto_first"});
             // Read at once: the state is whatever the kernel reached by now (a fact, not a row
             // of the timeline, whose rows are the same in every run).
             table_during = must(a.neighbours());
             // The second datagram goes once C's MAC is known: woken by netlink, no sleep.
             const auto resolved = must(a.wait_for_neighbours(
                 [](const std::vector<lab::Neighbour>& t) {
                   const auto* e = entry_for(t, kIpC);
                   return e != nullptr && e->mac && e->state == "REACHABLE";
                 },
                 s.patience()));
             const auto* e = entry_for(resolved, kIpC);
             if (e == nullptr || !e->mac) throw demo::DemoFailure(s.note(Note{"failed_no_arp_reply"}));
             s.record_note("A", label_arp, Note{"table_resolved"}, {{"state", e->state}, {"mac", e->mac->str()}});
             must(sock.send_to(demo::bytes_of(kSecond), at_c));
             s.explain("A", "sendto", Note{"sendto_second"});
             s.end_capture();
           },
           &a},
          {"C",
           [&](Actor&) {
             for (int i = 0; i < 2; ++i) {
               std::array<std::byte, 64> buf{};
               const auto got = must(c_socket.recv_from(buf, s.patience()));
               s.explain("C", "recvfrom", Note{"recvfrom"},
                         {{"data", std::string(reinterpret_cast<const char*>(buf.data()), got.size)}});
             }
             // A hub floods C's copy and B's in turn: B's may still be on its way when C has
             // read its own. The capture ends once B's interface saw it (bounded: if the hub
             // never floods it, the verdict says so).
             if (hub && s.capturing()) s.wait_for_frame("B:eth0", is_second_datagram, s.patience());
             s.end_capture();
           },
           &c}});

  // What the kernel's tables hold now, read back over netlink.
  const auto table_after = must(a.neighbours());
  const auto table_c = must(c.neighbours());
  const auto table_b = must(lab.node("B").neighbours());
  const auto fdb_after = must(sw.fdb());
  s.record_note("sw", label_fdb, Note{"fdb_after"}, {{"n", std::to_string(learned(fdb_after).size())}});

  s.fact("arp_table_before", neighbours_json(table_before), Note{"fact_table_before"},
         {{"entries", neighbours_text(s, table_before)}});
  const auto* during = entry_for(table_during, kIpC);
  s.fact("arp_table_after_first_sendto", neighbours_json(table_during), Note{"fact_during"},
         {{"state", during ? during->state : s.note(Note{"empty"})}});
  s.fact("arp_table_after", neighbours_json(table_after), Note{"fact_table_after"},
         {{"entries", neighbours_text(s, table_after)}});
  s.fact("c_arp_table", neighbours_json(table_c), Note{"fact_c_table"}, {{"entries", neighbours_text(s, table_c)}});
  s.fact("b_arp_table", neighbours_json(table_b), Note{"fact_b_table"}, {{"entries", neighbours_text(s, table_b)}});
  s.fact("fdb_before", fdb_json(fdb_before), Note{"fact_fdb_before"}, {{"entries", fdb_text(s, fdb_before)}});
  s.fact("fdb_after", fdb_json(fdb_after), Note{"fact_fdb_after"}, {{"entries", fdb_text(s, fdb_after)}});

  const auto* c_entry = entry_for(table_after, kIpC);
  const std::string c_mac = c_entry && c_entry->mac ? c_entry->mac->str() : "";
  const std::string c_state = c_entry ? c_entry->state : "";
  s.verdict("arp_resolved", {{"ip", kIpC}, {"state", "REACHABLE"}, {"mac", kMacC.str()}},
            {{"ip", c_entry ? c_entry->ip : ""}, {"state", c_state}, {"mac", c_mac}}, Note{"verdict_resolved"},
            {{"state", c_state}, {"mac", c_mac}});
  const auto learned_after = learned(fdb_after);
  if (hub) {
    auto macs = nlohmann::json::array();
    for (const auto& e : learned_after) macs.push_back(e.mac.str() + "@" + e.port);
    s.verdict("hub_learned_nothing", nlohmann::json::array(), macs, Note{"verdict_hub_learned_nothing"},
              {{"n", std::to_string(learned_after.size())}});
  } else {
    const nlohmann::json observed{{"A", port_of(fdb_after, kMacA)}, {"B", port_of(fdb_after, kMacB)},
                                  {"C", port_of(fdb_after, kMacC)}};
    s.verdict("switch_learned_ports", {{"A", "A-eth0"}, {"B", ""}, {"C", "C-eth0"}}, observed, Note{"verdict_learned"},
              {{"a", kMacA.str()}, {"port_a", port_of(fdb_after, kMacA)}, {"c", kMacC.str()},
               {"port_c", port_of(fdb_after, kMacC)}});
  }

  // The frames are the capture's: without it, only the calls and the tables.
  const bool wire = s.capturing();
  const lab::Mac request_dst = wire ? explain_wire(s, hub) : lab::Mac::broadcast();
  explain_mac(s, "mac_host", kMacA, s.note(Note{"who_host"}));
  explain_mac(s, "mac_port", sw.interface("A-eth0").mac, s.note(Note{"who_port"}));
  // The captured request's destination; without the capture, the address itself (no frame seen).
  explain_mac(s, "mac_broadcast", request_dst, s.note(wire ? Note{"who_broadcast"} : Note{"who_broadcast_address"}));
}

// What the frames showed, from the capture at every place.
lab::Mac explain_wire(Session& s, bool hub) {
  const Wire w = read_wire(s);
  if (w.requests.empty() || w.replies.empty() || w.datagrams.size() < 2)
    throw demo::DemoFailure(s.note(Note{"failed_frames_missed"}, {{"requests", std::to_string(w.requests.size())},
                                                                 {"replies", std::to_string(w.replies.size())},
                                                                 {"datagrams", std::to_string(w.datagrams.size())}}));
  const Seen& request = w.requests.front();
  const Seen& reply = w.replies.front();
  const Seen& first = w.datagrams.front();
  const Seen& second = w.datagrams[1];
  s.fact("arp_exchange_us", static_cast<double>(reply.ts_ns - request.ts_ns) / 1000.0, Note{"fact_arp_gap"},
         {{"us", fmt::format("{:.0f}", static_cast<double>(reply.ts_ns - request.ts_ns) / 1000.0)}});

  s.verdict("arp_request_broadcast", {{"dst", lab::Mac::broadcast().str()}, {"target", kIpC}, {"hosts", {"A", "B", "C"}}},
            {{"dst", mac_of(request.frame.link.dst_mac)},
             {"target", fmt::format("{}.{}.{}.{}", request.frame.arp.target_ip.bytes[0], request.frame.arp.target_ip.bytes[1],
                                    request.frame.arp.target_ip.bytes[2], request.frame.arp.target_ip.bytes[3])},
             {"hosts", request.hosts()}},
            Note{"verdict_request_broadcast"},
            {{"ip", std::string(kIpC)}, {"dst", mac_of(request.frame.link.dst_mac)}, {"places", request.where()}});
  // Seen at C's interface too: C sent it.
  const nlohmann::json flooded{"A", "B", "C"}, a_and_c{"A", "C"};
  s.verdict("arp_reply_unicast", {{"dst", kMacA.str()}, {"hosts", hub ? flooded : a_and_c}},
            {{"dst", mac_of(reply.frame.link.dst_mac)}, {"hosts", reply.hosts()}},
            hub ? Note{"verdict_reply_hub"} : Note{"verdict_reply_unicast"},
            {{"dst", mac_of(reply.frame.link.dst_mac)}, {"places", reply.where()}});
  const nlohmann::json first_seen{{"dst", mac_of(first.frame.link.dst_mac)}, {"hosts", first.hosts()}};
  if (hub) {
    s.verdict("seen_at_b_with_hub", {{"dst", kMacC.str()}, {"hosts", flooded}}, first_seen,
              Note{"verdict_seen_at_b"}, {{"dst", mac_of(first.frame.link.dst_mac)}, {"places", first.where()}});
  } else {
    s.verdict("datagram_only_at_c", {{"dst", kMacC.str()}, {"hosts", a_and_c}}, first_seen,
              Note{"verdict_datagram_only_at_c"}, {{"dst", mac_of(first.frame.link.dst_mac)}, {"places", first.where()}});
  }
  const auto requests_before_second = std::ranges::count_if(w.requests, [&](const Seen& r) { return r.ts_ns < second.ts_ns; });
  s.verdict("second_datagram_without_arp", {{"arp_requests", 1}, {"hosts", hub ? flooded : a_and_c}},
            {{"arp_requests", requests_before_second}, {"hosts", second.hosts()}}, Note{"verdict_second_no_arp"},
            {{"n", std::to_string(requests_before_second)}, {"places", second.where()}});
  return lab::Mac{request.frame.link.dst_mac};
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"lan", "demo-lan: a LAN of three hosts on a switch: MAC addresses, ARP broadcast and unicast, the switch's table",
                  kNoteKeys});
  bool hub = false;
  app.cli().add_flag("--hub", hub, "Make the switch a hub: it learns nothing and floods every frame to every port");
  return app.run(argc, argv, [&](Session& s) { lan(s, hub); });
}
