// The notes beside the wire's segments, written once for every loopback lesson.
//
// Each phase has a default note in lessons/<lang>/common.md ("wire_syn",
// "wire_data", "wire_fin1", ...). A lesson that says something different about
// a phase defines the same key in its own Notes section, and that text wins;
// it may use the placeholders of kWireValues. `demo-X --check-notes` (run by the
// build) accepts these keys in a lesson file and checks their placeholders.
//
//   explain_wire(s);                                   // the defaults and the lesson's overrides
//   explain_wire(s, [&](const PacketRecord& p) -> std::optional<std::string> {
//     if (p.phase == Phase::reset) return s.note(Note{"wire_rst_linger"});   // a lesson's own case
//     return std::nullopt;                                                     // the rest as above
//   });
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "note_key.hpp"
#include "session.hpp"
#include "socklab/capture/record.hpp"

namespace socklab::demo {

inline constexpr std::array<std::string_view, 21> kWireNoteKeys{
    "wire_syn", "wire_syn_again", "wire_syn_ack", "wire_ack", "wire_data", "wire_data_ack",
    "wire_fin1", "wire_fin1_alone", "wire_ack1", "wire_fin2", "wire_fin2_ack1", "wire_ack2",
    "wire_reset", "wire_refused", "wire_datagram", "wire_datagram_big", "wire_unreachable",
    "wire_unreachable_port", "wire_other",
    "wire_client", "wire_server",  // {who}
};
using WireNote = Key<kWireNoteKeys>;

// The placeholders every wire note may use: {phase} (the ladder's phase words),
// {bytes} and {preview} (the payload), {ack} (relative), {options} (tcpdump's),
// {who} (the sender: wire_client or wire_server), {delay} (an ACK of a FIN: how
// long after that FIN), {what} and {frame} (an ICMP error: what it answers, and
// the frame of the datagram it answers).
inline constexpr std::array<std::string_view, 9> kWireValues{"phase", "bytes", "preview", "ack",  "options",
                                                             "who",   "delay", "what",    "frame"};

// A lesson's own note for a packet, before the defaults: nullopt leaves it to them.
using WireSpecial = std::function<std::optional<std::string>(const capture::PacketRecord&)>;

// Notes every captured packet of `s` by its phase, as described above.
void explain_wire(Session& s, WireSpecial special = {});

// Who sent `p`, in the run's language ("the client", "the server").
std::string wire_sender(const Session& s, const capture::PacketRecord& p);

}  // namespace socklab::demo
