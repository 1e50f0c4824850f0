#include "wire_notes.hpp"

#include <algorithm>

#include "render.hpp"
#include "report.hpp"

namespace socklab::demo {

namespace {

using capture::PacketRecord;
using capture::Phase;

// The lesson's text for `key` when it has its own, else common.md's.
std::string wire_note(const Session& s, WireNote key, const Values& values) {
  return s.lesson().has(key.name()) ? s.lesson().note(key, values) : s.common().note(key, values);
}

bool has_fin(const PacketRecord& p) { return p.flags.find('F') != std::string::npos; }

// The last FIN of the other side of p's connection sent before p: what an ACK of a FIN answers.
const PacketRecord* fin_answered(const Session& s, const PacketRecord& p) {
  const PacketRecord* fin = nullptr;
  for (const auto& q : s.packets()) {
    if (q.ts_ns > p.ts_ns) break;
    if (q.is_tcp && q.stream == p.stream && q.sport == p.dport && has_fin(q)) fin = &q;
  }
  return fin;
}

// Whether the other side of p's connection sends a FIN in the capture: else the
// teardown ends after the capture and its later steps are not shown.
bool other_side_closes(const Session& s, const PacketRecord& p) {
  return std::ranges::any_of(s.packets(), [&p](const PacketRecord& q) {
    return q.is_tcp && q.stream == p.stream && q.sport == p.dport && has_fin(q);
  });
}

WireNote key_of(const Session& s, const PacketRecord& p) {
  switch (p.phase) {
    case Phase::handshake_syn: return "wire_syn";
    case Phase::syn_retransmission: return "wire_syn_again";
    case Phase::handshake_synack: return "wire_syn_ack";
    case Phase::handshake_ack: return "wire_ack";
    case Phase::data: return "wire_data";
    case Phase::ack: return "wire_data_ack";
    case Phase::teardown_fin1: return other_side_closes(s, p) ? WireNote{"wire_fin1"} : WireNote{"wire_fin1_alone"};
    case Phase::teardown_ack1: return "wire_ack1";
    case Phase::teardown_fin2: return "wire_fin2";
    case Phase::teardown_fin2_ack1: return "wire_fin2_ack1";
    case Phase::teardown_ack2: return "wire_ack2";
    case Phase::reset: return "wire_reset";
    case Phase::refused: return "wire_refused";
    // A long datagram's preview says little and takes three lines: its size says it all.
    case Phase::datagram: return p.len > 64 ? WireNote{"wire_datagram_big"} : WireNote{"wire_datagram"};
    case Phase::unreachable: return "wire_unreachable";
    case Phase::none:
    case Phase::fragment: break;
  }
  return "wire_other";
}

std::string packet_note(const Session& s, const PacketRecord& p) {
  std::string delay;
  if (p.phase == Phase::teardown_ack1) {
    // The delay the timer really took, measured from the FIN this ACK answers.
    const PacketRecord* fin = fin_answered(s, p);
    delay = duration_text(fin != nullptr ? p.ts_ns - fin->ts_ns : 0);
  }
  const std::string frame = std::to_string(p.related);
  std::string what;
  if (p.phase == Phase::unreachable) {
    // capture's note is English ("udp port 40123 unreachable (frame 5)"): other languages say it from the frame.
    what = s.options().lang == Lang::en ? p.note : wire_note(s, WireNote{"wire_unreachable_port"}, {{"frame", frame}});
  }
  return wire_note(s, key_of(s, p),
                   {{"phase", phase_words(p.phase, s.common())},
                    {"bytes", std::to_string(p.len)},
                    {"preview", p.preview},
                    {"ack", std::to_string(p.ack)},
                    {"options", p.options},
                    {"who", wire_sender(s, p)},
                    {"delay", delay},
                    {"what", what},
                    {"frame", frame}});
}

}  // namespace

std::string wire_sender(const Session& s, const PacketRecord& p) {
  const std::uint16_t server_port = s.server_port().value_or(s.options().server_endpoint.port());
  return wire_note(s, p.sport == server_port ? WireNote{"wire_server"} : WireNote{"wire_client"}, {});
}

void explain_wire(Session& s, WireSpecial special) {
  s.explain_packets([&s, special = std::move(special)](const PacketRecord& p) -> std::optional<std::string> {
    if (special) {
      if (auto own = special(p)) return own;
    }
    return packet_note(s, p);
  });
}

}  // namespace socklab::demo
