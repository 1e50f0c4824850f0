// demo-synflood — the SYN flood: forged SYNs fill a listener's half-open (SYN) queue, so
// a real client's SYN finds no room; SYN cookies take the state away and let it in.
//
// A lab of three hosts on a switch: S listens with listen(4), X sends --syns forged SYNs
// from a raw socket (lab::send_forged_syns, which aims only at a host of this lab), L is
// a real client. Phase 1, net.ipv4.tcp_syncookies = 0 in S's namespace: the queue fills,
// S sends its SYN-ACKs again to addresses nobody holds, L's SYN is dropped and sent
// again, and L gives up. Phase 2, tcp_syncookies = 1 (Linux's default: cookies once the
// SYN queue is full, which it still is): the same flood gets cookies, the queue does not
// grow, and L connects. Every step waits for what S's or L's kernel reports (counters,
// SYN_RECV sockets, TCP_INFO), never for a guessed time.
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "demo.hpp"
#include "socklab/lab/forged_syn.hpp"

namespace {

using namespace socklab;
using capture::PacketRecord;
using demo::Actor;
using demo::must;
using demo::Session;
using net::TcpState;

constexpr std::array<std::string_view, 52> kNoteKeys{
    // the timeline
    "listen", "cookies_off", "flood", "label_flood", "queue_full", "label_queue", "flood_dropped", "label_dropped",
    "synack_again", "label_synack_again", "connect_blocked", "client_syn_sent", "give_up", "cookies_on", "flood_again",
    "queue_kept", "connect_served", "accept",
    // the wire
    "wire_forged", "wire_forged_last", "wire_synack_forged", "wire_synack_again", "wire_legit_syn",
    "wire_legit_syn_again", "wire_legit_syn_cookies", "wire_cookie", "wire_cookie_last", "wire_legit_cookie", "wire_legit_ack", "wire_other",
    // the summary
    "fact_lab", "fact_sources", "verdict_queue_filled", "verdict_synack_retransmitted", "verdict_blocked",
    "verdict_counters_off", "verdict_cookies_sent", "verdict_no_state", "verdict_served", "verdict_counters_on",
    "fact_syn_times", "verdict_synack_again_wire",
    // usage
    "usage_role", "usage_target",
    // a step that did not happen (the lesson stops)
    "failed_no_counter", "failed_waiting", "waited_cookies_on", "waited_flood", "waited_l_syn", "waited_cookies_sent",
    "waited_synack_again", "waited_l_drops"};
using Note = demo::Key<kNoteKeys>;

constexpr int kBacklog = 4;
constexpr int kMinSyns = 10;  // more than the SYN queue of listen(kBacklog) holds
constexpr std::uint16_t kPort = 8080;
constexpr std::string_view kServer = "10.0.0.1", kAttacker = "10.0.0.2", kClient = "10.0.0.3";
// The MAC S's static ARP entries give the forged sources: nobody holds it, so S's
// SYN-ACKs leave on the LAN and are lost, and no failed ARP request (which would make
// S's kernel drop the half-open connections after about 3 s) hides the flood.
const lab::Mac kNobody = lab::Mac::local(0xee);
// A new source port for every forged SYN of both floods: a SYN with the 4-tuple of a
// connection still half-open would be a retransmission of it, not a new one.
constexpr std::uint16_t kFirstPort = 20000, kSecondPort = 30000;

// S's kernel as the lesson reads it, from any participant's thread (the lab runs on one
// machine: L and X look at S's kernel to know when the flood has been handled, as a
// person would watch `ss` and `nstat` on S).
struct ServerKernel {
  const lab::Node& node;
  lab::KernelCounters before;  // at the start, before the first forged SYN
  const Session& session;      // its notes say what is missing

  [[nodiscard]] int half_open() const {
    return node.in_namespace([] {
      return static_cast<int>(must(net::find_tcp_sockets({.local_port = kPort, .states = {TcpState::syn_recv}})).size());
    });
  }
  [[nodiscard]] lab::KernelCounters now() const { return must(node.kernel_counters()); }

