// What must hold for every framing decoder, whatever bytes a peer sends and
// however the kernel cuts them: the fuzz targets' bodies, also run by the
// regression tests in tests/hardening.
//
// Each check decodes the stream twice, once whole and once in the input's
// chunk sizes, and requires the same items and the same outcome (the error
// code, or a clean or half-received EOF), plus each codec's own rules: no
// frame above the maximum, a clean stream re-encodes to the same bytes, an
// error is sticky. A broken rule aborts (SOCKLAB_FUZZ_CHECK).
#pragma once

#include <cstdint>
#include <span>

#include "socklab/net/framing.hpp"

namespace socklab::fuzz {

// The codec a settings byte selects (see each function's table in the .cpp):
// the fuzzer and the seeds agree on these through the same functions.
net::LengthPrefix length_prefix_shape(std::uint8_t settings);  // bits 0-2
net::LengthPrefixCodec length_prefix_codec(std::uint8_t settings);
net::DelimiterCodec delimiter_codec(std::uint8_t settings);
net::FixedLengthCodec fixed_length_codec(std::uint8_t settings);
net::HeaderBodyCodec header_body_codec(std::uint8_t settings);

// The whole input in the FramingInput layout (fuzz_input.hpp).
void check_length_prefix(std::span<const std::uint8_t> data);
void check_delimiter(std::span<const std::uint8_t> data);
void check_fixed_length(std::span<const std::uint8_t> data);
void check_header_body(std::span<const std::uint8_t> data);

}  // namespace socklab::fuzz
