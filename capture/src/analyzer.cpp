// Per-conversation analysis: TCP sequence analysis after Wireshark's rules,
// segment phases, UDP streams, ICMP unreachables tied to their datagram, IP
// fragments tied to their datagram's first fragment.
#include "socklab/capture/analyzer.hpp"

#include <algorithm>
#include <cstring>
#include <list>
#include <unordered_map>
#include <vector>

#include "first_fragments.hpp"

namespace socklab::capture {
namespace {

using tcp_flags::ack;
using tcp_flags::fin;
using tcp_flags::rst;
using tcp_flags::syn;

// Sequence-space comparisons that survive the wrap past 2^32.
bool lt_seq(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }
bool gt_seq(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) > 0; }
bool le_seq(std::uint32_t a, std::uint32_t b) { return !gt_seq(a, b); }
bool ge_seq(std::uint32_t a, std::uint32_t b) { return !lt_seq(a, b); }

constexpr std::size_t max_unacked_segments = 10000;  // Wireshark's TCP_MAX_UNACKED_SEGMENTS
constexpr std::int64_t fast_retransmission_window_ns = 20'000'000;
constexpr std::int64_t default_ooo_threshold_ns = 3'000'000;

// Both directions of a conversation map to one key; `dir` says which way a packet goes.
struct FlowKey {
  std::array<std::uint8_t, 16> a{}, b{};
  std::uint16_t pa = 0, pb = 0;
  std::uint8_t version = 0;
  bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
  std::size_t operator()(const FlowKey& k) const noexcept {
    std::uint64_t w[4];
    std::memcpy(&w[0], k.a.data(), 8);
    std::memcpy(&w[1], k.a.data() + 8, 8);
    std::memcpy(&w[2], k.b.data(), 8);
    std::memcpy(&w[3], k.b.data() + 8, 8);
    std::uint64_t h = (std::uint64_t{k.pa} << 32) ^ (std::uint64_t{k.pb} << 8) ^ k.version;
    for (const std::uint64_t x : w) {
      h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      h *= 0xff51afd7ed558ccdULL;
      h ^= h >> 33;
    }
    return static_cast<std::size_t>(h);
  }
};

// Returns the key and 0 when src is the key's `a` side, 1 otherwise.
int make_key(const IpAddress& src, std::uint16_t sport, const IpAddress& dst, std::uint16_t dport,
             FlowKey& key) {
  const int c = std::memcmp(src.bytes.data(), dst.bytes.data(), 16);
  const bool forward = c < 0 || (c == 0 && sport <= dport);
  key.version = src.version;
  if (forward) {
    key.a = src.bytes, key.b = dst.bytes, key.pa = sport, key.pb = dport;
    return 0;
  }
  key.a = dst.bytes, key.b = src.bytes, key.pa = dport, key.pb = sport;
  return 1;
}

// A conversation's place in the least-recently-seen order, with when it was seen.
struct LruEntry {
  FlowKey key;
  std::int64_t last_seen = 0;
};
using Lru = std::list<LruEntry>;

struct Unacked {
  std::uint32_t seq, nextseq;
};

// Wireshark's per-direction state (tcp_flow_t + tcp_analyze_seq_flow_info_t).
// As there, 0 in nextseq/maxseqtobeacked/lastack means "not seen yet".
struct TcpDirection {
  bool base_set = false;
  std::uint32_t base_seq = 0;
  std::int8_t win_scale = -1;       // -1 unknown, -2 no scaling, else the shift
  std::uint32_t window = 0xffffffffu;  // last raw window; none seen yet
  bool is_first_ack = false;        // since the SYN, no pure ACK sent yet (window not scaled)
  std::uint32_t nextseq = 0;
  std::int64_t nextseq_time = 0;
  std::uint32_t maxseqtobeacked = 0;
  std::uint32_t lastack = 0;
  std::int64_t lastack_time = 0;
  std::uint32_t lastacklen = 0;
  std::uint32_t dupacknum = 0;
  std::uint32_t lastsegmentflags = 0;
  std::vector<Unacked> segments;
  // phases
  bool syn_seen = false;
  std::uint32_t syn_seq = 0;
  bool fin_seen = false;
  std::uint32_t fin_next = 0;       // sequence number after the FIN
};

struct TcpConversation {
  std::uint32_t stream = 0;
  TcpDirection dir[2];
  std::int64_t mru_syn_ts = 0;
  bool has_syn_ts = false;
  std::int64_t first_rtt_ns = 0;
  int syn_dir = -1;                 // who sent the SYN (the client)
  bool handshake_done = false;
  int first_fin_dir = -1;
  bool ack1_seen = false, ack2_seen = false;
  bool closed = false;              // both FINs, or a RST, seen
  bool in_closed_list = false;
  Lru::iterator lru;
};

struct UdpDatagram {
  std::uint64_t frame = 0;
  std::uint16_t ip_id = 0;
  std::uint8_t dir = 0;
};

struct UdpConversation {
  std::uint32_t stream = 0;
  std::array<UdpDatagram, 8> recent{};  // the last datagrams, for ICMP errors to point at
  std::uint8_t next_slot = 0;
  Lru::iterator lru;
};

}  // namespace