  [[nodiscard]] static std::int64_t delta(const Session& s, const lab::KernelCounters& from,
                                          const lab::KernelCounters& to, std::string_view name) {
    const auto d = lab::KernelCounters::delta(from, to, name);
    if (!d) throw demo::DemoFailure(s.note(Note{"failed_no_counter"}, {{"name", std::string(name)}}));
    return *d;
  }
  [[nodiscard]] std::int64_t since_start(std::string_view name) const { return delta(session, before, now(), name); }
  [[nodiscard]] bool cookies_on() const { return must(node.sysctl("net.ipv4.tcp_syncookies")) != "0"; }
};

// `what`: the note naming what did not happen.
void wait_for(const Session& s, const std::function<bool()>& condition, std::chrono::milliseconds patience, Note what) {
  if (!demo::wait_until(condition, patience)) {
    throw demo::DemoFailure(s.note(Note{"failed_waiting"}, {{"what", s.note(what)}, {"s", std::to_string(patience.count() / 1000)}}));
  }
}

// What the parts observed, each field written by one part only, read after play().
struct Run {
  int syns = 0;
  int half_open = 0;                // S's SYN_RECV sockets once the first flood was handled
  std::int64_t flood_drops = 0;     // the first flood's SYNs S dropped (its counter, less L's SYNs)
  std::int64_t synack_again = 0;    // S's SYN-ACKs sent again (TcpExtTCPSynRetrans)
  lab::KernelCounters off_end, on_start, on_end;
  std::int64_t cookies_on_ns = 0;
  int half_open_with_cookies = 0;
  TcpState blocked_state = TcpState::unknown;  // L's first attempt, once its SYN was sent again
  std::uint32_t blocked_retransmits = 0;
  bool served = false;              // L's second connect() returned a connection
  bool accepted = false;            // and S's accept() took it
  std::vector<std::string> sources;
};

// ---------------------------------------------------------------- the wire

bool forged_port(std::uint16_t port, std::uint16_t first, int syns) { return port >= first && port < first + syns; }

std::string address_of(const std::string& endpoint) { return endpoint.substr(0, endpoint.rfind(':')); }

// The notes are asked for when the report is printed, after the lesson returned: every
// lambda here holds copies, not references to the run.
void explain_wire(Session& s, const Run& run) {
  const int syns = run.syns;
  const std::int64_t cookies_on_ns = run.cookies_on_ns;
  const auto forged_syn = [syns](const PacketRecord& p, std::uint16_t first) {
    return p.is_tcp && p.flags == "S" && p.dport == kPort && forged_port(p.sport, first, syns);
  };
  const auto forged_synack = [syns](const PacketRecord& p, std::uint16_t first) {
    return p.is_tcp && p.flags == "S." && p.sport == kPort && forged_port(p.dport, first, syns);
  };
  // Hundreds of forged SYNs and cookies: the first few and the last are drawn.
  s.fold_packets(
      [=](const PacketRecord& p) -> std::optional<std::string> {
        if (forged_syn(p, kFirstPort)) return "flood";
        if (forged_syn(p, kSecondPort)) return "flood_again";
        if (forged_synack(p, kSecondPort)) return "cookies";
        return std::nullopt;
      },
      3);
  // Which SYN-ACKs to a forged source are sent again: the same port seen before.
  std::set<std::uint64_t> again;
  std::set<std::uint16_t> answered;
  for (const auto& p : s.packets()) {
    if (!forged_synack(p, kFirstPort)) continue;
    if (!answered.insert(p.dport).second) again.insert(p.n);
  }
  const std::string client = std::string(kClient) + ":";
  s.explain_packets([&s, syns, cookies_on_ns, forged_syn, forged_synack, again, client](
                        const PacketRecord& p) -> std::optional<std::string> {
    const std::string total = std::to_string(syns);
    if (forged_syn(p, kFirstPort) || forged_syn(p, kSecondPort)) {
      if (const auto left = s.left_out_before(p); left > 0)
        return s.note(Note{"wire_forged_last"}, {{"left", std::to_string(left)}, {"total", total}});
      return s.note(Note{"wire_forged"}, {{"src", address_of(p.src)}});
    }
    if (forged_synack(p, kSecondPort)) {
      if (const auto left = s.left_out_before(p); left > 0)
        return s.note(Note{"wire_cookie_last"}, {{"left", std::to_string(left)}, {"total", total}});
      return s.note(Note{"wire_cookie"});
    }
    if (forged_synack(p, kFirstPort))
      return again.contains(p.n) ? s.note(Note{"wire_synack_again"}) : s.note(Note{"wire_synack_forged"}, {{"dst", address_of(p.dst)}});
    if (p.is_tcp && p.flags == "S" && p.src.starts_with(client)) {
      if (p.ts_ns > cookies_on_ns) return s.note(Note{"wire_legit_syn_cookies"});
      return s.note(p.phase == capture::Phase::syn_retransmission ? Note{"wire_legit_syn_again"} : Note{"wire_legit_syn"});
    }
    if (p.is_tcp && p.flags == "S." && p.dst.starts_with(client)) return s.note(Note{"wire_legit_cookie"});
    if (p.is_tcp && p.flags == "." && p.src.starts_with(client) && p.phase == capture::Phase::handshake_ack)
      return s.note(Note{"wire_legit_ack"});
    return s.note(Note{"wire_other"}, {{"phase", std::string(capture::to_string(p.phase))}});
  });
}

// ---------------------------------------------------------------- the lesson

void build_lab(lab::Lab& lab, const lab::ForgedSyns& plan, Run& run) {
  lab::add_lan(lab, "sw", {"S", "X", "L"}, "10.0.0", 0x0a);
  auto& S = lab.node("S");
  auto& X = lab.node("X");
  auto& L = lab.node("L");
  // Static ARP between the real hosts: the timeline holds TCP only, and X's burst
  // leaves at once instead of waiting in an ARP queue.
  lab.add_neighbour(X, "eth0", kServer, lab::Mac::local(0x0a));
  lab.add_neighbour(L, "eth0", kServer, lab::Mac::local(0x0a));
  lab.add_neighbour(S, "eth0", kClient, lab::Mac::local(0x0c));
  run.sources = must(lab::forged_sources(lab, plan));
  for (const auto& a : run.sources) lab.add_neighbour(S, "eth0", a, kNobody);
  // Only in the lab's namespaces: the machine's own settings are never touched.
  S.set_sysctl("net.ipv4.tcp_syncookies", "0");
  // L's kernel sends its SYN once more and no more: the lesson gives up after that
  // retransmission, and no late one can reach S once cookies are on.
  L.set_sysctl("net.ipv4.tcp_syn_retries", "1");
}

void synflood(Session& s, int syns) {
  if (s.options().role != demo::Role::both) throw demo::UsageError(s.note(Note{"usage_role"}));
  if (!s.options().host.empty() || !s.options().listen.empty() || s.options().port != 0 || s.options().ipv6)
    throw demo::UsageError(s.note(Note{"usage_target"}));
  s.set_variant("default", fmt::format("--syns {}", syns));
  auto& lab = s.lab();
  Run run;
  run.syns = syns;
  const lab::ForgedSyns flood{.target = std::string(kServer), .port = kPort, .count = syns, .first_port = kFirstPort};
  const lab::ForgedSyns flood_again{.target = std::string(kServer), .port = kPort, .count = syns, .first_port = kSecondPort};
  build_lab(lab, flood, run);
  auto& S = lab.node("S");
  auto& X = lab.node("X");
  auto& L = lab.node("L");
  s.show_columns({"X", "S", "L"});  // the attacker, the server, the real client

  const auto at_s = must(net::Endpoint::from_host_port(std::string(kServer), kPort));
  auto listener = S.in_namespace([&] { return must(net::TcpListener::bind(at_s, {.backlog = kBacklog, .trace = s.trace("S")})); });
  s.explain("S", "listen", Note{"listen"}, {{"backlog", std::to_string(kBacklog)}});
  s.record_note("S", "tcp_syncookies = 0", Note{"cookies_off"});
  s.capture(demo::CaptureSpec::on_lab(lab.places(false), "tcp"));
  const ServerKernel server{S, must(S.kernel_counters()), s};
  // The first flood is handled once every forged SYN is half-open or dropped.
  const auto flood_handled = [&] { return server.half_open() + server.since_start("TcpExtTCPReqQFullDrop") >= syns; };
  const auto patience = s.patience();

  s.play({{"X",
           [&](Actor&) {
             s.record_note("X", s.note(Note{"label_flood"}, {{"n", std::to_string(syns)}}), Note{"flood"},
                           {{"n", std::to_string(syns)}, {"first", run.sources.front()}});
             must(lab::send_forged_syns(lab, X, flood));
             wait_for(s, [&] { return server.cookies_on(); }, patience, Note{"waited_cookies_on"});
             s.record_note("X", s.note(Note{"label_flood"}, {{"n", std::to_string(syns)}}), Note{"flood_again"});
             must(lab::send_forged_syns(lab, X, flood_again));
             s.end_capture();
           },
           &X},
          {"L",
           [&](Actor& me) {
             wait_for(s, flood_handled, patience, Note{"waited_flood"});
             auto first = must(net::TcpStream::connect_start(at_s, {.trace = me.trace}));
             s.explain("L", "connect", Note{"connect_blocked"});
             wait_for(s, [&] { return must(first.state()) != TcpState::syn_sent || must(first.info()).retransmits >= 1; },
                      patience, Note{"waited_l_syn"});
             run.blocked_state = must(first.state());
             run.blocked_retransmits = must(first.info()).retransmits;
             s.record_state("L", run.blocked_state, Note{"client_syn_sent"});
             must(first.close());
             s.explain("L", "close", Note{"give_up"});
             // Phase 2: once S's kernel has answered the second flood with cookies.
             wait_for(s, [&] { return server.since_start("TcpExtSyncookiesSent") >= syns; }, patience,
                      Note{"waited_cookies_sent"});
             auto second = must(net::TcpStream::connect(at_s, {.timeout = patience, .trace = me.trace}));
             run.served = true;
             s.explain("L", "connect", Note{"connect_served"});
             s.end_capture();
           },
           &L},
          {"S",
           [&](Actor&) {
             wait_for(s, flood_handled, patience, Note{"waited_flood"});
             // L connects once the flood is handled too, so its first SYN may already be among
             // the drops: the flood's are the forged SYNs not held (each was one or the other).
             run.half_open = server.half_open();
             const std::int64_t surplus = syns - run.half_open;
             s.record_note("S", s.note(Note{"label_queue"}, {{"n", std::to_string(run.half_open)}}), Note{"queue_full"},
                           {{"n", std::to_string(run.half_open)}, {"backlog", std::to_string(kBacklog)}});
             s.record_note("S", s.note(Note{"label_dropped"}, {{"n", std::to_string(surplus)}}), Note{"flood_dropped"});
             // About 1 s later each half-open connection's SYN-ACK goes out again.
             wait_for(s, [&] { return server.since_start("TcpExtTCPSynRetrans") >= run.half_open; }, patience,
                      Note{"waited_synack_again"});
             run.synack_again = server.since_start("TcpExtTCPSynRetrans");
             s.record_note("S", s.note(Note{"label_synack_again"}, {{"n", std::to_string(run.synack_again)}}), Note{"synack_again"});
             // L's SYN and its one retransmission, dropped like the flood's.
             wait_for(s, [&] { return server.since_start("TcpExtTCPReqQFullDrop") >= surplus + 2; }, patience,
                      Note{"waited_l_drops"});
             // Read before the switch: X starts its second flood the moment it sees it.
             run.off_end = server.now();
             run.on_start = run.off_end;
             run.cookies_on_ns = net::realtime_ns();
             S.set_sysctl("net.ipv4.tcp_syncookies", "1");
             s.record_note("S", "tcp_syncookies = 1", Note{"cookies_on"});
             wait_for(s, [&] { return server.since_start("TcpExtSyncookiesSent") >= syns; }, patience,
                      Note{"waited_cookies_sent"});
             run.half_open_with_cookies = server.half_open();
             s.record_note("S", s.note(Note{"label_queue"}, {{"n", std::to_string(run.half_open_with_cookies)}}),
                           Note{"queue_kept"}, {{"n", std::to_string(run.half_open_with_cookies)}});
             auto conn = must(listener.accept(patience));
             run.accepted = true;
             s.explain("S", "accept", Note{"accept"});
             run.on_end = server.now();
             s.end_capture();
           },
           &S}});

  // ---- what the run showed
  const int capacity = kBacklog + 1;  // Linux holds one more than the backlog (lesson 5)
  const int expected_half_open = std::min(syns, capacity);
  s.fact("lab", {{"server", kServer}, {"attacker", kAttacker}, {"client", kClient}, {"port", kPort}, {"backlog", kBacklog}},
         Note{"fact_lab"}, {{"backlog", std::to_string(kBacklog)}});
  s.fact("forged_sources", run.sources, Note{"fact_sources"},
         {{"first", run.sources.front()}, {"last", run.sources.back()}, {"n", std::to_string(run.sources.size())}, {"mac", kNobody.str()}});
  const auto off = [&](std::string_view name) { return ServerKernel::delta(s, server.before, run.off_end, name); };
  const std::int64_t legit_syns = 1 + run.blocked_retransmits;  // L's SYN and its retransmissions, all dropped
  run.flood_drops = off("TcpExtTCPReqQFullDrop") - legit_syns;
  s.verdict("syn_queue_filled", {{"half_open", expected_half_open}, {"dropped", syns - expected_half_open}},
            {{"half_open", run.half_open}, {"dropped", run.flood_drops}}, Note{"verdict_queue_filled"},
            {{"half_open", std::to_string(run.half_open)}, {"dropped", std::to_string(run.flood_drops)}});
  s.verdict("synack_retransmitted", run.half_open, run.synack_again, Note{"verdict_synack_retransmitted"},
            {{"n", std::to_string(run.synack_again)}});
  const bool blocked = run.blocked_state == TcpState::syn_sent && run.blocked_retransmits >= 1;
  s.verdict("legit_client_blocked_without_cookies", true, blocked, Note{"verdict_blocked"},
            {{"state", std::string(net::to_string(run.blocked_state))}});
  const std::int64_t dropped_off = syns - run.half_open + legit_syns;
  const nlohmann::json counters_off{{"TcpExtTCPReqQFullDrop", off("TcpExtTCPReqQFullDrop")},
                                    {"TcpExtListenDrops", off("TcpExtListenDrops")},
                                    {"TcpExtSyncookiesSent", off("TcpExtSyncookiesSent")}};
  s.verdict("counters_without_cookies",
            {{"TcpExtTCPReqQFullDrop", dropped_off}, {"TcpExtListenDrops", dropped_off}, {"TcpExtSyncookiesSent", 0}},
            counters_off, Note{"verdict_counters_off"},
            {{"full", counters_off["TcpExtTCPReqQFullDrop"].dump()}, {"listen", counters_off["TcpExtListenDrops"].dump()}});

  const auto on = [&](std::string_view name) { return ServerKernel::delta(s, run.on_start, run.on_end, name); };
  s.verdict("cookies_sent", syns + 1, on("TcpExtSyncookiesSent"), Note{"verdict_cookies_sent"},
            {{"n", std::to_string(on("TcpExtSyncookiesSent"))}, {"syns", std::to_string(syns)}});
  s.verdict("no_state_for_cookies", run.half_open, run.half_open_with_cookies, Note{"verdict_no_state"},
            {{"n", std::to_string(run.half_open_with_cookies)}});
  s.verdict("legit_client_served_with_cookies", true, run.served && run.accepted, Note{"verdict_served"});
  const nlohmann::json counters_on{{"TcpExtSyncookiesRecv", on("TcpExtSyncookiesRecv")},
                                   {"TcpExtSyncookiesFailed", on("TcpExtSyncookiesFailed")},
                                   {"TcpExtTCPReqQFullDrop", on("TcpExtTCPReqQFullDrop")}};
  s.verdict("counters_with_cookies", {{"TcpExtSyncookiesRecv", 1}, {"TcpExtSyncookiesFailed", 0}, {"TcpExtTCPReqQFullDrop", 0}},
            counters_on, Note{"verdict_counters_on"});

  if (!s.capturing()) return;
  explain_wire(s, run);
  // From the capture: L's SYNs in phase 1 and when they left; S's SYN-ACKs sent again.
  std::vector<std::int64_t> legit;
  std::set<std::uint16_t> answered;
  int synack_again_wire = 0;
  for (const auto& p : s.packets()) {
    if (!p.is_tcp || p.ts_ns >= run.cookies_on_ns) continue;
    if (p.flags == "S" && address_of(p.src) == kClient) legit.push_back(p.ts_ns);
    if (p.flags == "S." && p.sport == kPort && forged_port(p.dport, kFirstPort, syns) && !answered.insert(p.dport).second)
      ++synack_again_wire;
  }
  std::string times;
  for (auto t : legit) times += fmt::format("{}{:.2f}", times.empty() ? "" : ", ", static_cast<double>(t - legit.front()) / 1e9);
  s.fact("legit_syn_times", times, Note{"fact_syn_times"}, {{"times", times}});
  s.verdict("synack_retransmissions_on_wire", run.half_open, synack_again_wire, Note{"verdict_synack_again_wire"},
            {{"n", std::to_string(synack_again_wire)}});
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"synflood", "demo-synflood: the SYN flood, forged SYNs against the half-open queue, and SYN cookies",
                  kNoteKeys});
  int syns = 500;
  app.cli()
      .add_option("--syns", syns, "How many forged SYNs the attacker sends in each flood (default 500)")
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            int n = 0;
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
            if (ec == std::errc{} && end == v.data() + v.size() && n >= kMinSyns && n <= lab::max_forged_syns) return {};
            return fmt::format("{} is not a count from {} (more than listen({})'s SYN queue holds: a flood) to {} (the most "
                               "the lab sends)", v, kMinSyns, kBacklog, lab::max_forged_syns);
          },
          "COUNT", "forged SYNs per flood"));
  return app.run(argc, argv, [&](Session& s) { synflood(s, syns); });
}
