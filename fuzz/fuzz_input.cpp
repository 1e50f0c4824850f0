#include "fuzz_input.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace socklab::fuzz {

void fail(std::string_view what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %.*s\n", file, line, static_cast<int>(what.size()),
               what.data());
  std::abort();
}

bool parse_framing_input(std::span<const std::uint8_t> data, FramingInput& out) {
  if (data.size() < 2) return false;
  out.settings = data[0];
  const std::size_t k = data[1];
  if (data.size() < 2 + k) return false;
  out.chunk_sizes.clear();
  for (std::size_t i = 0; i < k; ++i) out.chunk_sizes.push_back(std::size_t{data[2 + i]} + 1);
  if (out.chunk_sizes.empty()) out.chunk_sizes.push_back(1);
  out.stream = std::as_bytes(data.subspan(2 + k));
  return true;
}

std::vector<std::uint8_t> make_framing_input(std::uint8_t settings, std::span<const std::uint8_t> chunk_bytes,
                                             std::span<const std::byte> stream) {
  const std::size_t k = std::min<std::size_t>(chunk_bytes.size(), 255);
  std::vector<std::uint8_t> out{settings, static_cast<std::uint8_t>(k)};
  out.insert(out.end(), chunk_bytes.begin(), chunk_bytes.begin() + static_cast<std::ptrdiff_t>(k));
  for (const std::byte b : stream) out.push_back(std::to_integer<std::uint8_t>(b));
  return out;
}

void append_packet_frame(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> bytes,
                         std::uint32_t wire_len, std::uint8_t time_step) {
  const std::size_t n = std::min<std::size_t>(bytes.size(), 0xffff);
  const std::uint64_t cut = wire_len > n ? wire_len - n : 0;
  out.push_back(static_cast<std::uint8_t>(n >> 8U));
  out.push_back(static_cast<std::uint8_t>(n & 0xffU));
  out.push_back(static_cast<std::uint8_t>(std::min<std::uint64_t>(cut, 0xff)));
  out.push_back(time_step);
  out.insert(out.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace socklab::fuzz