struct PacketAnalyzer::Impl {
  LinkType link;
  AnalyzerOptions opts;
  AnalyzedPacket out;
  std::uint64_t frames = 0;
  std::int64_t first_ts = 0;
  std::uint32_t next_tcp_stream = 0;
  std::uint32_t next_udp_stream = 0;
  std::unordered_map<FlowKey, TcpConversation, FlowKeyHash> tcp;
  std::unordered_map<FlowKey, UdpConversation, FlowKeyHash> udp;
  Lru tcp_open_lru, tcp_closed_lru, udp_lru;  // least recently seen first
  detail::FirstFragments first_fragments;  // for later fragments to point back at
  std::uint64_t refused = 0;  // packets of conversations over max_streams

  Impl(LinkType l, AnalyzerOptions o) : link(l), opts(o) {}

  [[nodiscard]] std::int64_t closed_timeout_ns() const {
    return static_cast<std::int64_t>(opts.closed_flow_timeout_s * 1e9);
  }
  [[nodiscard]] std::int64_t idle_timeout_ns() const {
    return static_cast<std::int64_t>(opts.idle_flow_timeout_s * 1e9);
  }

  // Cheap enough for every packet: only the least recently seen entries are looked at.
  void expire(std::int64_t now) {
    const auto drop = [now](Lru& lru, std::int64_t timeout, auto& table) {
      while (!lru.empty() && now - lru.front().last_seen > timeout) {
        table.erase(lru.front().key);
        lru.pop_front();
      }
    };
    drop(tcp_closed_lru, closed_timeout_ns(), tcp);
    drop(tcp_open_lru, idle_timeout_ns(), tcp);
    drop(udp_lru, idle_timeout_ns(), udp);
  }

  // Room for one more conversation under opts.max_streams: forgets the least
  // recently seen closed TCP conversation if need be; false when all are live.
  bool room_for_new_flow() {
    if (opts.max_streams == 0 || tcp.size() + udp.size() < opts.max_streams) return true;
    if (tcp_closed_lru.empty()) {
      ++refused;
      return false;
    }
    tcp.erase(tcp_closed_lru.front().key);
    tcp_closed_lru.pop_front();
    return true;
  }

  // nullptr: a new conversation with no room for it (room_for_new_flow).
  TcpConversation* tcp_conversation(const FlowKey& key, std::int64_t now, bool& created) {
    auto it = tcp.find(key);
    created = it == tcp.end();
    if (created) {
      if (!room_for_new_flow()) return nullptr;
      it = tcp.try_emplace(key).first;
    }
    TcpConversation& c = it->second;
    if (created) {
      c.stream = next_tcp_stream++;
      tcp_open_lru.push_back({key, now});
      c.lru = std::prev(tcp_open_lru.end());
    } else {
      Lru& lru = c.in_closed_list ? tcp_closed_lru : tcp_open_lru;
      lru.splice(lru.end(), lru, c.lru);
      c.lru->last_seen = now;
    }
    return &c;
  }

  // The same ports again with a new SYN: a new stream, as tshark's "reused ports".
  void restart(TcpConversation& c) {
    const auto lru = c.lru;
    const bool in_closed = c.in_closed_list;
    c = TcpConversation{};
    c.stream = next_tcp_stream++;
    c.lru = lru;
    if (in_closed) tcp_open_lru.splice(tcp_open_lru.end(), tcp_closed_lru, c.lru);
  }

  void mark_closed(TcpConversation& c) {
    if (c.in_closed_list) return;
    c.closed = true;
    c.in_closed_list = true;
    tcp_closed_lru.splice(tcp_closed_lru.end(), tcp_open_lru, c.lru);
  }

