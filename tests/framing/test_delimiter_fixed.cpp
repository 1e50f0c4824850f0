#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "alloc_probe.hpp"
#include "framing_test_support.hpp"
#include "socklab/net/framing.hpp"

using namespace socklab::net;
using namespace socklab::test;

namespace {

DelimiterCodec make_delimiter(std::string_view delimiter, std::size_t max_frame = default_max_frame) {
  auto codec = DelimiterCodec::create(delimiter, max_frame);
  REQUIRE(codec);
  return std::move(*codec);
}

FixedLengthCodec make_fixed(std::size_t size, std::byte pad = std::byte{0}) {
  auto codec = FixedLengthCodec::create(size, pad);
  REQUIRE(codec);
  return std::move(*codec);
}

// The obvious splitter over a whole string: what the incremental decoder must
// agree with. `rest` is what follows the last delimiter.
struct Split {
  std::vector<std::string> lines;
  std::string rest;
};
Split reference_split(const std::string& text, const std::string& delimiter) {
  Split out;
  std::size_t from = 0;
  for (auto at = text.find(delimiter); at != std::string::npos; at = text.find(delimiter, from)) {
    out.lines.push_back(text.substr(from, at - from));
    from = at + delimiter.size();
  }
  out.rest = text.substr(from);
  return out;
}

}  // namespace

TEST_CASE("delimiter: lines are the same however the stream is cut", "[framing][delimiter]") {
  for (const std::string delimiter : {"\n", "\r\n", "--END--"}) {
    CAPTURE(delimiter);
    const auto codec = make_delimiter(delimiter);
    const std::vector<std::string> lines = {"hello", "", "world", std::string(2000, 'z'), "", "last line"};
    std::vector<std::byte> stream;
    for (const auto& l : lines) REQUIRE(codec.encode(l, stream));

    auto whole = decode_frames(codec, stream, all_at_once(stream.size()));
    REQUIRE_FALSE(whole.error);
    CHECK(whole.items == lines);
    auto bytewise = decode_frames(codec, stream, one_byte_at_a_time(stream.size()));
    REQUIRE_FALSE(bytewise.error);
    CHECK(bytewise.items == lines);
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
      auto random = decode_frames(codec, stream, random_cuts(stream.size(), seed, 1 + seed * 13));
      REQUIRE_FALSE(random.error);
      CHECK(random.items == lines);
    }
  }
}

TEST_CASE("delimiter: overlapping multi-byte delimiters split across chunks agree with a reference",
          "[framing][delimiter]") {
  // Small alphabets make delimiter prefixes and overlaps frequent at every cut.
  std::mt19937 rng(20240601);
  for (const std::string delimiter : {"aab", "abab", "aa", "\r\n", "x"}) {
    CAPTURE(delimiter);
    // Texts drawn from the delimiter's own bytes plus one other: near-misses everywhere.
    const std::string alphabet = delimiter + "x";
    for (int round = 0; round < 60; ++round) {
      std::string text;
      const std::size_t length = 1 + rng() % 400;
      for (std::size_t i = 0; i < length; ++i) text += alphabet[rng() % alphabet.size()];
      // Decoding stops at EOF with a partial line: compare only complete lines.
      const auto expected = reference_split(text, delimiter);
      const auto stream = to_bytes(text);
      for (const auto& cuts : {all_at_once(stream.size()), one_byte_at_a_time(stream.size()),
                               random_cuts(stream.size(), static_cast<std::uint32_t>(round), 3),
                               random_cuts(stream.size(), static_cast<std::uint32_t>(round) + 1000, 9)}) {
        auto run = decode_frames(make_delimiter(delimiter), stream, cuts);
        CHECK(run.items == expected.lines);
        // finish() complains exactly when bytes follow the last delimiter.
        CHECK(run.error.has_value() == !expected.rest.empty());
        if (run.error) CHECK(run.error->code == errc::eof_in_frame);
      }
    }
  }
}

