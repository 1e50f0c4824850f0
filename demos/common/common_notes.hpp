// The notes the shared plumbing prints, from lessons/<lang>/common.md.
#pragma once

#include <array>
#include <string_view>

#include "note_key.hpp"

namespace socklab::demo {

inline constexpr std::array<std::string_view, 28> kCommonNoteKeys{
    "server_only_hint",
    "address_not_here", "port_privileged",
    "port_in_use",      "server_waiting",  "server_failed",   "this_machine_address",
    "no_capture_support", "see_wire",      "capture_stats",   "capture_problem",
    "summary_heading",  "timeline_heading", "verdict_differs", "why",
    "failed",           "kernel_drops",    "pcap_written",    "client_only_hint",
    "no_packets",       "capture_armed",
    "capture_armed_first", "capture_not_permitted",
    "server_loopback_only", "server_addresses", "server_no_address", "capture_row", "accept_queue_row",
};
using CommonNote = Key<kCommonNoteKeys>;

}  // namespace socklab::demo