  UdpConversation* udp_conversation(const FlowKey& key, std::int64_t now) {
    auto it = udp.find(key);
    const bool created = it == udp.end();
    if (created) {
      if (!room_for_new_flow()) return nullptr;
      it = udp.try_emplace(key).first;
    }
    UdpConversation& c = it->second;
    if (created) {
      c.stream = next_udp_stream++;
      udp_lru.push_back({key, now});
      c.lru = std::prev(udp_lru.end());
    } else {
      udp_lru.splice(udp_lru.end(), udp_lru, c.lru);
      c.lru->last_seen = now;
    }
    return &c;
  }

  void analyze_sequence(TcpConversation& c, int d, std::uint32_t seq, std::uint32_t ackno,
                        std::uint32_t seglen, std::uint16_t flags, std::uint32_t window,
                        std::int64_t now, std::uint32_t& a);
  void analyze_tcp(AnalyzedPacket& o);
  void analyze_udp(AnalyzedPacket& o);
  void analyze_icmp(AnalyzedPacket& o);
  void remember_first_fragment(const AnalyzedPacket& o);
  void analyze_later_fragment(AnalyzedPacket& o);
  static Phase tcp_phase(TcpConversation& c, int d, std::uint32_t seq, std::uint32_t ackno,
                         std::uint32_t seglen, std::uint16_t flags);
};

