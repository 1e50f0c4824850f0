// Merging captures taken at several places (interfaces, namespaces) into one timeline.
//
// A frame that crosses a switch is captured once at every place it passes: a broadcast
// from A is seen at A's interface, at every switch port and at B and C. For the lesson
// it is one frame seen at several places, so merge_sightings() turns the sightings into
// events: one per frame, with the list of places (in the order they saw it) and times.
//
// Two sightings are the same frame when their bytes are equal (same link type) and the
// place has not seen that frame yet: a frame sent again (an ARP request repeated a
// second later) is byte-for-byte the same, so when a place sees those bytes a second
// time a new event starts, and the later sightings elsewhere join it. A router rewrites
// the MAC addresses and the TTL, so what it forwards is a new frame, as on a real wire.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "socklab/capture/raw_packet.hpp"

namespace socklab::capture {

// What one place captured (e.g. "B:eth0"), in capture order.
struct LabelledCapture {
  std::string place;
  LinkType link = LinkType::ethernet;
  std::vector<RawPacket> packets;
};

struct Sighting {
  std::string place;
  std::int64_t ts_ns = 0;  // when that place captured it
};

struct FrameEvent {
  LinkType link = LinkType::ethernet;
  RawPacket frame;                // as first seen: frame.ts_ns is the first sighting's time
  std::vector<Sighting> seen;     // every place, in time order (the first is frame's)
};

// Events in time order of their first sighting; sightings with equal times keep the
// order of `captures`. Every packet of every capture is in exactly one event.
std::vector<FrameEvent> merge_sightings(std::vector<LabelledCapture> captures);

}  // namespace socklab::capture
