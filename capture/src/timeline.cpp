#include <algorithm>
#include <cerrno>
#include <string_view>

#include "socklab/capture/timeline.hpp"

namespace socklab::capture {

namespace {

// Calls that return because something arrived from the peer: accept, recv,
// recvfrom; the wait for a non-blocking connect to finish (args end in
// "(finish)": it returns on the SYN-ACK, maybe after retransmitted SYNs); and a
// connect() that failed (EINPROGRESS aside, which is not a failure): it
// returned on the RST or ICMP error that refused it, or when time ran out, so
// "connect ✗ ECONNREFUSED" must stand below the RST, not above the SYN.
bool waits_for_peer(const net::CallEvent& c) {
  if (c.call == "accept" || c.call == "recv" || c.call == "recvfrom") return true;
  if (c.call != "connect") return false;
  return c.args.ends_with("(finish)") || (c.err != 0 && c.err != EINPROGRESS);
}

}  // namespace

std::int64_t place_in_time(const net::CallEvent& call) noexcept {
  return waits_for_peer(call) ? call.t_ns + call.dur_ns : call.t_ns;
}

std::vector<TimelineEntry> merge_timeline(std::span<const net::CallEvent> calls,
                                          std::span<const PacketRecord> packets) {
  struct Keyed {
    std::int64_t t;
    int rank;  // at equal times: start-placed calls, then packets, then end-placed calls
    std::size_t order;
    TimelineEntry entry;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(calls.size() + packets.size());
  std::size_t order = 0;
  for (const auto& c : calls) {
    const std::int64_t t = place_in_time(c);
    keyed.push_back({t, waits_for_peer(c) ? 2 : 0, order++, TimelineEntry{t, c, {}}});
  }
  for (const auto& p : packets) keyed.push_back({p.ts_ns, 1, order++, TimelineEntry{p.ts_ns, p, {}}});
  std::stable_sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    if (a.t != b.t) return a.t < b.t;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.order < b.order;
  });
  std::vector<TimelineEntry> out;
  out.reserve(keyed.size());
  for (auto& k : keyed) out.push_back(std::move(k.entry));
  return out;
}

}  // namespace socklab::capture
