#include "framing_oracle.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "fuzz_input.hpp"

namespace socklab::fuzz {

namespace {

using Bytes = std::vector<std::byte>;

// What one run of a decoder over a stream produced.
struct Outcome {
  enum class Kind : std::uint8_t { frame, header, body, end };
  struct Item {
    Kind kind = Kind::frame;
    Bytes bytes;
    friend bool operator==(const Item&, const Item&) = default;
  };
  std::vector<Item> items;
  std::optional<std::error_code> error;         // decode() failed: the stream is lost
  std::optional<std::error_code> finish_error;  // EOF inside a frame
};

Bytes copy_of(std::span<const std::byte> s) { return {s.begin(), s.end()}; }

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return std::ranges::equal(a, b);
}

void check_message(const net::Error& e) {
  // Every error must say something a person can act on.
  SOCKLAB_FUZZ_CHECK(!e.message().empty());
  SOCKLAB_FUZZ_CHECK(!e.context.empty());
}

Outcome::Item item_of(const net::Frame& f) { return {Outcome::Kind::frame, copy_of(f.payload)}; }

Outcome::Item item_of(const net::HeaderBodyCodec::Part& p) {
  using K = net::HeaderBodyCodec::Part::Kind;
  const auto kind = p.kind == K::header ? Outcome::Kind::header
                    : p.kind == K::body ? Outcome::Kind::body
                                        : Outcome::Kind::end;
  return {kind, copy_of(p.data)};
}

// A frame handed out "in place" must point into the chunk, before its end offset.
void check_placement(const net::Frame& f, std::span<const std::byte> chunk, bool whole) {
  SOCKLAB_FUZZ_CHECK(f.end_offset <= chunk.size());
  if (whole) SOCKLAB_FUZZ_CHECK(!f.split_across_chunks);
  if (!f.split_across_chunks && !f.payload.empty()) {
    SOCKLAB_FUZZ_CHECK(f.payload.data() >= chunk.data());
    SOCKLAB_FUZZ_CHECK(f.payload.data() + f.payload.size() <= chunk.data() + f.end_offset);
  }
}

void check_placement(const net::HeaderBodyCodec::Part& p, std::span<const std::byte> chunk, bool) {
  SOCKLAB_FUZZ_CHECK(p.end_offset <= chunk.size());
}

// Feeds `stream` to a fresh copy of `codec` in chunks of `sizes` (cycled), as
// recv() would hand them over, then tells EOF.
template <class Codec>
Outcome run(Codec codec, std::span<const std::byte> stream, std::span<const std::size_t> sizes, bool whole) {
  Outcome out;
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < stream.size(); ++i) {
    const std::size_t n = std::min(sizes[i % sizes.size()], stream.size() - pos);
    const auto chunk = stream.subspan(pos, n);
    auto fed = net::feed(codec, chunk, [&](const typename Codec::Item& item) {
      check_placement(item, chunk, whole);
      out.items.push_back(item_of(item));
    });
    pos += n;
    if (!fed) {
      check_message(fed.error());
      out.error = fed.error().code;
      // Errors are sticky: the stream has lost its boundaries for good.
      auto again = codec.decode(chunk);
      SOCKLAB_FUZZ_CHECK(!again && again.error().code == fed.error().code);
      auto at_eof = codec.finish();
      SOCKLAB_FUZZ_CHECK(!at_eof && at_eof.error().code == fed.error().code);
      return out;
    }
  }
  auto finished = codec.finish();
  SOCKLAB_FUZZ_CHECK(finished.has_value() == !codec.in_frame());
  if (!finished) {
    check_message(finished.error());
    SOCKLAB_FUZZ_CHECK(finished.error().code == net::errc::eof_in_frame);
    out.finish_error = finished.error().code;
  }
  return out;
}

// Decodes whole and in the input's chunks; both runs must agree.
template <class Codec>
Outcome run_both(const Codec& codec, const FramingInput& in) {
  const std::array<std::size_t, 1> whole_size{std::max<std::size_t>(in.stream.size(), 1)};
  Outcome whole = run(codec, in.stream, whole_size, true);
  Outcome chunked = run(codec, in.stream, in.chunk_sizes, false);
  SOCKLAB_FUZZ_CHECK(whole.items == chunked.items);
  SOCKLAB_FUZZ_CHECK(whole.error == chunked.error);
  SOCKLAB_FUZZ_CHECK(whole.finish_error == chunked.finish_error);
  return whole;
}