// Wireshark's tcp_analyze_sequence_number(), on absolute numbers and the raw window.
void PacketAnalyzer::Impl::analyze_sequence(TcpConversation& c, int d, std::uint32_t seq,
                                            std::uint32_t ackno, std::uint32_t seglen,
                                            std::uint16_t flags, std::uint32_t window,
                                            std::int64_t now, std::uint32_t& a) {
  TcpDirection& fwd = c.dir[d];
  TcpDirection& rev = c.dir[1 - d];
  const bool syn_fin_rst = (flags & (syn | fin | rst)) != 0;
  bool is_dupack = false;

  // ZERO WINDOW PROBE: one byte at the next expected sequence number into a closed window.
  if (seglen == 1 && seq == fwd.nextseq && rev.window == 0) {
    a |= Analysis::zero_window_probe;
    goto finished_fwd;
  }
  // ZERO WINDOW: the sender's receive window is full.
  if (window == 0 && (flags & (rst | fin | syn)) == 0) a |= Analysis::zero_window;

  // LOST SEGMENT: this segment starts beyond what was seen: a segment was not captured.
  if (fwd.nextseq != 0 && gt_seq(seq, fwd.nextseq) && (flags & rst) == 0) a |= Analysis::lost_segment;

  // KEEP ALIVE: zero or one byte, one byte before the next expected sequence number.
  if ((seglen == 0 || seglen == 1) && seq == fwd.nextseq - 1 && !syn_fin_rst) a |= Analysis::keep_alive;

  // WINDOW UPDATE: nothing new but the window.
  if (seglen == 0 && window != 0 && window != fwd.window && seq == fwd.nextseq &&
      ackno == fwd.lastack && !syn_fin_rst) {
    a |= Analysis::window_update;
  }

  // WINDOW FULL: the data reaches the edge of the window the receiver advertised.
  if (seglen > 0 && rev.win_scale != -1 && !syn_fin_rst) {
    const int shift = rev.is_first_ack ? 0 : (rev.win_scale == -2 ? 0 : rev.win_scale);
    if (seq + seglen == rev.lastack + (rev.window << shift)) a |= Analysis::window_full;
  }

  // KEEP ALIVE ACK: repeats the previous ACK right after a keep-alive.
  if (seglen == 0 && window != 0 && window == fwd.window && seq == fwd.nextseq &&
      ackno == fwd.lastack && (rev.lastsegmentflags & Analysis::keep_alive) && !syn_fin_rst) {
    a |= Analysis::keep_alive_ack;
    goto finished_fwd;
  }

  // ZERO WINDOW PROBE ACK: answers a probe, the window still closed.
  if (seglen == 0 && window == 0 && window == fwd.window && seq == fwd.nextseq &&
      (ackno == fwd.lastack || ackno == fwd.lastack + 1) &&
      (rev.lastsegmentflags & Analysis::zero_window_probe) && !syn_fin_rst) {
    a |= Analysis::zero_window_probe_ack;
    if (ackno == fwd.lastack + 1) {  // the receiver took the probe's byte
      rev.nextseq = ackno;
      rev.maxseqtobeacked = ackno;
    }
    goto finished_fwd;
  }

  // DUPLICATE ACK: same window, sequence and acknowledgement, no data.
  if (seglen == 0 && window != 0 && window == fwd.window && seq == fwd.nextseq &&
      ackno == fwd.lastack && !syn_fin_rst) {
    ++fwd.dupacknum;
    a |= Analysis::dup_ack;
    is_dupack = true;
  }

finished_fwd:
  if (!is_dupack) fwd.dupacknum = 0;

  // ACKED LOST SEGMENT: acknowledges data this capture never saw.
  if (rev.maxseqtobeacked != 0 && gt_seq(ackno, rev.maxseqtobeacked) && (flags & ack) != 0) {
    if (ackno == fwd.lastack + 1 && seq == fwd.nextseq &&
        (rev.lastsegmentflags & Analysis::zero_window_probe)) {
      // The window reopens right after a probe: the probe's byte was taken.
      rev.nextseq = ackno;
      rev.maxseqtobeacked = ackno;
      a |= Analysis::window_update;
    } else {
      // Push the mark past any contiguous run of segments already seen above this ACK.
      std::uint32_t tail_le = 0, tail_re = 0;
      for (auto it = rev.segments.rbegin(); it != rev.segments.rend(); ++it) {
        if (tail_le == tail_re) {
          tail_le = it->seq;
          tail_re = it->nextseq;
        }
        if (ge_seq(it->seq, ackno)) {
          if (it->nextseq == tail_le) {
            tail_le = it->seq;
          } else {
            tail_le = it->seq;
            tail_re = it->nextseq;
          }
        }
      }
      rev.maxseqtobeacked = (ackno == tail_le && gt_seq(tail_re, ackno)) ? tail_re : ackno;
      a |= Analysis::ack_lost_segment;
    }
  }

  // RETRANSMISSION / FAST RETRANSMISSION / SPURIOUS / OUT-OF-ORDER: data (or SYN/FIN)
  // that does not advance the sequence number.
  std::uint32_t nextseq = seq + seglen;
  if (seglen > 0 || (flags & (syn | fin)) != 0) {
    bool seq_not_advanced = fwd.nextseq != 0 && lt_seq(seq, fwd.nextseq);
    if ((a & Analysis::keep_alive) == 0) {
      // New data right after a zero-window probe's byte is not a retransmission.
      if (seglen > 1 && fwd.nextseq - 1 == seq) seq_not_advanced = false;
      if (seglen > 0 && rev.lastack != 0 && le_seq(seq + seglen, rev.lastack)) {
        a |= Analysis::spurious_retransmission | Analysis::retransmission;
      } else if (seq_not_advanced) {
        const std::int64_t since_ack = std::max<std::int64_t>(0, now - rev.lastack_time);
        if (since_ack < fast_retransmission_window_ns && rev.dupacknum >= 2 && rev.lastack == seq) {
          a |= Analysis::fast_retransmission | Analysis::retransmission;
        } else {
          const std::int64_t ooo_threshold = c.first_rtt_ns != 0 ? c.first_rtt_ns : default_ooo_threshold_ns;
          bool already_seen = false;
          for (const Unacked& u : fwd.segments) {
            if (ge_seq(seq, u.seq) && le_seq(seq + seglen, u.nextseq)) {
              already_seen = true;
              break;
            }
          }
          const std::int64_t since_next = now - fwd.nextseq_time;
          bool ooo = false;
          if (since_next < ooo_threshold && !already_seen) {
            const std::uint32_t end = seq + seglen + ((flags & (syn | fin)) ? 1u : 0u);
            ooo = fwd.nextseq != end || fwd.lastacklen == 0;
          }
          a |= ooo ? Analysis::out_of_order : Analysis::retransmission;
        }
      }
    }
  }

  if ((seglen != 0 || (flags & (syn | fin)) != 0) && fwd.segments.size() < max_unacked_segments) {
    if (flags & (syn | fin)) nextseq += 1;
    fwd.segments.push_back({seq, nextseq});
  }

  if (fwd.nextseq == 0 || gt_seq(nextseq, fwd.nextseq + ((flags & (syn | fin)) ? 1u : 0u))) {
    fwd.lastacklen = seglen;
  }
  if ((fwd.nextseq == 0 || gt_seq(nextseq, fwd.nextseq)) && (a & Analysis::zero_window_probe) == 0) {
    fwd.nextseq = nextseq;
    fwd.nextseq_time = now;
  }
  if ((fwd.maxseqtobeacked == 0 || seq == fwd.maxseqtobeacked) && (a & Analysis::zero_window_probe) == 0) {
    fwd.maxseqtobeacked = fwd.nextseq;
  }

  fwd.window = window;
  fwd.lastack = ackno;
  fwd.lastack_time = now;
  fwd.lastsegmentflags = a;

  // Forget the reverse direction's segments this ACK covers.
  // (Stable, so the newest-first walks above keep their order.)
  auto& segs = rev.segments;
  std::size_t kept = 0;
  for (Unacked u : segs) {
    if (ackno == u.nextseq || !gt_seq(u.nextseq, ackno)) continue;
    if (gt_seq(ackno, u.seq)) u.seq = ackno;  // partly acknowledged
    segs[kept++] = u;
  }
  segs.resize(kept);
}

