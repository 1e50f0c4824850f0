#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "alloc_probe.hpp"
#include "framing_test_support.hpp"
#include "socklab/net/framing.hpp"

using namespace socklab::net;
using namespace socklab::test;

using Kind = HeaderBodyCodec::Part::Kind;

namespace {

// One line per part, with body pieces merged: the same text however the stream was cut.
void render_part(std::vector<std::string>& out, const HeaderBodyCodec::Part& part) {
  switch (part.kind) {
    case Kind::header: out.push_back("header " + to_text(part.data)); break;
    case Kind::body:
      if (out.empty() || out.back().rfind("body ", 0) != 0) out.emplace_back("body ");
      out.back() += to_text(part.data);
      break;
    case Kind::end: out.emplace_back("end"); break;
  }
}

DecodeRun decode_messages(HeaderBodyCodec codec, std::span<const std::byte> stream,
                          const std::vector<std::size_t>& cuts) {
  return run_decoder(codec, stream, cuts, render_part);
}

std::string file_bytes(std::size_t n) {
  std::string body(n, '\0');
  for (std::size_t i = 0; i < n; ++i) body[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return body;
}

// A header with a chosen prefix and JSON text, written by hand.
std::vector<std::byte> raw_message(const LengthPrefixCodec& prefix, std::string_view json, std::string_view body = "") {
  std::vector<std::byte> out;
  REQUIRE(prefix.encode(json, out));
  const auto b = to_bytes(body);
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace

TEST_CASE("header+body: the classic file transfer, however the stream is cut", "[framing][header_body]") {
  const HeaderBodyCodec codec;
  const std::string body = file_bytes(5000);
  std::vector<std::byte> stream;
  REQUIRE(codec.encode({{"file_name", "notes.txt"}}, to_bytes(body), stream));
  REQUIRE(codec.encode({{"file_name", "empty.txt"}}, {}, stream));
  REQUIRE(codec.encode({{"file_name", "small.txt"}}, to_bytes("hi"), stream));

  const std::vector<std::string> expected = {
      R"(header {"file_name":"notes.txt","file_size":5000})", "body " + body, "end",
      R"(header {"file_name":"empty.txt","file_size":0})", "end",
      R"(header {"file_name":"small.txt","file_size":2})", "body hi", "end"};
  // Little-endian signed length first, as struct.pack('i', len(header_json)).
  CHECK(std::vector<std::byte>(stream.begin(), stream.begin() + 4) == from_hex("2a 00 00 00"));

  for (const auto& cuts : {all_at_once(stream.size()), one_byte_at_a_time(stream.size()),
                           random_cuts(stream.size(), 1, 100), random_cuts(stream.size(), 2, 3000)}) {
    auto run = decode_messages(codec, stream, cuts);
    REQUIRE_FALSE(run.error);
    CHECK(run.items == expected);
  }
}

TEST_CASE("header+body: reads what Python's classic client sends", "[framing][header_body]") {
  // json.dumps writes ", " and ": " separators; struct.pack('i') the length.
  const std::string sent = run_python(R"(import json, struct, sys
body = bytes(range(256)) * 40
header = json.dumps({"file_name": "photo.jpg", "file_size": len(body)}).encode("utf-8")
sys.stdout.buffer.write(struct.pack("i", len(header)) + header + body))");
  HeaderBodyCodec codec;
  std::vector<std::byte> body;
  int headers = 0;
  int ends = 0;
  auto fed = feed(codec, to_bytes(sent), [&](const HeaderBodyCodec::Part& part) {
    if (part.kind == Kind::header) ++headers;
    if (part.kind == Kind::body) body.insert(body.end(), part.data.begin(), part.data.end());
    if (part.kind == Kind::end) ++ends;
  });
  REQUIRE(fed);
  CHECK(headers == 1);
  CHECK(ends == 1);
  CHECK(codec.header().at("file_name") == "photo.jpg");
  CHECK(codec.body_size() == 10240);
  REQUIRE(body.size() == 10240);
  for (std::size_t i = 0; i < body.size(); ++i) REQUIRE(std::to_integer<std::size_t>(body[i]) == i % 256);
  CHECK(codec.finish());
}

TEST_CASE("header+body: the body streams through in place, never buffered", "[framing][header_body]") {
  HeaderBodyCodec codec;
  const std::size_t size = 4 * 1024 * 1024;
  std::vector<std::byte> header;
  REQUIRE(codec.encode_header({{"file_name", "big.bin"}}, size, header));
  REQUIRE(feed(codec, header, [](const HeaderBodyCodec::Part& part) { CHECK(part.kind == Kind::header); }));

  std::vector<std::byte> chunk(64 * 1024, std::byte{0x5a});
  std::uint64_t seen = 0;
  bool ended = false;
  bool all_fed = true;
  bool all_in_place = true;
  AllocationProbe probe;  // no Catch assertions inside: they may allocate
  for (std::size_t sent = 0; sent < size; sent += chunk.size()) {
    all_fed &= feed(codec, chunk, [&](const HeaderBodyCodec::Part& part) {
                 if (part.kind == Kind::body) {
                   // A piece of the body is a span into the chunk just received.
                   all_in_place &= part.data.data() >= chunk.data() &&
                                   part.data.data() + part.data.size() <= chunk.data() + chunk.size();
                   seen += part.data.size();
                 }
                 if (part.kind == Kind::end) ended = true;
               }).has_value();
  }
  CHECK(probe.stats().count == 0);
  CHECK(all_fed);
  CHECK(all_in_place);
  CHECK(seen == size);
  CHECK(ended);
  CHECK(codec.body_received() == size);
  CHECK(codec.finish());
}

TEST_CASE("header+body: bad headers get clear errors", "[framing][header_body]") {
  const LengthPrefixCodec i32(LengthPrefix::native_int32());
  struct Case {
    std::string json;
    errc code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {R"({"file_name": "a.txt", "file_size": 3)", errc::malformed_frame, "not valid JSON"},
      {R"(["file_name", "a.txt"])", errc::malformed_frame, "must be an object, got array"},
      {R"({"file_name": "a.txt"})", errc::malformed_frame, "no \"file_size\" field"},
      {R"({"file_size": -5})", errc::malformed_frame, "non-negative integer, got -5"},
      {R"({"file_size": "12"})", errc::malformed_frame, "got \"12\""},
      {R"({"file_size": 1.5})", errc::malformed_frame, "got 1.5"},
      {R"({"file_size": 99999999999})", errc::frame_too_large, "99999999999"},
      {"", errc::malformed_frame, "not valid JSON"},
      {"{\"file_name\": \"\xff\xfe\", \"file_size\": 1}", errc::malformed_frame, "not valid JSON"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.json);
    auto run = decode_messages(HeaderBodyCodec{}, raw_message(i32, c.json, "abc"), all_at_once(4 + c.json.size() + 3));
    REQUIRE(run.error);
    CHECK(run.error->code == c.code);
    CHECK_THAT(run.error->message(), Catch::Contains(c.says));
    CHECK(run.items.empty());
  }
}

TEST_CASE("header+body: absurd header lengths are rejected before allocating", "[framing][header_body]") {
  SECTION("2 GiB - 1 announced") {
    HeaderBodyCodec codec;
    AllocationProbe probe;
    auto step = codec.decode(from_hex("ff ff ff 7f"));
    const auto stats = probe.stats();
    REQUIRE_FALSE(step);
    CHECK(step.error().code == errc::frame_too_large);
    CHECK_THAT(step.error().message(), Catch::Contains("JSON header") && Catch::Contains("2147483647") &&
                                           Catch::Contains("16384"));
    CHECK(stats.largest < 1024);
  }
  SECTION("negative") {
    HeaderBodyCodec codec;
    auto step = codec.decode(from_hex("fe ff ff ff"));
    REQUIRE_FALSE(step);
    CHECK(step.error().code == errc::malformed_frame);
    CHECK_THAT(step.error().message(), Catch::Contains("-2"));
  }
}

TEST_CASE("header+body: EOF in the prefix, the JSON or the body is eof_in_frame", "[framing][header_body]") {
  const HeaderBodyCodec codec;
  std::vector<std::byte> stream;
  REQUIRE(codec.encode({{"file_name", "a.txt"}}, to_bytes("0123456789"), stream));
  const std::size_t header_end = stream.size() - 10;
  for (const std::size_t cut : {std::size_t{2}, std::size_t{10}, header_end + 4}) {
    auto run = decode_messages(codec, std::span(stream).first(cut), one_byte_at_a_time(cut));
    REQUIRE(run.error);
    CHECK(run.error->code == errc::eof_in_frame);
  }
  auto in_body = decode_messages(codec, std::span(stream).first(header_end + 4), all_at_once(header_end + 4));
  CHECK_THAT(in_body.error->message(), Catch::Contains("4 of 10 body bytes") && Catch::Contains("a.txt"));
  auto in_prefix = decode_messages(codec, std::span(stream).first(2), all_at_once(2));
  CHECK_THAT(in_prefix.error->message(), Catch::Contains("JSON header") && Catch::Contains("2 of 4"));
  CHECK_FALSE(decode_messages(codec, stream, all_at_once(stream.size())).error);
}

TEST_CASE("header+body: options name the size field and the prefix", "[framing][header_body]") {
  HeaderBodyOptions options;
  options.header_prefix = LengthPrefix::network_uint32();
  options.size_field = "size";
  options.max_header = 64;
  options.max_body = 10;
  const HeaderBodyCodec codec(options);

  std::vector<std::byte> out;
  REQUIRE(codec.encode({{"name", "x"}}, to_bytes("0123456789"), out));
  CHECK(std::vector<std::byte>(out.begin(), out.begin() + 4) == from_hex("00 00 00 16"));
  CHECK(to_text(std::span(out).subspan(4, 0x16)) == R"({"name":"x","size":10})");

  SECTION("encoding refuses what decoding would refuse, and writes nothing") {
    std::vector<std::byte> kept = to_bytes("kept");
    CHECK(codec.encode_header({{"name", "x"}}, 11, kept).error().code == errc::frame_too_large);
    CHECK(codec.encode_header({{"name", std::string(100, 'n')}}, 1, kept).error().code == errc::frame_too_large);
    CHECK(codec.encode_header(nlohmann::json::array({1, 2}), 1, kept).error().code == errc::malformed_frame);
    auto bad_utf8 = codec.encode_header({{"name", "\xff"}}, 1, kept);
    REQUIRE_FALSE(bad_utf8);
    CHECK(bad_utf8.error().code == errc::malformed_frame);
    CHECK(kept == to_bytes("kept"));
  }
  SECTION("the decoder uses the same field and limits") {
    const LengthPrefixCodec u32(LengthPrefix::network_uint32());
    auto run = decode_messages(codec, raw_message(u32, R"({"file_size": 1})", "x"), all_at_once(21));
    REQUIRE(run.error);
    CHECK_THAT(run.error->message(), Catch::Contains("no \"size\" field"));
    auto big = decode_messages(codec, raw_message(u32, R"({"size": 11})"), all_at_once(16));
    REQUIRE(big.error);
    CHECK(big.error->code == errc::frame_too_large);
  }
}
