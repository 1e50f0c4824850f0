// Capture on every interface of a lab, merged into one timeline (socklab::lab_capture,
// built with libpcap only; socklab::lab itself needs no libpcap).
//
//   auto cap = LabCapture::start(lab.places());         // one LiveCapture per interface
//   ... participants talk ...
//   cap.wait_for("C:eth0", is_arp, 2s);                 // a condition at one place
//   std::vector<FrameEvent> events = cap.stop();        // one event per frame, with its places
//
// Each LiveCapture is opened on a thread that has entered the interface's namespace, so
// its packet socket stays bound to that namespace's interface. The merge is
// capture::merge_sightings(): a broadcast seen at B and C is one event with two places.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/capture/live.hpp"
#include "socklab/capture/merge.hpp"
#include "socklab/lab/lab.hpp"

namespace socklab::lab {

class LabCapture {
 public:
  // Opens a capture at each place. `base` gives the filter, snaplen, ring size (its
  // interface is replaced by each place's); the default ring is small (1 MiB, whole
  // frames up to 2048 bytes): a lab lesson's traffic is a few frames, and a ring per
  // interface at the capture default (64 MiB) is slow to map.
  static net::Result<LabCapture> start(const std::vector<Lab::Place>& places,
                                       capture::LiveCaptureConfig base = {.snaplen = 2048, .buffer_bytes = 1 << 20});

  // Waits until the capture at `place` ("B:eth0") got a packet that satisfies `match`.
  bool wait_for(std::string_view place, std::function<bool(const capture::RawPacket&)> match,
                std::chrono::milliseconds timeout);
  // Packets captured so far at all places (a frame seen at three places counts three).
  [[nodiscard]] std::uint64_t captured() const noexcept;

  // Stops every capture (reading what is still queued) and merges them in time order.
  net::Result<std::vector<capture::FrameEvent>> stop();

 private:
  struct At {
    std::string place;
    capture::LiveCapture cap;
  };
  std::vector<At> captures_;
};

}  // namespace socklab::lab
