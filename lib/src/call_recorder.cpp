#include "socklab/net/call_recorder.hpp"

#include <ctime>

namespace socklab::net {

std::string_view to_string(Side s) noexcept {
  switch (s) {
    case Side::client: return "client";
    case Side::server: return "server";
    case Side::none: break;
  }
  return "";
}

std::int64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void CallRecorder::record(CallEvent ev) {
  const std::lock_guard lock(mutex_);
  events_.push_back(std::move(ev));
}

std::vector<CallEvent> CallRecorder::snapshot() const {
  const std::lock_guard lock(mutex_);
  return events_;
}

void CallRecorder::clear() {
  const std::lock_guard lock(mutex_);
  events_.clear();
}

void Trace::finish(std::int64_t t0, CallEvent ev) const {
  if (recorder == nullptr) return;
  ev.t_ns = t0;
  ev.dur_ns = realtime_ns() - t0;
  ev.side = side;
  ev.participant = std::string(participant);
  recorder->record(std::move(ev));
}

std::string preview_bytes(std::span<const std::byte> data, std::size_t max_chars) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    std::string piece;
    switch (c) {
      case '\n': piece = "\\n"; break;
      case '\r': piece = "\\r"; break;
      case '\t': piece = "\\t"; break;
      case '\\': piece = "\\\\"; break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          piece.assign(1, static_cast<char>(c));
        } else {
          piece = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
        }
    }
    // Never split an escape: stop before a piece that does not fit.
    if (out.size() + piece.size() > max_chars) {
      out += "…";
      return out;
    }
    out += piece;
  }
  return out;
}

}  // namespace socklab::net
