// The ladder's model, shared by its renderers (the terminal ladder in
// ladder.cpp, the HTML page in html.cpp): which column each packet and call
// stands in, the words for a call, the note beside an entry, the colour of a
// segment. One copy, so both pictures always say the same thing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "socklab/capture/timeline.hpp"

namespace socklab::capture::ladder_model {

// The port of "127.0.0.1:51514" or "[::1]:8080"; nullopt when there is none.
std::optional<std::uint16_t> port_of(std::string_view endpoint);
// The port a call's endpoint is bound to. Port 0 is a socket not bound yet
// (a setsockopt right after socket()): it names no client and no server.
std::optional<std::uint16_t> bound_port_of(std::string_view endpoint);

inline bool has_flag(const PacketRecord& p, char f) { return p.flags.find(f) != std::string::npos; }

// The colour a segment is drawn in: the same in the terminal and in HTML.
enum class Tone : std::uint8_t { plain, open, close, reset, data };  // SYN, FIN, RST/ICMP, payload
Tone packet_tone(const PacketRecord& p);

// Which end of each packet is the server, and which client each one belongs to.
class Sides {
 public:
  Sides(std::span<const TimelineEntry> timeline, std::optional<std::uint16_t> given) {
    if (given) servers_.insert(*given);
    std::map<std::pair<std::uint16_t, std::uint16_t>, bool> udp_seen;
    for (const auto& e : timeline) {
      if (const auto* p = std::get_if<PacketRecord>(&e.event)) {
        by_frame_[p->n] = p;
        if (given) continue;
        if (p->proto == Proto::tcp && has_flag(*p, 'S')) servers_.insert(has_flag(*p, '.') ? p->sport : p->dport);
      } else if (!given) {
        const auto& c = std::get<net::CallEvent>(e.event);
        if (c.side == net::Side::server) {
          if (auto port = bound_port_of(c.local)) servers_.insert(*port);
        } else if (c.side == net::Side::client) {
          if (auto port = bound_port_of(c.peer)) servers_.insert(*port);
        }
      }
    }
    // A UDP conversation's server is where its first datagram went, unless known already.
    for (const auto& e : timeline) {
      const auto* p = std::get_if<PacketRecord>(&e.event);
      if (given || p == nullptr || p->proto != Proto::udp) continue;
      const auto key = std::minmax(p->sport, p->dport);
      if (udp_seen.emplace(key, true).second && !servers_.contains(p->sport) && !servers_.contains(p->dport))
        servers_.insert(p->dport);
    }
    for (const auto& e : timeline) {
      if (const auto* p = std::get_if<PacketRecord>(&e.event)) {
        if (p->proto != Proto::tcp && p->proto != Proto::udp) continue;
        const bool up = to_server(*p);
        clients_.insert(up ? p->sport : p->dport);
        used_servers_.insert(up ? p->dport : p->sport);
      } else {
        const auto& c = std::get<net::CallEvent>(e.event);
        if (!is_server_call(c)) {
          if (auto port = bound_port_of(c.local)) clients_.insert(*port);
        } else if (auto port = bound_port_of(c.local)) {
          used_servers_.insert(*port);
        }
      }
    }
  }

  // True when the packet travels from the client column to the server column.
  [[nodiscard]] bool to_server(const PacketRecord& p) const {
    if (p.phase == Phase::fragment) {
      // A later fragment goes the way its datagram's first fragment went.
      if (const auto* first = related(p)) return to_server(*first);
      return true;
    }
    if (p.proto == Proto::icmp || p.proto == Proto::icmp6) {
      // An ICMP error goes back against the datagram it answers.
      if (const auto* cause = related(p)) return !to_server(*cause);
      return false;
    }
    if (p.proto != Proto::tcp && p.proto != Proto::udp) return true;
    const bool from = servers_.contains(p.sport), to = servers_.contains(p.dport);
    if (to != from) return to;
    return p.dport <= p.sport;  // nothing tells: ephemeral client ports are the high ones
  }

  [[nodiscard]] bool is_server_call(const net::CallEvent& c) const {
    if (c.side != net::Side::none) return c.side == net::Side::server;
    const auto port = bound_port_of(c.local);
    return port && servers_.contains(*port);
  }

