#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "alloc_probe.hpp"
#include "framing_test_support.hpp"
#include "socklab/net/framing.hpp"

using namespace socklab::net;
using namespace socklab::test;

namespace {

std::string header_hex(const LengthPrefixCodec& codec, std::size_t n) {
  auto header = codec.encode_header(n);
  REQUIRE(header);
  std::string out;
  for (const std::byte b : header->span()) {
    char two[3];
    std::snprintf(two, sizeof two, "%02x", std::to_integer<unsigned>(b));
    out += two;
  }
  return out;
}

// A stream of frames of many sizes, including empty ones.
std::vector<std::string> sample_payloads() {
  std::vector<std::string> out = {"", "a", "hello", "", std::string(300, 'x'), "last"};
  for (int i = 0; i < 40; ++i) out.push_back(std::string(static_cast<std::size_t>(i * 37 % 1500), static_cast<char>('A' + i % 26)));
  return out;
}

std::vector<std::byte> encode_all(const LengthPrefixCodec& codec, const std::vector<std::string>& payloads) {
  std::vector<std::byte> stream;
  for (const auto& p : payloads) REQUIRE(codec.encode(p, stream));
  return stream;
}

}  // namespace

TEST_CASE("length prefix bytes are what Python's struct.pack writes", "[framing][length_prefix]") {
  // Known bytes: struct.pack('i', 5) on x86 and struct.pack('!I', 5).
  CHECK(header_hex(LengthPrefixCodec(LengthPrefix::native_int32()), 5) == "05000000");
  CHECK(header_hex(LengthPrefixCodec(LengthPrefix::network_uint32()), 5) == "00000005");
  CHECK(header_hex(LengthPrefixCodec(LengthPrefix::network_uint16()), 5) == "0005");
  CHECK(header_hex(LengthPrefixCodec(LengthPrefix::network_uint32(), 1U << 30), 0x01020304) == "01020304");

  // The same, asked of python3 itself, for every format the codec knows.
  const std::vector<std::string> formats = {"i", "!I", ">I", "<i", "<I", "!i", "h", "H", "!H", "<h", "=i", "!l", "<L"};
  const std::vector<std::uint32_t> values = {0, 5, 255, 256, 4660, 32767};
  std::string script = "import struct\n";
  for (const auto& f : formats)
    for (const auto v : values) script += "print(struct.pack('" + f + "', " + std::to_string(v) + ").hex())\n";
  const std::string python = run_python(script);
  std::string ours;
  for (const auto& f : formats) {
    auto prefix = LengthPrefix::from_struct_format(f);
    REQUIRE(prefix);
    for (const auto v : values) ours += header_hex(LengthPrefixCodec(*prefix), v) + "\n";
  }
  CHECK(ours == python);
}

TEST_CASE("struct formats name the prefix; bad ones are rejected with the text quoted", "[framing][length_prefix]") {
  CHECK(LengthPrefix::from_struct_format("!I").value() == LengthPrefix::network_uint32());
  CHECK(LengthPrefix::from_struct_format("i").value() == LengthPrefix::native_int32());
  CHECK(LengthPrefix::from_struct_format(">H").value() == LengthPrefix::network_uint16());
  CHECK(LengthPrefix::from_struct_format("<i")->struct_format() == "<i");
  CHECK(LengthPrefix::network_uint32().struct_format() == "!I");
  CHECK(LengthPrefix::network_uint16().max_value() == 65535);
  CHECK(LengthPrefix::native_int32().max_value() == 2147483647);

  for (const char* bad : {"", "q", "!q", "II", "!", "@l", "l", "x!I"}) {
    auto r = LengthPrefix::from_struct_format(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::malformed_frame);
    CHECK_THAT(r.error().message(), Catch::Contains("\"" + std::string(bad) + "\""));
  }
}

