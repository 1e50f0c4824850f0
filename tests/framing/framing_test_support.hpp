// Helpers for the framing tests: byte strings, the ways a stream can be cut
// into recv() chunks, a driver that feeds a codec chunk by chunk, and python3.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "socklab/net/framing.hpp"

namespace socklab::test {

inline std::vector<std::byte> to_bytes(std::string_view text) {
  const auto view = std::as_bytes(std::span(text.data(), text.size()));
  return {view.begin(), view.end()};
}

inline std::string to_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// "00 00 00 05" -> the four bytes.
inline std::vector<std::byte> from_hex(std::string_view hex) {
  std::string digits;
  for (const char c : hex)
    if (c != ' ') digits += c;
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

// Chunk sizes that cut a stream of n bytes the way recv() might.
inline std::vector<std::size_t> all_at_once(std::size_t n) {
  return n == 0 ? std::vector<std::size_t>{} : std::vector<std::size_t>{n};
}
inline std::vector<std::size_t> one_byte_at_a_time(std::size_t n) { return std::vector<std::size_t>(n, 1); }
// Deterministic: std::mt19937 is specified bit for bit by the standard.
inline std::vector<std::size_t> random_cuts(std::size_t n, std::uint32_t seed, std::size_t max_chunk) {
  std::mt19937 rng(seed);
  std::vector<std::size_t> cuts;
  while (n > 0) {
    const std::size_t size = std::min<std::size_t>(n, 1 + rng() % max_chunk);
    cuts.push_back(size);
    n -= size;
  }
  return cuts;
}

struct DecodeRun {
  std::vector<std::string> items;       // what `render` made of each item
  std::optional<net::Error> error;      // the first error, from feed() or finish()
};

// Feeds `stream` to `codec` cut into `cuts`, then calls finish(). Each chunk is
// copied into its own buffer that dies right after feed(): a codec that kept a
// span into an old chunk would read freed memory (the ASan build catches it).
template <class Codec, class Render>
DecodeRun run_decoder(Codec& codec, std::span<const std::byte> stream, const std::vector<std::size_t>& cuts,
                      Render render) {
  std::size_t total = 0;
  for (const std::size_t size : cuts) total += size;
  REQUIRE(total == stream.size());
  DecodeRun run;
  std::size_t pos = 0;
  for (const std::size_t size : cuts) {
    std::vector<std::byte> chunk(stream.begin() + static_cast<std::ptrdiff_t>(pos),
                                 stream.begin() + static_cast<std::ptrdiff_t>(pos + size));
    pos += size;
    auto fed = net::feed(codec, std::span<const std::byte>(chunk),
                         [&](const typename Codec::Item& item) { render(run.items, item); });
    if (!fed) {
      run.error = fed.error();
      return run;
    }
  }
  if (auto done = codec.finish(); !done) run.error = done.error();
  return run;
}

inline void render_frame(std::vector<std::string>& out, const net::Frame& frame) {
  out.push_back(to_text(frame.payload));
}

template <class Codec>
DecodeRun decode_frames(Codec codec, std::span<const std::byte> stream, const std::vector<std::size_t>& cuts) {
  return run_decoder(codec, stream, cuts, render_frame);
}

// Runs python3 with `script` as its program and returns what it printed.
// python3 is one of socklab's installed dependencies (README), so it must be there.
inline std::string run_python(const std::string& script) {
  std::string command = "python3 -c '";
  for (const char c : script) command += c == '\'' ? std::string("'\\''") : std::string(1, c);
  command += "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  INFO("python3 output: " << out);
  REQUIRE(status == 0);
  return out;
}

}  // namespace socklab::test
