// LabCapture: a LiveCapture per lab interface, each opened inside its namespace.
#include "socklab/lab/lab_capture.hpp"

namespace socklab::lab {

net::Result<LabCapture> LabCapture::start(const std::vector<Lab::Place>& places, capture::LiveCaptureConfig base) {
  LabCapture out;
  for (const auto& pl : places) {
    capture::LiveCaptureConfig cfg = base;
    cfg.interface = pl.interface->name;
    auto cap = pl.node->in_namespace([&] { return capture::LiveCapture::start(std::move(cfg)); });
    if (!cap) {
      net::Error e = cap.error();
      e.context = "capture at " + pl.interface->place() + (e.context.empty() ? "" : ": " + e.context);
      return std::unexpected(e);
    }
    out.captures_.push_back({pl.interface->place(), std::move(*cap)});
  }
  return out;
}

bool LabCapture::wait_for(std::string_view place, std::function<bool(const capture::RawPacket&)> match,
                          std::chrono::milliseconds timeout) {
  for (auto& c : captures_) {
    if (c.place == place) return c.cap.wait_for(std::move(match), timeout);
  }
  return false;
}

std::uint64_t LabCapture::captured() const noexcept {
  std::uint64_t n = 0;
  for (const auto& c : captures_) n += c.cap.captured();
  return n;
}

net::Result<std::vector<capture::FrameEvent>> LabCapture::stop() {
  std::vector<capture::LabelledCapture> labelled;
  for (auto& c : captures_) {
    if (auto st = c.cap.stop(); !st) return std::unexpected(st.error());
    labelled.push_back({c.place, c.cap.link_type(), c.cap.take_packets()});
  }
  return capture::merge_sightings(std::move(labelled));
}

}  // namespace socklab::lab