TEST_CASE("length prefix decoding gives the same frames however the stream is cut", "[framing][length_prefix]") {
  for (const auto prefix : {LengthPrefix::network_uint32(), LengthPrefix::native_int32(),
                            LengthPrefix::network_uint16(), LengthPrefix{PrefixWidth::two_bytes, ByteOrder::little, true}}) {
    CAPTURE(prefix.struct_format());
    const LengthPrefixCodec codec(prefix, 4096);
    const auto payloads = sample_payloads();
    const auto stream = encode_all(codec, payloads);

    auto whole = decode_frames(codec, stream, all_at_once(stream.size()));
    REQUIRE_FALSE(whole.error);
    CHECK(whole.items == payloads);
    auto bytewise = decode_frames(codec, stream, one_byte_at_a_time(stream.size()));
    REQUIRE_FALSE(bytewise.error);
    CHECK(bytewise.items == payloads);
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
      auto random = decode_frames(codec, stream, random_cuts(stream.size(), seed, 1 + seed * 97));
      REQUIRE_FALSE(random.error);
      CHECK(random.items == payloads);
    }
  }
}

TEST_CASE("frames whole inside a chunk are handed out in place; split ones are marked", "[framing][length_prefix]") {
  LengthPrefixCodec codec;
  std::vector<std::byte> chunk;
  REQUIRE(codec.encode("one", chunk));
  REQUIRE(codec.encode("two!", chunk));
  REQUIRE(codec.encode("three", chunk));
  // Cut inside the third frame's payload: "th" | "ree".
  const std::size_t cut = chunk.size() - 3;

  std::vector<Frame> frames;
  std::vector<std::string> texts;
  auto first = std::span<const std::byte>(chunk).first(cut);
  REQUIRE(feed(codec, first, [&](const Frame& f) {
    frames.push_back(f);
    texts.emplace_back(f.text());
  }));
  REQUIRE(frames.size() == 2);
  // The boundary offsets the sticky-packets lesson prints: 4+3 and 7+4+4.
  CHECK(frames[0].end_offset == 7);
  CHECK(frames[1].end_offset == 15);
  for (const auto& f : frames) {
    CHECK_FALSE(f.split_across_chunks);
    CHECK(f.payload.data() >= first.data());
    CHECK(f.payload.data() + f.payload.size() <= first.data() + first.size());
  }
  CHECK(codec.in_frame());

  auto second = std::span<const std::byte>(chunk).subspan(cut);
  REQUIRE(feed(codec, second, [&](const Frame& f) {
    frames.push_back(f);
    texts.emplace_back(f.text());
  }));
  REQUIRE(frames.size() == 3);
  CHECK(texts == std::vector<std::string>{"one", "two!", "three"});
  CHECK(frames[2].split_across_chunks);
  CHECK(frames[2].end_offset == 3);
  CHECK_FALSE(codec.in_frame());
  CHECK(codec.finish());
}

TEST_CASE("a prefix split across chunks is reassembled", "[framing][length_prefix]") {
  LengthPrefixCodec codec(LengthPrefix::native_int32());
  const auto stream = from_hex("05 00 00 00 68 65 6c 6c 6f");  // struct.pack('i', 5) + b"hello"
  for (std::size_t cut = 1; cut < 4; ++cut) {
    auto run = decode_frames(codec, stream, {cut, stream.size() - cut});
    REQUIRE_FALSE(run.error);
    CHECK(run.items == std::vector<std::string>{"hello"});
  }
  // The prefix alone, one byte per chunk, then the payload in one: the payload
  // is whole in its chunk, so it is still handed out in place.
  std::vector<Frame> frames;
  for (std::size_t i = 0; i < 4; ++i)
    REQUIRE(feed(codec, std::span(stream).subspan(i, 1), [&](const Frame& f) { frames.push_back(f); }));
  CHECK(frames.empty());
  const auto payload = std::span<const std::byte>(stream).subspan(4);
  REQUIRE(feed(codec, payload, [&](const Frame& f) { frames.push_back(f); }));
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].payload.data() == payload.data());
  CHECK(frames[0].split_across_chunks);
}