// Frames within the codec's limit that, encoded again, give back the stream
// they came from: all of it when decoding ended cleanly, else a prefix.
template <class Codec>
void check_reencodes(const Codec& codec, const Outcome& out, const FramingInput& in) {
  Bytes again;
  for (const auto& item : out.items) {
    SOCKLAB_FUZZ_CHECK(item.bytes.size() <= codec.max_frame());
    SOCKLAB_FUZZ_CHECK(codec.encode(item.bytes, again).has_value());
  }
  SOCKLAB_FUZZ_CHECK(again.size() <= in.stream.size());
  SOCKLAB_FUZZ_CHECK(same_bytes(again, in.stream.first(again.size())));
  if (!out.error && !out.finish_error) SOCKLAB_FUZZ_CHECK(again.size() == in.stream.size());
}

bool is_framing_error(std::error_code ec) {
  return ec == net::errc::frame_too_large || ec == net::errc::malformed_frame;
}

// The eight shapes of a length prefix that Python's struct can write.
constexpr std::array<std::string_view, 8> prefix_formats{"!I", "!H", "<i", ">i", "!h", "<H", "<I", "<h"};

}  // namespace

net::LengthPrefix length_prefix_shape(std::uint8_t settings) {
  auto shape = net::LengthPrefix::from_struct_format(prefix_formats[settings & 7U]);
  SOCKLAB_FUZZ_CHECK(shape.has_value());
  return *shape;
}

net::LengthPrefixCodec length_prefix_codec(std::uint8_t settings) {
  constexpr std::array<std::size_t, 4> max_frames{net::default_max_frame, 0, 100, 65536};
  return net::LengthPrefixCodec(length_prefix_shape(settings), max_frames[(settings >> 3U) & 3U]);
}

net::DelimiterCodec delimiter_codec(std::uint8_t settings) {
  // Self-overlapping delimiters ("aa", "aab", "abab") are where a delimiter split
  // across two chunks is easiest to get wrong.
  constexpr std::array<std::string_view, 8> delimiters{
      "\n", "\r\n", std::string_view("\0", 1), "\r\n\r\n", "aa", "aab", "abab", "END"};
  constexpr std::array<std::size_t, 4> max_frames{net::default_max_frame, 0, 5, 300};
  auto codec = net::DelimiterCodec::create(delimiters[settings & 7U], max_frames[(settings >> 3U) & 3U]);
  SOCKLAB_FUZZ_CHECK(codec.has_value());
  return std::move(*codec);
}

net::FixedLengthCodec fixed_length_codec(std::uint8_t settings) {
  constexpr std::array<std::size_t, 8> sizes{1, 2, 3, 4, 7, 16, 64, 1024};
  const auto pad = (settings & 8U) != 0 ? std::byte{' '} : std::byte{0};
  auto codec = net::FixedLengthCodec::create(sizes[settings & 7U], pad);
  SOCKLAB_FUZZ_CHECK(codec.has_value());
  return std::move(*codec);
}

net::HeaderBodyCodec header_body_codec(std::uint8_t settings) {
  constexpr std::array<std::size_t, 4> max_headers{16 * 1024, 0, 40, 300};
  constexpr std::array<std::uint64_t, 4> max_bodies{std::uint64_t{4} << 30, 0, 10, 1000};
  net::HeaderBodyOptions options;
  options.header_prefix = length_prefix_shape(settings);
  options.max_header = max_headers[(settings >> 3U) & 3U];
  options.max_body = max_bodies[(settings >> 5U) & 3U];
  options.size_field = (settings & 0x80U) != 0 ? "size" : "file_size";
  return net::HeaderBodyCodec(std::move(options));
}

void check_length_prefix(std::span<const std::uint8_t> data) {
  FramingInput in;
  if (!parse_framing_input(data, in)) return;
  const auto codec = length_prefix_codec(in.settings);
  const Outcome out = run_both(codec, in);
  if (out.error) SOCKLAB_FUZZ_CHECK(is_framing_error(*out.error));
  // The frames re-encode to the very bytes they came from.
  check_reencodes(codec, out, in);
}

void check_delimiter(std::span<const std::uint8_t> data) {
  FramingInput in;
  if (!parse_framing_input(data, in)) return;
  const auto codec = delimiter_codec(in.settings);
  const Outcome out = run_both(codec, in);
  if (out.error) SOCKLAB_FUZZ_CHECK(*out.error == net::errc::frame_too_large);
  // Lines never hold the delimiter and re-encode to the stream they came from.
  check_reencodes(codec, out, in);
}