Phase PacketAnalyzer::Impl::tcp_phase(TcpConversation& c, int d, std::uint32_t seq, std::uint32_t ackno,
                                      std::uint32_t seglen, std::uint16_t flags) {
  TcpDirection& fwd = c.dir[d];
  TcpDirection& rev = c.dir[1 - d];
  if (flags & rst) {
    // Refused: the peer of a SYN answers it with RST before any SYN-ACK.
    const bool refused = c.syn_dir == 1 - d && !fwd.syn_seen && !c.handshake_done;
    return refused ? Phase::refused : Phase::reset;
  }
  if (flags & syn) {
    if (fwd.syn_seen && seq == fwd.syn_seq) return Phase::syn_retransmission;
    fwd.syn_seen = true;
    fwd.syn_seq = seq;
    if ((flags & ack) == 0) {
      c.syn_dir = d;
      return Phase::handshake_syn;
    }
    if (c.syn_dir < 0) c.syn_dir = 1 - d;
    return Phase::handshake_synack;
  }
  if (flags & fin) {
    const std::uint32_t after = seq + seglen + 1;
    if (!fwd.fin_seen || gt_seq(after, fwd.fin_next)) fwd.fin_next = after;
    fwd.fin_seen = true;
    if (c.first_fin_dir < 0 || c.first_fin_dir == d) {
      c.first_fin_dir = d;
      return Phase::teardown_fin1;
    }
    // The second FIN: alone, or carrying the ACK of the first (three-segment close).
    const bool acks_first = (flags & ack) != 0 && ge_seq(ackno, rev.fin_next);
    if (acks_first && !c.ack1_seen) {
      c.ack1_seen = true;
      return Phase::teardown_fin2_ack1;
    }
    return Phase::teardown_fin2;
  }
  if (seglen > 0) {
    // Data that also acknowledges the first FIN (a half-closed connection answering).
    if (c.first_fin_dir == 1 - d && (flags & ack) && ge_seq(ackno, rev.fin_next)) c.ack1_seen = true;
    return Phase::data;
  }
  if (flags & ack) {
    if (!c.handshake_done && d == c.syn_dir && rev.syn_seen && ackno == rev.syn_seq + 1) {
      c.handshake_done = true;
      return Phase::handshake_ack;
    }
    if (c.first_fin_dir >= 0) {
      const int first = c.first_fin_dir;
      if (d != first && !c.ack1_seen && ackno == c.dir[first].fin_next) {
        c.ack1_seen = true;
        return Phase::teardown_ack1;
      }
      if (d == first && rev.fin_seen && !c.ack2_seen && ackno == rev.fin_next) {
        c.ack2_seen = true;
        return Phase::teardown_ack2;
      }
    }
    return Phase::ack;
  }
  return Phase::none;
}