TEST_CASE("a prefix claiming 2 GiB is rejected without allocating it", "[framing][length_prefix]") {
  LengthPrefixCodec codec(LengthPrefix::network_uint32(), 1024 * 1024);
  const auto claim = from_hex("80 00 00 00");  // 2147483648
  AllocationProbe probe;
  auto step = codec.decode(claim);
  const auto stats = probe.stats();
  REQUIRE_FALSE(step);
  CHECK(step.error().code == errc::frame_too_large);
  CHECK_THAT(step.error().message(), Catch::Contains("2147483648") && Catch::Contains("1048576") &&
                                         Catch::Contains("80 00 00 00"));
  CHECK(stats.largest < 1024);  // only the error text was allocated
}

TEST_CASE("a negative signed length is malformed", "[framing][length_prefix]") {
  SECTION("4-byte little-endian signed: struct.pack('i', -1)") {
    LengthPrefixCodec codec(LengthPrefix::native_int32());
    auto step = codec.decode(from_hex("ff ff ff ff"));
    REQUIRE_FALSE(step);
    CHECK(step.error().code == errc::malformed_frame);
    CHECK_THAT(step.error().message(), Catch::Contains("-1") && Catch::Contains("negative"));
  }
  SECTION("the most negative 4-byte length, struct.pack('<i', -2**31)") {
    LengthPrefixCodec codec(LengthPrefix::native_int32());
    auto step = codec.decode(from_hex("00 00 00 80"));
    REQUIRE_FALSE(step);
    CHECK(step.error().code == errc::malformed_frame);
    CHECK_THAT(step.error().message(), Catch::Contains("-2147483648"));
  }
  SECTION("2-byte big-endian signed") {
    LengthPrefixCodec codec(LengthPrefix{PrefixWidth::two_bytes, ByteOrder::big, true});
    auto step = codec.decode(from_hex("80 00"));
    REQUIRE_FALSE(step);
    CHECK(step.error().code == errc::malformed_frame);
    CHECK_THAT(step.error().message(), Catch::Contains("-32768"));
  }
  SECTION("the same bytes unsigned are a length, checked against the maximum") {
    LengthPrefixCodec codec(LengthPrefix{PrefixWidth::two_bytes, ByteOrder::big, false}, 40000);
    auto step = codec.decode(from_hex("80 00"));
    REQUIRE(step);
    CHECK(step->consumed == 2);
    CHECK_FALSE(step->item);
    CHECK(codec.in_frame());
  }
}

TEST_CASE("a codec in error stays in error; frames before the error are delivered", "[framing][length_prefix]") {
  LengthPrefixCodec codec(LengthPrefix::network_uint32(), 100);
  std::vector<std::byte> stream;
  REQUIRE(codec.encode("fine", stream));
  const auto bad = from_hex("00 00 10 00");  // 4096 > 100
  stream.insert(stream.end(), bad.begin(), bad.end());
  std::vector<std::string> got;
  auto fed = feed(codec, stream, [&](const Frame& f) { got.emplace_back(f.text()); });
  CHECK(got == std::vector<std::string>{"fine"});
  REQUIRE_FALSE(fed);
  CHECK(fed.error().code == errc::frame_too_large);

  std::vector<std::byte> good;
  REQUIRE(codec.encode("good", good));
  auto again = codec.decode(good);
  REQUIRE_FALSE(again);
  CHECK(again.error().message() == fed.error().message());
  CHECK_FALSE(codec.finish());
}

TEST_CASE("EOF in the middle of a frame is eof_in_frame, at a boundary it is fine", "[framing][length_prefix]") {
  const LengthPrefixCodec fresh(LengthPrefix::network_uint32());
  std::vector<std::byte> stream;
  REQUIRE(fresh.encode("0123456789", stream));

  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    auto run = decode_frames(fresh, std::span(stream).first(cut), all_at_once(cut));
    REQUIRE(run.error);
    CHECK(run.error->code == errc::eof_in_frame);
    CHECK(run.items.empty());
  }
  auto in_header = decode_frames(fresh, std::span(stream).first(2), all_at_once(2));
  CHECK_THAT(in_header.error->message(), Catch::Contains("2 of 4 length-prefix bytes"));
  auto in_payload = decode_frames(fresh, std::span(stream).first(7), one_byte_at_a_time(7));
  CHECK_THAT(in_payload.error->message(), Catch::Contains("3 of 10 payload bytes"));

  auto whole = decode_frames(fresh, stream, all_at_once(stream.size()));
  CHECK_FALSE(whole.error);
  CHECK(LengthPrefixCodec().finish());  // nothing received at all
}

