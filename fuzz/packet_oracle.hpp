// What must hold for the packet decoder, the TCP analysis and the renderers,
// whatever bytes a capture file holds: the fuzz target's body, also run by
// the regression tests in tests/hardening.
//
// Every frame goes through decode() (every span it hands out lies inside the
// frame, lengths agree, a malformation has a reason), then through the
// analyzer and every renderer `socklab-capture read` uses; the JSON line must
// parse and be byte for byte what the PacketRecord path gives.
#pragma once

#include <cstdint>
#include <span>

#include "socklab/capture/raw_packet.hpp"

namespace socklab::fuzz {

// Every link type the decoder knows, in the order the input's first byte picks them.
std::span<const capture::LinkType> link_types();
// The first byte that picks `link` (for seeds).
std::uint8_t link_type_byte(capture::LinkType link);

// The whole input in the packet layout (fuzz_input.hpp).
void check_packets(std::span<const std::uint8_t> data);

}  // namespace socklab::fuzz
