// The byte layouts the fuzz targets read, and the check that stops a run.
//
// A fuzz input is just bytes; these layouts give some of them a meaning, so
// the fuzzer can choose the codec's settings and how the stream is cut, and so
// seeds can be written from real frames and real captures (fuzz/make_seeds.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace socklab::fuzz {

// A broken invariant: prints what and where, then aborts, which libFuzzer
// reports as a crash with the input saved (and a Catch2 test as a failure).
[[noreturn]] void fail(std::string_view what, const char* file, int line);

#define SOCKLAB_FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::socklab::fuzz::fail(#cond, __FILE__, __LINE__))

// Framing targets:
//   byte 0        the codec's settings (each target reads its own bits)
//   byte 1        k, how many chunk sizes follow
//   k bytes       chunk sizes: byte v feeds v + 1 bytes; the list is cycled.
//                 k = 0 feeds the stream one byte at a time.
//   the rest      the byte stream, as a peer would send it
struct FramingInput {
  std::uint8_t settings = 0;
  std::vector<std::size_t> chunk_sizes;  // never empty, every size >= 1
  std::span<const std::byte> stream;
};

// False when the input is too short to hold the layout (the target then does nothing).
bool parse_framing_input(std::span<const std::uint8_t> data, FramingInput& out);
// The inverse, for seeds: settings, the chunk size bytes (each v feeds v + 1), the stream.
std::vector<std::uint8_t> make_framing_input(std::uint8_t settings, std::span<const std::uint8_t> chunk_bytes,
                                             std::span<const std::byte> stream);

// The packet target:
//   byte 0        the link type (an index into link_types(), modulo their count)
//   then frames, each:
//     2 bytes     captured length n, big-endian (cut to what is left)
//     1 byte      how many bytes the snapshot length cut: wire_len = n + this byte
//     1 byte      time since the previous frame: b*b*10 ms (up to about 11 minutes,
//                 so the analyzer's flow timeouts are reached)
//     n bytes     the frame as captured
struct PacketFrame {
  std::int64_t ts_ns = 0;
  std::uint32_t wire_len = 0;
  std::span<const std::uint8_t> bytes;
};
inline constexpr std::size_t packet_frame_header = 4;

// Appends one frame in the layout above (bytes beyond 65535 are cut; the cut
// is added to wire_len when it fits in the byte that carries it).
void append_packet_frame(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> bytes,
                         std::uint32_t wire_len, std::uint8_t time_step);

}  // namespace socklab::fuzz