TEST_CASE("many frames in one chunk decode without any heap allocation", "[framing][length_prefix]") {
  LengthPrefixCodec codec;
  const std::string payload(64, 'm');
  std::vector<std::byte> stream;
  stream.reserve(10000 * 68);
  {
    AllocationProbe probe;  // encoding into a reserved buffer allocates nothing either
    bool encoded = true;
    for (int i = 0; i < 10000; ++i) encoded &= codec.encode(payload, stream).has_value();
    const auto stats = probe.stats();
    CHECK(encoded);
    CHECK(stats.count == 0);
  }
  std::size_t frames = 0;
  std::size_t last_end = 0;
  AllocationProbe probe;
  auto fed = feed(codec, stream, [&](const Frame& f) {
    ++frames;
    last_end = f.end_offset;
  });
  const auto stats = probe.stats();
  REQUIRE(fed);
  CHECK(frames == 10000);
  CHECK(last_end == stream.size());
  CHECK(stats.count == 0);
}

TEST_CASE("the buffer for a split frame never grows past the announced length", "[framing][length_prefix]") {
  LengthPrefixCodec codec(LengthPrefix::network_uint32(), 5000);
  const std::string payload(5000, 'p');
  std::vector<std::byte> stream;
  std::string got;
  got.reserve(5000);
  REQUIRE(codec.encode(payload, stream));
  const auto cuts = one_byte_at_a_time(stream.size());
  AllocationProbe probe;
  auto run = run_decoder(codec, stream, cuts,
                         [&](std::vector<std::string>&, const Frame& f) { got = f.text(); });
  const auto stats = probe.stats();
  REQUIRE_FALSE(run.error);
  CHECK(got == payload);  // `got` had its capacity before the probe: no allocation counted
  // The codec's buffer is the largest allocation; the test's own 1-byte chunks are the rest.
  CHECK(stats.largest <= 5000);
}

TEST_CASE("encoding checks the size before writing anything", "[framing][length_prefix]") {
  SECTION("over the codec's maximum") {
    LengthPrefixCodec codec(LengthPrefix::network_uint32(), 10);
    std::vector<std::byte> out = to_bytes("kept");
    auto r = codec.encode(std::string(11, 'x'), out);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::frame_too_large);
    CHECK_THAT(r.error().message(), Catch::Contains("11") && Catch::Contains("10"));
    CHECK(out == to_bytes("kept"));
    CHECK(codec.encode(std::string(10, 'x'), out));
  }
  SECTION("over what a 2-byte prefix can carry, whatever the maximum asked") {
    LengthPrefixCodec codec(LengthPrefix::network_uint16(), 1 << 20);
    CHECK(codec.max_frame() == 65535);
    std::vector<std::byte> out;
    CHECK_FALSE(codec.encode(std::vector<std::byte>(65536), out));
    CHECK(out.empty());
    CHECK(codec.encode(std::vector<std::byte>(65535), out));
  }
  SECTION("the header alone, then the payload, is the same as encode()") {
    LengthPrefixCodec codec(LengthPrefix::native_int32());
    std::vector<std::byte> together;
    REQUIRE(codec.encode("payload", together));
    auto header = codec.encode_header(7);
    REQUIRE(header);
    std::vector<std::byte> gathered(header->span().begin(), header->span().end());
    const auto p = to_bytes("payload");
    gathered.insert(gathered.end(), p.begin(), p.end());
    CHECK(gathered == together);
  }
  SECTION("parse_header checks what it reads") {
    LengthPrefixCodec codec(LengthPrefix::network_uint32(), 100);
    CHECK(codec.parse_header(from_hex("00 00 00 64")).value() == 100);
    CHECK(codec.parse_header(from_hex("00 00 00 65")).error().code == errc::frame_too_large);
    CHECK(codec.parse_header(from_hex("00 00 64")).error().code == errc::malformed_frame);
  }
}