  // The client a packet belongs to, shown beside the client's lifeline when
  // several clients talk: ":51514"; with several servers too: ":51514 ⇄ :8080".
  [[nodiscard]] std::string conversation_tag(const PacketRecord& p, bool unicode) const {
    const PacketRecord* q = &p;
    if (p.proto == Proto::icmp || p.proto == Proto::icmp6 || p.phase == Phase::fragment) {
      q = related(p);
      if (q == nullptr || (q->proto != Proto::tcp && q->proto != Proto::udp)) return {};
    }
    const bool up = to_server(*q);
    const std::uint16_t client = up ? q->sport : q->dport, server = up ? q->dport : q->sport;
    if (used_servers_.size() > 1) return fmt::format(":{} {} :{}", client, unicode ? "⇄" : "<>", server);
    if (clients_.size() > 1) return fmt::format(":{}", client);
    return {};
  }

  [[nodiscard]] std::string call_tag(const net::CallEvent& c) const {
    if (clients_.size() <= 1 && used_servers_.size() <= 1) return {};
    const bool server = is_server_call(c);
    const auto port = bound_port_of(server ? c.peer : c.local);
    if (!port || (server && c.call == "accept")) return {};
    return fmt::format(":{}", *port);
  }

  [[nodiscard]] std::string client_title(std::string_view word = "client") const {
    return clients_.size() == 1 ? fmt::format("{} :{}", word, *clients_.begin()) : std::string(word);
  }
  [[nodiscard]] std::string server_title(std::string_view word = "server") const {
    return used_servers_.size() == 1 ? fmt::format("{} :{}", word, *used_servers_.begin()) : std::string(word);
  }

 private:
  [[nodiscard]] const PacketRecord* related(const PacketRecord& p) const {
    if (p.related == 0) return nullptr;
    const auto it = by_frame_.find(p.related);
    return it == by_frame_.end() ? nullptr : it->second;
  }

  std::set<std::uint16_t> servers_;
  std::set<std::uint16_t> clients_;
  std::set<std::uint16_t> used_servers_;
  std::map<std::uint64_t, const PacketRecord*> by_frame_;
};


// The arrows of a packet among named columns (LadderView::columns): one from its
// source's column to its destination's; a broadcast, or a destination in no
// column, towards both edges, labelled on the longer side; none when its source
// is in no column (the picture says it in words).
// The arrow's label that fits `room` characters: the full one (segment_label), or
// where that is too long a shorter form that keeps the kind ("ARP who-has" for
// "ARP who-has 10.0.0.3 tell 10.0.0.1"); the full words stay in the note or tooltip.
std::string label_in(const PacketRecord& p, std::size_t room);

struct Arrow {
  std::size_t from, to;
  bool labelled;
};
std::vector<Arrow> column_arrows(const LadderView& view, const PacketRecord& p);
// The participant a call belongs to: its name, or else its side ("client").
std::string participant_of(const net::CallEvent& c);
// The column of that participant; unset when it has none.
std::optional<std::size_t> call_column(const LadderView& view, const net::CallEvent& c);

// A call in words: in full, compact (an endpoint's address dropped, its port
// kept: on loopback the address says little), minimal (no arguments, no
// data), and its failure, if any.
struct CallText {
  std::string full, compact, minimal, failure;
  std::string bare;     // compact without the data preview
  std::string preview;  // the data, as the call recorded it
};

CallText describe_call(const net::CallEvent& c, bool unicode);

// Control characters would break the rows: they become spaces.
std::string printable(std::string text);

// An analysis mark's word ("retransmission", "malformed"): the caller's
// (LadderView::mark_word), else Wireshark's name.
std::string mark_word(const std::function<std::string(std::string_view)>& words, std::string_view name);

// The note beside an entry: the lesson's, or else the segment's phase; a
// packet's analysis flags (and malformation) in brackets before it.
// own_note: the packet's label where the entry has no note (unset: the English one);
// mark_word: the words of the analysis marks (unset: Wireshark's names).
std::string note_for(const TimelineEntry& e, const std::function<std::string(const PacketRecord&)>& own_note = {},
                     const std::function<std::string(std::string_view)>& mark_word = {});

}  // namespace socklab::capture::ladder_model