TEST_CASE("delimiter: boundaries and zero-copy inside one chunk", "[framing][delimiter]") {
  auto codec = make_delimiter("\r\n");
  const auto chunk = to_bytes("ab\r\n\r\ncde\r");
  std::vector<Frame> frames;
  REQUIRE(feed(codec, chunk, [&](const Frame& f) { frames.push_back(f); }));
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].text() == "ab");
  CHECK(frames[0].end_offset == 4);
  CHECK(frames[0].payload.data() == chunk.data());
  CHECK(frames[1].text().empty());
  CHECK(frames[1].end_offset == 6);
  CHECK(codec.in_frame());
  // The delimiter's '\n' arrives alone.
  std::string third;
  bool split = false;
  std::size_t end = 0;
  REQUIRE(feed(codec, to_bytes("\nz"), [&](const Frame& f) {
    third = f.text();
    split = f.split_across_chunks;
    end = f.end_offset;
  }));
  CHECK(third == "cde");
  CHECK(split);
  CHECK(end == 1);
}

TEST_CASE("delimiter: a line longer than the maximum is rejected as soon as it is known",
          "[framing][delimiter]") {
  SECTION("one-byte delimiter: the ninth byte of an 8-byte maximum") {
    auto codec = make_delimiter("\n", 8);
    const auto bytes = to_bytes("123456789");
    for (std::size_t i = 0; i < 8; ++i) REQUIRE(codec.decode(std::span(bytes).subspan(i, 1)));
    auto step = codec.decode(std::span(bytes).subspan(8, 1));
    REQUIRE_FALSE(step);
    CHECK(step.error().code == errc::frame_too_large);
    CHECK_THAT(step.error().message(), Catch::Contains("9 bytes") && Catch::Contains("8 bytes") &&
                                           Catch::Contains("\\n"));
    CHECK_FALSE(codec.decode(to_bytes("\n")));  // and it stays in error
  }
  SECTION("nine bytes without a delimiter in one chunk") {
    auto codec = make_delimiter("\n", 8);
    auto step = codec.decode(to_bytes("123456789"));
    REQUIRE_FALSE(step);
    CHECK(step.error().code == errc::frame_too_large);
    CHECK_FALSE(codec.in_frame());
  }
  SECTION("exactly the maximum is fine, with a two-byte delimiter cut in half") {
    auto run = decode_frames(make_delimiter("\r\n", 8), to_bytes("12345678\r\n"), {9, 1});
    REQUIRE_FALSE(run.error);
    CHECK(run.items == std::vector<std::string>{"12345678"});
  }
  SECTION("a delimiter prefix at the end does not count, what follows it does") {
    auto codec = make_delimiter("\r\n", 8);
    REQUIRE(codec.decode(to_bytes("12345678\r")));
    auto step = codec.decode(to_bytes("x"));
    REQUIRE_FALSE(step);
    CHECK(step.error().code == errc::frame_too_large);
  }
  SECTION("a long line with its delimiter in the same chunk") {
    auto run = decode_frames(make_delimiter("\n", 8), to_bytes("ok\n123456789\n"), all_at_once(13));
    CHECK(run.items == std::vector<std::string>{"ok"});
    REQUIRE(run.error);
    CHECK(run.error->code == errc::frame_too_large);
  }
  SECTION("the buffer never holds more than max + delimiter - 1 bytes") {
    const std::size_t max = 4000;
    auto codec = make_delimiter("<END>", max);
    std::string junk(max + 4, 'j');
    junk += "<EN";  // a delimiter prefix right at the end
    const auto stream = to_bytes(junk);
    const auto cuts = one_byte_at_a_time(stream.size());
    AllocationProbe probe;
    auto run = run_decoder(codec, stream, cuts,
                           [](std::vector<std::string>&, const Frame&) {});
    const auto stats = probe.stats();
    REQUIRE(run.error);
    CHECK(run.error->code == errc::frame_too_large);
    CHECK(stats.largest <= max + 4);
  }
}

