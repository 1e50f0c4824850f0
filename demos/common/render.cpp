#include "render.hpp"

#include <cstdio>
#include <cstring>

namespace socklab::demo {

std::string render_value(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_array()) {
    std::string out;
    for (const auto& item : v) {
      if (!out.empty()) out += ' ';
      out += render_value(item);
    }
    return out.empty() ? "-" : out;
  }
  return v.dump();
}

std::string flags_text(const nlohmann::json& flags) {
  std::string out;
  for (const auto& f : flags) {
    if (!out.empty()) out += ' ';
    out += "[" + render_value(f) + "]";
  }
  return out.empty() ? "-" : out;
}

std::string duration_text(std::int64_t ns) {
  const double us = static_cast<double>(ns) / 1e3;
  char buf[32];
  if (us < 1000) {
    std::snprintf(buf, sizeof buf, "%.0f µs", us);
  } else if (us < 1e6) {
    std::snprintf(buf, sizeof buf, "%.1f ms", us / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", us / 1e6);
  }
  return buf;
}

std::string errno_name(int err) {
  if (err == 0) return {};
  const char* name = ::strerrorname_np(err);
  return name != nullptr ? name : "errno " + std::to_string(err);
}

nlohmann::json call_to_json(const net::CallEvent& e, const std::optional<std::string>& note, std::int64_t origin_ns) {
  nlohmann::json j = {{"kind", "call"},     {"t", static_cast<double>(e.t_ns - origin_ns) / 1e9},
                      {"t_ns", e.t_ns},     {"dur_ns", e.dur_ns},
                      {"side", net::to_string(e.side)}, {"call", e.call}, {"args", e.args},
                      {"result", e.result}, {"errno", e.err}};
  if (e.err != 0) j["error"] = errno_name(e.err);
  if (!e.preview.empty()) j["preview"] = e.preview;
  if (!e.local.empty()) j["local"] = e.local;
  if (!e.peer.empty()) j["peer"] = e.peer;
  if (!e.participant.empty()) j["participant"] = e.participant;
  if (note) j["note"] = *note;
  return j;
}

}  // namespace socklab::demo
