// Small text helpers of the report: values, durations, errno names, JSON of calls.
// (Display width and wrapping: socklab/capture/terminal.hpp.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "socklab/net/call_recorder.hpp"
#include "socklab/net/error.hpp"

namespace socklab::demo {

// A JSON value as a learner reads it: ["S","S.","."] -> "S S. .", "x" -> x, null -> "-".
std::string render_value(const nlohmann::json& v);

// TCP flags as tcpdump prints them, one bracket each: ["S","S."] -> "[S] [S.]".
std::string flags_text(const nlohmann::json& flags);

// A duration as people read it: "12 µs", "41.4 ms", "1.50 s".
std::string duration_text(std::int64_t ns);

// "ECONNREFUSED" for 111; "" for 0 (written once, in lib).
using net::errno_name;

// The {"kind":"call",...} object of the --json output (documented in demos/README.md).
// `origin_ns` is the time "t" counts from: the first packet's, as the packets' "t".
nlohmann::json call_to_json(const net::CallEvent& e, const std::optional<std::string>& note, std::int64_t origin_ns);

}  // namespace socklab::demo
