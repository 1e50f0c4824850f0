// demo-handshake — Lesson 1: the three-way handshake.
//
// The server binds and listens; the client connects; the server accepts. The
// capture shows the three segments (SYN, SYN-ACK, ACK) with their initial
// sequence numbers and options; the calls show what each side saw: the client's
// state during and after connect(), the listener's accept queue before and
// after accept(). With --refused the client connects to a port where nobody
// listens: the SYN is answered by RST and connect() fails with ECONNREFUSED.
#include <array>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "demo.hpp"
#include "server_setup.hpp"

namespace {

using namespace socklab;
using demo::Session;
using demo::Side;
using demo::must;
using capture::Phase;
using capture::PacketRecord;

constexpr std::array<std::string_view, 34> kNoteKeys{
    // the timeline
    "listen", "queue_empty", "queue_ready", "accept", "queue_after_accept", "connect_start",
    "state_syn_sent", "state_established_early", "state_established_early_net", "connect_finish", "state_established",
    "reserved_port", "connect_refused",
    // the summary
    "verdict_segments", "verdict_syn_counts", "verdict_client_state", "verdict_queue", "verdict_queue_class",
    "verdict_refused_error", "verdict_refused_segments", "fact_connect_time", "fact_handshake_time", "fact_isns",
    "fact_options", "fact_negotiated", "fact_no_capture_isn", "why_someone_listens",
    "why_retransmitted", "why_not_seen", "word_on", "word_off", "verdict_options", "why_option_off",
    // bad usage, in the run's language
    "usage_refused_server"};
using Note = demo::Key<kNoteKeys>;

// What each side saw; each side writes only its own part, read after run().
struct Observed {
  std::optional<net::TcpState> client_state_during;   // right after connect() started
  std::optional<net::TcpState> client_state_after;    // after connect() completed
  std::optional<net::TcpInfo> client_info;
  std::optional<net::ListenQueue> queue_ready;        // the connection waiting for accept()
  std::optional<net::ListenQueue> queue_after;        // after accept()
  std::optional<int> refused_errno;                    // --refused: connect()'s errno (0: it connected)
};

// A kernel setting under /proc/sys/net/ipv4, or "?" when it cannot be read.
std::string read_sysctl(const std::string& name) {
  std::ifstream in("/proc/sys/net/ipv4/" + name);
  std::string value;
  return in >> value ? value : "?";
}


// The TCP segments of the first connection, in capture order.
std::vector<const PacketRecord*> first_flow(const std::vector<PacketRecord>& packets) {
  std::vector<const PacketRecord*> out;
  for (const auto& p : packets) {
    if (p.proto == capture::Proto::tcp && p.stream == 0) out.push_back(&p);
  }
  return out;
}

nlohmann::json flags_of(const std::vector<const PacketRecord*>& segments, std::size_t n) {
  auto out = nlohmann::json::array();
  for (std::size_t i = 0; i < segments.size() && i < n; ++i) out.push_back(segments[i]->flags);
  return out;
}

// ---------------------------------------------------------------- the handshake

void handshake(Session& s) {
  Observed seen;
  s.run(
      [&] {  // the server
        // Read the empty queue before the client is released, so it is empty.
        auto listener = s.listen_unannounced({.backlog = 8});
        s.explain(Side::server, "listen", Note{"listen"}, {{"endpoint", listener.endpoint().to_string()}});
        const auto empty = must(listener.queue());
        s.record_note(Side::server, s.queue_label(empty), Note{"queue_empty"},
                      {{"length", std::to_string(empty.length)}, {"limit", std::to_string(empty.limit)}});
        s.announce(listener.endpoint());

        // The listener turns readable once a handshake completed: the
        // connection waits in the accept queue, before accept() is called.
        must(listener.wait_readable(s.accept_patience()));
        seen.queue_ready = must(listener.queue());
        s.record_note(Side::server, s.queue_label(*seen.queue_ready), Note{"queue_ready"});

        auto accepted = s.accept(listener);
        s.explain(Side::server, "accept", Note{"accept"}, {{"peer", accepted.peer.to_string()}});
        seen.queue_after = must(listener.queue());
        s.record_note(Side::server, s.queue_label(*seen.queue_after), Note{"queue_after_accept"});
        s.end_capture();  // the ACK reached us: all three segments are on the wire
        // Keep the connection until the client hangs up, so that the client reads
        // its own state, not the effect of our close. (Not part of the lesson.)
        (void)accepted.stream.wait_readable(s.patience());
      },
      [&] {  // the client
        const auto server = s.server_endpoint();
        // A non-blocking connect() returns as soon as the SYN is sent, so the
        // state in between can be read; then we wait for the outcome.
        auto stream = must(net::TcpStream::connect_start(server, {.trace = s.trace(Side::client)}));
        s.explain(Side::client, "connect", Note{"connect_start"}, {{"server", server.to_string()}});
        seen.client_state_during = must(stream.state());
        if (*seen.client_state_during == net::TcpState::syn_sent) {
          s.record_state(Side::client, *seen.client_state_during, Note{"state_syn_sent"});
        } else if (*seen.client_state_during == net::TcpState::established) {
          // "Loopback is that fast" only where the link is loopback. (Any other
          // state, CLOSED after a refusal say, is left to finish_connect() to tell.)
          s.record_state(Side::client, *seen.client_state_during,
                         demo::is_loopback(server) ? Note{"state_established_early"}
                                                   : Note{"state_established_early_net"});
        }
        must(stream.finish_connect(s.patience()));
        s.explain(Side::client, "connect", Note{"connect_finish"});
        seen.client_state_after = must(stream.state());
        if (seen.client_state_after != seen.client_state_during) {
          s.record_state(Side::client, *seen.client_state_after, Note{"state_established"});
        }
        seen.client_info = must(stream.info());
        s.end_capture();  // our ACK has left: connect() completed
      });

  // ---- what the run showed
  const auto calls = s.calls();
  std::optional<std::int64_t> connect_start, connect_end;
  for (const auto& c : calls) {
    if (c.side != Side::client || c.call != "connect") continue;
    if (!connect_start) connect_start = c.t_ns;
    connect_end = c.t_ns + c.dur_ns;
  }
  if (connect_start && connect_end) {
    const std::int64_t ns = *connect_end - *connect_start;
    s.fact("connect_ns", ns, Note{"fact_connect_time"}, {{"time", demo::duration_text(ns)}});
  }
  // The handshake itself, as the wire saw it: a shorter span than the call's.
  if (s.capturing()) {
    const auto segments = first_flow(s.packets());
    const PacketRecord* syn = nullptr;
    const PacketRecord* ack = nullptr;
    for (const auto* p : segments) {
      if (syn == nullptr && p->phase == Phase::handshake_syn) syn = p;
      if (syn != nullptr && p->phase == Phase::handshake_ack) {
        ack = p;
        break;
      }
    }
    if (syn != nullptr && ack != nullptr) {
      const std::int64_t ns = ack->ts_ns - syn->ts_ns;
      s.fact("handshake_wire_ns", ns, Note{"fact_handshake_time"}, {{"time", demo::duration_text(ns)}});
    }
  }

  if (s.capturing()) {
    demo::explain_wire(s);
    const auto segments = first_flow(s.packets());
    const auto observed = flags_of(segments, 3);
    s.verdict("handshake_segments", {"S", "S.", "."}, observed, Note{"verdict_segments"},
              {{"observed", demo::flags_text(observed)}});
    if (segments.size() >= 3 && segments[0]->flags == "S" && segments[1]->flags == "S." &&
        segments[2]->flags == ".") {
      const auto& syn = *segments[0];
      const auto& synack = *segments[1];
      const auto& ack = *segments[2];
      s.fact("isn", {{"client", syn.seq_abs}, {"server", synack.seq_abs}}, Note{"fact_isns"},
             {{"client", std::to_string(syn.seq_abs)}, {"server", std::to_string(synack.seq_abs)}});
      // A SYN takes one sequence number: each side acknowledges the other's ISN + 1.
      const std::uint32_t client_step = synack.ack_abs - syn.seq_abs;
      const std::uint32_t server_step = ack.ack_abs - synack.seq_abs;
      s.verdict("syn_takes_one_sequence_number", {1, 1}, {client_step, server_step}, Note{"verdict_syn_counts"});
      s.fact("syn_options", {{"client", syn.options}, {"server", synack.options}}, Note{"fact_options"},
             {{"client", syn.options}, {"server", synack.options}});
    } else if (segments.size() > 3) {
      s.why(Note{"why_retransmitted"});
    } else {
      s.why(Note{"why_not_seen"});
    }
  } else {
    s.fact("isn", nullptr, Note{"fact_no_capture_isn"});
  }

  if (seen.client_info) {
    const auto& i = *seen.client_info;
    auto yes_no = [&s](bool on) { return on ? s.note(Note{"word_on"}) : s.note(Note{"word_off"}); };
    s.fact("negotiated",
           {{"mss", i.snd_mss}, {"sack", i.sack}, {"timestamps", i.timestamps}, {"window_scale", i.window_scale},
            {"snd_wscale", i.snd_wscale}, {"rcv_wscale", i.rcv_wscale}},
           Note{"fact_negotiated"},
           {{"mss", std::to_string(i.snd_mss)}, {"sack", yes_no(i.sack)}, {"timestamps", yes_no(i.timestamps)},
            {"wscale", i.window_scale ? fmt::format("{}/{}", i.rcv_wscale, i.snd_wscale) : yes_no(false)}});
    // Linux offers all three by default; a machine may turn them off.
    const nlohmann::json expected = {{"sack", true}, {"timestamps", true}, {"window_scale", true}};
    const nlohmann::json observed = {{"sack", i.sack}, {"timestamps", i.timestamps}, {"window_scale", i.window_scale}};
    s.verdict("options_in_force", expected, observed, Note{"verdict_options"});
    std::string off;
    for (const auto& [option, on] : observed.items()) {
      if (on.get<bool>()) continue;
      const std::string sysctl = option == "sack" ? "tcp_sack" : option == "timestamps" ? "tcp_timestamps"
                                                                                        : "tcp_window_scaling";
      off += (off.empty() ? "" : ", ") + fmt::format("net.ipv4.{} = {}", sysctl, read_sysctl(sysctl));
    }
    if (!off.empty()) s.why(Note{"why_option_off"}, {{"settings", off}});
  }
  if (seen.client_state_after) {
    nlohmann::json states = nlohmann::json::array();
    if (seen.client_state_during) states.push_back(net::to_string(*seen.client_state_during));
    if (seen.client_state_after != seen.client_state_during) states.push_back(net::to_string(*seen.client_state_after));
    s.verdict("client_state_after_connect", "ESTABLISHED", net::to_string(*seen.client_state_after),
              Note{"verdict_client_state"}, {{"states", demo::render_value(states)}});
  }
  if (seen.queue_ready && seen.queue_after && s.serves_class()) {
    // The queue is the whole class's: classmates' connections wait beside this one.
    const auto before = seen.queue_ready->length, after = seen.queue_after->length;
    s.verdict("accept_queue", {{"before_accept", ">= 1"}}, {{"before_accept", before}, {"after_accept", after}},
              before >= 1, Note{"verdict_queue_class"},
              {{"before", std::to_string(before)}, {"after", std::to_string(after)},
               {"limit", std::to_string(seen.queue_ready->limit)}});
  } else if (seen.queue_ready && seen.queue_after) {
    s.verdict("accept_queue", {{"before_accept", 1}, {"after_accept", 0}},
              {{"before_accept", seen.queue_ready->length}, {"after_accept", seen.queue_after->length}},
              Note{"verdict_queue"}, {{"limit", std::to_string(seen.queue_ready->limit)}});
  }
}

// ---------------------------------------------------------------- --refused

void refused(Session& s) {
  s.set_variant("refused", "--refused");
  Observed seen;
  s.run(
      [&] {  // the server: holds a port without listening on it
        auto reserved = s.reserve_port();
        s.explain(Side::server, "bind", Note{"reserved_port"});
        s.end_capture();  // waits until the client has had its answer
      },
      [&] {  // the client
        const auto server = s.server_endpoint();
        auto stream = net::TcpStream::connect(server, {.timeout = s.patience(), .trace = s.trace(Side::client)});
        seen.refused_errno = stream ? 0 : stream.error().errno_value();
        if (!stream && seen.refused_errno == 0) throw demo::DemoFailure(stream.error());
        s.explain(Side::client, "connect", Note{"connect_refused"});
        s.end_capture();  // connect() has its answer: the RST arrived
      });

  const std::string observed = *seen.refused_errno == 0 ? "connected" : demo::errno_name(*seen.refused_errno);
  s.verdict("connect_error", "ECONNREFUSED", observed, Note{"verdict_refused_error"});
  if (observed == "connected") s.why(Note{"why_someone_listens"});
  if (s.capturing()) {
    demo::explain_wire(s);
    const auto observed_flags = flags_of(first_flow(s.packets()), 2);
    s.verdict("refused_segments", {"S", "R."}, observed_flags, Note{"verdict_refused_segments"},
              {{"observed", demo::flags_text(observed_flags)}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"handshake", "demo-handshake: Lesson 1, the TCP three-way handshake, on the wire", kNoteKeys});
  bool refused_variant = false;
  app.cli().add_flag("--refused", refused_variant,
                     "Connect to a port nobody listens on: the SYN is answered by RST (ECONNREFUSED)");
  app.serve_classes();
  return app.run(argc, argv, [&](Session& s) {
    if (refused_variant) {
      if (s.options().role == demo::Role::server) {
        throw demo::UsageError(s.note(Note{"usage_refused_server"}));
      }
      refused(s);
    } else {
      handshake(s);
    }
  });
}