void check_fixed_length(std::span<const std::uint8_t> data) {
  FramingInput in;
  if (!parse_framing_input(data, in)) return;
  const auto codec = fixed_length_codec(in.settings);
  const Outcome out = run_both(codec, in);
  SOCKLAB_FUZZ_CHECK(!out.error);  // any bytes are frames of the fixed size
  SOCKLAB_FUZZ_CHECK(out.items.size() == in.stream.size() / codec.frame_size());
  SOCKLAB_FUZZ_CHECK(out.finish_error.has_value() == (in.stream.size() % codec.frame_size() != 0));
  Bytes again;
  for (const auto& item : out.items) {
    SOCKLAB_FUZZ_CHECK(item.bytes.size() == codec.frame_size());
    const auto stripped = codec.strip_padding(item.bytes);
    SOCKLAB_FUZZ_CHECK(stripped.size() <= item.bytes.size());
    SOCKLAB_FUZZ_CHECK(stripped.empty() || stripped.back() != codec.pad());
    SOCKLAB_FUZZ_CHECK(codec.encode(stripped, again).has_value());
  }
  SOCKLAB_FUZZ_CHECK(same_bytes(again, in.stream.first(again.size())));
}

void check_header_body(std::span<const std::uint8_t> data) {
  FramingInput in;
  if (!parse_framing_input(data, in)) return;
  const auto codec = header_body_codec(in.settings);
  const auto& options = codec.options();
  // Body pieces follow the chunks; merge them so the two runs can be compared.
  const auto merged = [](Outcome out) {
    std::vector<Outcome::Item> items;
    for (auto& item : out.items) {
      if (item.kind == Outcome::Kind::body && !items.empty() && items.back().kind == Outcome::Kind::body)
        items.back().bytes.insert(items.back().bytes.end(), item.bytes.begin(), item.bytes.end());
      else
        items.push_back(std::move(item));
    }
    out.items = std::move(items);
    return out;
  };
  const std::array<std::size_t, 1> whole_size{std::max<std::size_t>(in.stream.size(), 1)};
  const Outcome whole = merged(run(codec, in.stream, whole_size, true));
  const Outcome chunked = merged(run(codec, in.stream, in.chunk_sizes, false));
  SOCKLAB_FUZZ_CHECK(whole.items == chunked.items);
  SOCKLAB_FUZZ_CHECK(whole.error == chunked.error);
  SOCKLAB_FUZZ_CHECK(whole.finish_error == chunked.finish_error);
  if (whole.error) SOCKLAB_FUZZ_CHECK(is_framing_error(*whole.error));

  // Each message is header, its body (exactly the announced size), end; and it
  // re-encodes (prefix + the JSON text as received + body) to the stream's bytes.
  const net::LengthPrefixCodec header_prefix(options.header_prefix, options.max_header);
  Bytes again;
  std::uint64_t announced = 0;
  std::uint64_t body_seen = 0;
  bool in_message = false;
  for (const auto& item : whole.items) {
    switch (item.kind) {
      case Outcome::Kind::header: {
        SOCKLAB_FUZZ_CHECK(!in_message);
        SOCKLAB_FUZZ_CHECK(item.bytes.size() <= options.max_header);
        const auto* text = reinterpret_cast<const char*>(item.bytes.data());
        const auto json = nlohmann::json::parse(text, text + item.bytes.size(), nullptr, false);
        SOCKLAB_FUZZ_CHECK(json.is_object() && json.contains(options.size_field));
        SOCKLAB_FUZZ_CHECK(json[options.size_field].is_number_unsigned());
        announced = json[options.size_field].get<std::uint64_t>();
        SOCKLAB_FUZZ_CHECK(announced <= options.max_body);
        SOCKLAB_FUZZ_CHECK(header_prefix.encode(item.bytes, again).has_value());
        body_seen = 0;
        in_message = true;
        break;
      }
      case Outcome::Kind::body:
        SOCKLAB_FUZZ_CHECK(in_message);
        body_seen += item.bytes.size();
        SOCKLAB_FUZZ_CHECK(body_seen <= announced);
        again.insert(again.end(), item.bytes.begin(), item.bytes.end());
        break;
      case Outcome::Kind::end:
        SOCKLAB_FUZZ_CHECK(in_message && body_seen == announced);
        in_message = false;
        break;
      case Outcome::Kind::frame:
        fail("a header+body codec hands out parts, never frames", __FILE__, __LINE__);
        break;
    }
  }
  SOCKLAB_FUZZ_CHECK(again.size() <= in.stream.size());
  SOCKLAB_FUZZ_CHECK(same_bytes(again, in.stream.first(again.size())));
  if (!whole.error && !whole.finish_error) {
    SOCKLAB_FUZZ_CHECK(again.size() == in.stream.size());
  }
}

}  // namespace socklab::fuzz