void PacketAnalyzer::Impl::analyze_tcp(AnalyzedPacket& o) {
  const DecodedPacket& p = o.pkt;
  FlowKey key;
  const int d = make_key(p.ip.src, p.sport, p.ip.dst, p.dport, key);
  const std::int64_t now = p.ts_ns;
  bool created = false;
  const TcpHeader& t = p.tcp;
  TcpConversation* c = tcp_conversation(key, now, created);
  if (c == nullptr) {  // over max_streams: shown as on the wire, without analysis
    o.seq = t.seq;
    o.ack = t.ack;
    o.win = t.window;
    return;
  }
  o.has_stream = true;

  const std::uint16_t flags = t.flags;
  // As Wireshark: without a whole header in the segment (data offset under 5,
  // or past the segment's end) its length is unknown, so neither the sequence
  // analysis nor the phase is worked out, and the numbers stay as on the wire.
  const std::uint32_t seg_len = p.ip.total_len >= p.ip.header_len ? p.ip.total_len - p.ip.header_len : 0;
  const bool header_ok = p.reached == Layer::transport && t.header_len >= 20 && t.header_len <= seg_len;
  if (!header_ok) {
    o.stream = c->stream;
    o.seq = t.seq;
    o.ack = t.ack;
    o.win = t.window;
    return;
  }

  // A SYN (or SYN-ACK) with a new initial sequence number: the ports were reused.
  if (!created && (flags & syn) && c->dir[d].base_set && t.seq != c->dir[d].base_seq) restart(*c);
  o.stream = c->stream;
  TcpDirection& fwd = c->dir[d];
  TcpDirection& rev = c->dir[1 - d];

  if (!fwd.base_set) {
    fwd.base_seq = (flags & syn) ? t.seq : t.seq - 1;
    fwd.base_set = true;
  }
  if (!rev.base_set && (flags & ack)) {
    rev.base_seq = t.ack - 1;
    rev.base_set = true;
  }

  std::uint32_t a = 0;
  analyze_sequence(*c, d, t.seq, t.ack, p.payload_len, flags, t.window, now, a);
  o.analysis = a;
  o.phase = tcp_phase(*c, d, t.seq, t.ack, p.payload_len, flags);

  if (flags & syn) {
    fwd.is_first_ack = true;
    if ((flags & ack) == 0) {
      c->mru_syn_ts = now;
      c->has_syn_ts = true;
    }
  }
  if ((flags & (syn | ack)) == ack) {
    if (c->has_syn_ts && c->first_rtt_ns == 0) c->first_rtt_ns = now - c->mru_syn_ts;
    fwd.is_first_ack = false;
  }

  // The window as the receiver means it: scaled once the handshake agreed a factor.
  o.win_shift = fwd.win_scale;
  o.win = t.window;
  if ((flags & syn) == 0 && fwd.win_scale >= 0) o.win = std::uint32_t{t.window} << fwd.win_scale;

  if (flags & syn) {
    if (t.wscale >= 0) fwd.win_scale = static_cast<std::int8_t>(std::min<int>(t.wscale, 14));
    if (fwd.win_scale == -1) {
      // This SYN did not offer scaling (or the SYN-ACK declined it): no scaling either way.
      fwd.win_scale = -2;
      rev.win_scale = -2;
    } else if ((flags & ack) && rev.win_scale == -2) {
      fwd.win_scale = -2;
    }
  }

  if (opts.absolute_seq) {
    o.seq = t.seq;
    o.ack = t.ack;
  } else {
    o.seq_base = fwd.base_seq;
    o.ack_base = rev.base_set ? rev.base_seq : 0;
    o.seq = t.seq - fwd.base_seq;
    o.ack = (flags & ack) ? t.ack - o.ack_base : t.ack;
  }

  if ((flags & rst) || (fwd.fin_seen && rev.fin_seen)) mark_closed(*c);
}

void PacketAnalyzer::Impl::analyze_udp(AnalyzedPacket& o) {
  const DecodedPacket& p = o.pkt;
  FlowKey key;
  const int d = make_key(p.ip.src, p.sport, p.ip.dst, p.dport, key);
  o.phase = Phase::datagram;
  UdpConversation* found = udp_conversation(key, p.ts_ns);
  if (found == nullptr) return;  // over max_streams
  UdpConversation& c = *found;
  o.has_stream = true;
  o.stream = c.stream;
  c.recent[c.next_slot] = UdpDatagram{o.n, p.ip.id, static_cast<std::uint8_t>(d)};
  c.next_slot = static_cast<std::uint8_t>((c.next_slot + 1) % c.recent.size());
}