TEST_CASE("delimiter: encoding refuses what the receiver could not split back", "[framing][delimiter]") {
  const auto codec = make_delimiter("\r\n", 16);
  std::vector<std::byte> out = to_bytes("kept");
  auto inside = codec.encode("one\r\ntwo", out);
  REQUIRE_FALSE(inside);
  CHECK(inside.error().code == errc::malformed_frame);
  CHECK_THAT(inside.error().message(), Catch::Contains("offset 3") && Catch::Contains("\\r\\n"));
  auto long_line = codec.encode(std::string(17, 'l'), out);
  REQUIRE_FALSE(long_line);
  CHECK(long_line.error().code == errc::frame_too_large);
  CHECK(out == to_bytes("kept"));
  REQUIRE(codec.encode("one\rtwo\n", out));  // neither half of the delimiter alone is it
  CHECK(out == to_bytes("keptone\rtwo\n\r\n"));

  auto empty = DelimiterCodec::create("");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == errc::malformed_frame);
}

TEST_CASE("delimiter: EOF after a partial line is eof_in_frame", "[framing][delimiter]") {
  auto run = decode_frames(make_delimiter("\n"), to_bytes("done\nhalf a li"), one_byte_at_a_time(14));
  CHECK(run.items == std::vector<std::string>{"done"});
  REQUIRE(run.error);
  CHECK(run.error->code == errc::eof_in_frame);
  CHECK_THAT(run.error->message(), Catch::Contains("9 bytes"));
}

TEST_CASE("fixed length: short payloads are padded as struct.pack('Ns') pads them", "[framing][fixed]") {
  const auto codec = make_fixed(8);
  std::vector<std::byte> out;
  REQUIRE(codec.encode("abc", out));
  REQUIRE(codec.encode("12345678", out));
  CHECK(out == from_hex("61 62 63 00 00 00 00 00  31 32 33 34 35 36 37 38"));
  const std::string python = run_python("import struct\nprint((struct.pack('8s', b'abc') + struct.pack('8s', b'12345678')).hex())");
  CHECK(python == "61626300000000003132333435363738\n");
  CHECK(codec.strip_padding(std::span<const std::byte>(out).first(8)).size() == 3);

  const auto spaces = make_fixed(4, std::byte{' '});
  std::vector<std::byte> padded;
  REQUIRE(spaces.encode("x", padded));
  CHECK(to_text(padded) == "x   ");

  std::vector<std::byte> kept = to_bytes("kept");
  auto too_long = codec.encode("123456789", kept);
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error().code == errc::frame_too_large);
  CHECK_THAT(too_long.error().message(), Catch::Contains("9 bytes") && Catch::Contains("8 bytes"));
  CHECK(kept == to_bytes("kept"));

  auto zero = FixedLengthCodec::create(0);
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == errc::malformed_frame);
}

TEST_CASE("fixed length: frames are the same however the stream is cut", "[framing][fixed]") {
  const auto codec = make_fixed(10);
  std::vector<std::string> expected;
  std::vector<std::byte> stream;
  for (int i = 0; i < 50; ++i) {
    const std::string payload(static_cast<std::size_t>(i % 11), static_cast<char>('a' + i % 26));
    REQUIRE(codec.encode(payload, stream));
    expected.push_back(payload + std::string(10 - payload.size(), '\0'));
  }
  for (const auto& cuts : {all_at_once(stream.size()), one_byte_at_a_time(stream.size()),
                           random_cuts(stream.size(), 7, 23), random_cuts(stream.size(), 8, 3)}) {
    auto run = decode_frames(codec, stream, cuts);
    REQUIRE_FALSE(run.error);
    CHECK(run.items == expected);
  }
}

TEST_CASE("fixed length: in place within a chunk, EOF mid-frame is an error", "[framing][fixed]") {
  auto codec = make_fixed(4);
  const auto chunk = to_bytes("abcdefghij");
  std::vector<Frame> frames;
  REQUIRE(feed(codec, chunk, [&](const Frame& f) { frames.push_back(f); }));
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].payload.data() == chunk.data());
  CHECK(frames[1].end_offset == 8);
  CHECK(codec.in_frame());
  auto eof = codec.finish();
  REQUIRE_FALSE(eof);
  CHECK(eof.error().code == errc::eof_in_frame);
  CHECK_THAT(eof.error().message(), Catch::Contains("2 of 4"));
}
