// merge_sightings: one event per frame, with every place that saw it.
#include "socklab/capture/merge.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace socklab::capture {

std::vector<FrameEvent> merge_sightings(std::vector<LabelledCapture> captures) {
  struct Ref {
    std::int64_t ts_ns;
    std::size_t capture, packet;
  };
  std::vector<Ref> order;
  for (std::size_t c = 0; c < captures.size(); ++c) {
    for (std::size_t p = 0; p < captures[c].packets.size(); ++p) order.push_back({captures[c].packets[p].ts_ns, c, p});
  }
  std::ranges::stable_sort(order, {}, &Ref::ts_ns);  // stable: captures' order breaks ties

  std::vector<FrameEvent> events;
  // The frame's bytes (with its link type) -> the latest event holding those bytes.
  std::unordered_map<std::string, std::size_t> latest;
  for (const Ref& r : order) {
    LabelledCapture& cap = captures[r.capture];
    RawPacket& pkt = cap.packets[r.packet];
    std::string key(1, static_cast<char>(cap.link));
    key.append(reinterpret_cast<const char*>(pkt.bytes.data()), pkt.bytes.size());
    const auto it = latest.find(key);
    if (it != latest.end()) {
      FrameEvent& ev = events[it->second];
      const bool seen_here =
          std::ranges::any_of(ev.seen, [&](const Sighting& s) { return s.place == cap.place; });
      if (!seen_here) {
        ev.seen.push_back({cap.place, pkt.ts_ns});
        continue;
      }
    }
    latest[std::move(key)] = events.size();
    events.push_back(FrameEvent{cap.link, std::move(pkt), {{cap.place, r.ts_ns}}});
  }
  return events;
}

}  // namespace socklab::capture