void PacketAnalyzer::Impl::analyze_icmp(AnalyzedPacket& o) {
  const DecodedPacket& p = o.pkt;
  const IcmpHeader& m = p.icmp;
  if (p.reached != Layer::transport) return;
  const bool unreachable = (p.proto == Proto::icmp && m.type == 3) || (p.proto == Proto::icmp6 && m.type == 1);
  if (unreachable) o.phase = Phase::unreachable;
  if (!m.has_quote || !m.quoted_ports) return;
  FlowKey key;
  const int d = make_key(m.quoted_src, m.quoted_sport, m.quoted_dst, m.quoted_dport, key);
  if (m.quoted_protocol == 17) {
    // As tshark: the quoted datagram belongs to (or opens) its UDP conversation.
    UdpConversation* found = udp_conversation(key, p.ts_ns);
    if (found == nullptr) return;  // over max_streams
    UdpConversation& c = *found;
    o.has_stream = true;
    o.stream = c.stream;
    std::uint64_t best = 0;
    for (std::size_t i = 0; i < c.recent.size(); ++i) {
      const UdpDatagram& g = c.recent[(c.next_slot + c.recent.size() - 1 - i) % c.recent.size()];
      if (g.frame == 0 || g.dir != d) continue;
      if (m.quoted_src.version == 4 && g.ip_id == m.quoted_id) {
        best = g.frame;
        break;
      }
      if (best == 0) best = g.frame;
    }
    o.related = best;
  } else if (m.quoted_protocol == 6) {
    bool created = false;
    if (const TcpConversation* c = tcp_conversation(key, p.ts_ns, created)) {
      o.has_stream = true;
      o.stream = c->stream;
    }
  }
}

void PacketAnalyzer::Impl::remember_first_fragment(const AnalyzedPacket& o) {
  first_fragments.remember(o.pkt.ip, o.pkt.ts_ns, {o.n, o.has_stream, o.stream});
}

// A fragment after the first has no transport header: it belongs to the
// datagram whose first fragment has the same addresses, protocol and id.
void PacketAnalyzer::Impl::analyze_later_fragment(AnalyzedPacket& o) {
  o.phase = Phase::fragment;
  if (const auto first = first_fragments.find(o.pkt.ip, o.pkt.ts_ns)) {
    o.related = first->frame;
    o.has_stream = first->has_stream;
    o.stream = first->stream;
  }
}

PacketAnalyzer::PacketAnalyzer(LinkType link, AnalyzerOptions opts)
    : impl_(std::make_unique<Impl>(link, opts)) {}
PacketAnalyzer::~PacketAnalyzer() = default;
PacketAnalyzer::PacketAnalyzer(PacketAnalyzer&&) noexcept = default;
PacketAnalyzer& PacketAnalyzer::operator=(PacketAnalyzer&&) noexcept = default;

LinkType PacketAnalyzer::link() const noexcept { return impl_->link; }
const AnalyzerOptions& PacketAnalyzer::options() const noexcept { return impl_->opts; }
std::size_t PacketAnalyzer::live_flows() const noexcept { return impl_->tcp.size() + impl_->udp.size(); }
std::uint64_t PacketAnalyzer::streams_refused() const noexcept { return impl_->refused; }

const AnalyzedPacket& PacketAnalyzer::next(std::int64_t ts_ns, std::span<const std::uint8_t> bytes,
                                           std::uint32_t wire_len) {
  Impl& m = *impl_;
  AnalyzedPacket& o = m.out;
  o.pkt = decode(m.link, bytes, wire_len, ts_ns);
  o.n = ++m.frames;
  if (o.n == 1) m.first_ts = ts_ns;
  o.rel_ns = ts_ns - m.first_ts;
  o.has_stream = false;
  o.stream = 0;
  o.seq = o.ack = o.seq_base = o.ack_base = o.win = 0;
  o.win_shift = -1;
  o.phase = Phase::none;
  o.analysis = 0;
  o.related = 0;
  m.expire(ts_ns);
  const DecodedPacket& p = o.pkt;
  if (p.reached < Layer::network) return o;
  if (p.ip.fragment_offset != 0) {
    m.analyze_later_fragment(o);
    return o;
  }
  switch (p.proto) {
    case Proto::tcp:
      if (p.reached == Layer::transport) m.analyze_tcp(o);
      break;
    case Proto::udp:
      if (p.reached == Layer::transport) m.analyze_udp(o);
      break;
    case Proto::icmp:
    case Proto::icmp6:
      m.analyze_icmp(o);
      break;
    case Proto::other:
      break;
  }
  if (p.ip.more_fragments) m.remember_first_fragment(o);
  return o;
}

}  // namespace socklab::capture
