#include "socklab/net/framing.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "socklab/net/call_recorder.hpp"

namespace socklab::net {

namespace {

std::span<const std::byte> bytes_of(std::string_view text) noexcept {
  return std::as_bytes(std::span(text.data(), text.size()));
}

std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
  return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max()
                                                         : a + b;
}

// Appends within a hard bound: the buffer grows geometrically (one allocation
// per doubling, none once warm) but its capacity never passes `bound`, which
// the caller has checked against the codec's maximum.
void append_bounded(std::vector<std::byte>& buffer, std::span<const std::byte> bytes,
                    std::size_t bound) {
  const std::size_t need = buffer.size() + bytes.size();
  if (need > buffer.capacity())
    buffer.reserve(std::min(bound, std::max(need, buffer.capacity() * 2)));
  buffer.insert(buffer.end(), bytes.begin(), bytes.end());
}

std::string hex_bytes(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const std::byte b : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[std::to_integer<unsigned>(b) >> 4U];
    out += digits[std::to_integer<unsigned>(b) & 0xfU];
  }
  return out;
}

// The first occurrence of `needle` (non-empty) in `hay`, or npos.
std::size_t find_bytes(std::span<const std::byte> hay, std::string_view needle) noexcept {
  const auto first = static_cast<unsigned char>(needle.front());
  const auto* base = reinterpret_cast<const unsigned char*>(hay.data());
  std::size_t from = 0;
  while (hay.size() - from >= needle.size()) {
    const void* hit = std::memchr(base + from, first, hay.size() - from - needle.size() + 1);
    if (hit == nullptr) return std::string_view::npos;
    const auto at = static_cast<std::size_t>(static_cast<const unsigned char*>(hit) - base);
    if (std::memcmp(base + at + 1, needle.data() + 1, needle.size() - 1) == 0) return at;
    from = at + 1;
  }
  return std::string_view::npos;
}

}  // namespace

Error detail::frame_timeout_error(std::chrono::milliseconds timeout) {
  return make_error(errc::timed_out, "read frame",
                    "no complete frame within " + std::to_string(timeout.count()) + " ms");
}

// ---------------------------------------------------------------- LengthPrefix

Result<LengthPrefix> LengthPrefix::from_struct_format(std::string_view format) {
  const auto bad = [&](std::string_view why) -> Result<LengthPrefix> {
    return std::unexpected(make_error(errc::malformed_frame,
                                      "length prefix format \"" + std::string(format) + "\"", std::string(why)));
  };
  std::string_view rest = format;
  bool native = true;
  ByteOrder order = native_int32().order;
  if (!rest.empty() && std::string_view("!><=@").find(rest.front()) != std::string_view::npos) {
    const char c = rest.front();
    rest.remove_prefix(1);
    native = c == '@';
    if (c == '!' || c == '>') order = ByteOrder::big;
    if (c == '<') order = ByteOrder::little;
  }
  if (rest.size() != 1)
    return bad("expected one of h H i I l L after an optional byte order (! > < = @)");
  switch (rest.front()) {
    case 'h': return LengthPrefix{PrefixWidth::two_bytes, order, true};
    case 'H': return LengthPrefix{PrefixWidth::two_bytes, order, false};
    case 'i': return LengthPrefix{PrefixWidth::four_bytes, order, true};
    case 'I': return LengthPrefix{PrefixWidth::four_bytes, order, false};
    case 'l':
    case 'L':
      // Native 'l' is a C long: 8 bytes on 64-bit Linux.
      if (native) return bad("native 'l' is 8 bytes here; use '!l', '<l' or '>l' for 4 bytes");
      return LengthPrefix{PrefixWidth::four_bytes, order, rest.front() == 'l'};
    default:
      return bad("expected one of h H i I l L after an optional byte order (! > < = @)");
  }
}

std::string LengthPrefix::struct_format() const {
  std::string out(1, order == ByteOrder::big ? '!' : '<');
  const char code = width == PrefixWidth::two_bytes ? 'h' : 'i';
  out += is_signed ? code : static_cast<char>(code - ('a' - 'A'));
  return out;
}

// ---------------------------------------------------------------- LengthPrefixCodec

LengthPrefixCodec::LengthPrefixCodec(LengthPrefix prefix, std::size_t max_frame) noexcept
    : prefix_(prefix),
      max_frame_(static_cast<std::size_t>(std::min<std::uint64_t>(max_frame, prefix.max_value()))) {
  if (prefix_.width != PrefixWidth::two_bytes) prefix_.width = PrefixWidth::four_bytes;
}

Result<PrefixBytes> LengthPrefixCodec::encode_header(std::size_t payload_size) const {
  if (payload_size > max_frame_)
    return std::unexpected(make_error(errc::frame_too_large,
                                      "frame a payload of " + std::to_string(payload_size) + " bytes",
                                      "more than the maximum frame of " + std::to_string(max_frame_) +
                                          " bytes with prefix '" + prefix_.struct_format() + "'"));
  PrefixBytes out;
  out.count = static_cast<std::uint8_t>(prefix_.size());
  const auto value = static_cast<std::uint32_t>(payload_size);
  for (std::size_t i = 0; i < out.count; ++i) {
    // Byte i counted from the most significant end (big) or the least (little).
    const std::size_t shift = prefix_.order == ByteOrder::big ? 8 * (out.count - 1 - i) : 8 * i;
    out.bytes[i] = static_cast<std::byte>((value >> shift) & 0xffU);
  }
  return out;
}

Result<void> LengthPrefixCodec::encode(std::span<const std::byte> payload,
                                       std::vector<std::byte>& out) const {
  auto header = encode_header(payload.size());
  if (!header) return std::unexpected(std::move(header.error()));
  out.insert(out.end(), header->bytes.begin(), header->bytes.begin() + header->count);
  out.insert(out.end(), payload.begin(), payload.end());
  return {};
}

Result<void> LengthPrefixCodec::encode(std::string_view payload, std::vector<std::byte>& out) const {
  return encode(bytes_of(payload), out);
}

Result<std::size_t> LengthPrefixCodec::parse_header(std::span<const std::byte> header) const {
  const std::size_t n = prefix_.size();
  // Context strings are built only on the error paths: this runs once per frame.
  const auto what = [&] { return "length prefix '" + prefix_.struct_format() + "' [" + hex_bytes(header) + "]"; };
  if (header.size() != n)
    return std::unexpected(make_error(errc::malformed_frame, what(),
                                      "a prefix is " + std::to_string(n) + " bytes, got " +
                                          std::to_string(header.size())));
  std::uint32_t raw = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t from = prefix_.order == ByteOrder::big ? i : n - 1 - i;
    raw = (raw << 8U) | std::to_integer<std::uint32_t>(header[from]);
  }
  std::int64_t length = raw;
  if (prefix_.is_signed) {
    const std::uint32_t sign_bit = n == 2 ? 0x8000U : 0x80000000U;
    if ((raw & sign_bit) != 0) length -= std::int64_t{sign_bit} * 2;
  }
  if (length < 0)
    return std::unexpected(make_error(errc::malformed_frame, what(),
                                      "announces " + std::to_string(length) +
                                          " bytes: a length cannot be negative"));
  if (static_cast<std::uint64_t>(length) > max_frame_)
    return std::unexpected(make_error(errc::frame_too_large, what(),
                                      "announces " + std::to_string(length) +
                                          " bytes, more than the maximum frame of " +
                                          std::to_string(max_frame_) + " bytes"));
  return static_cast<std::size_t>(length);
}

Result<DecodeStep<Frame>> LengthPrefixCodec::fail(Error e) {
  failed_ = e;
  return std::unexpected(std::move(e));
}

Result<DecodeStep<Frame>> LengthPrefixCodec::decode(std::span<const std::byte> input) {
  if (failed_) return std::unexpected(*failed_);
  const bool began_earlier = in_frame();
  const std::size_t header_size = prefix_.size();
  std::size_t pos = 0;

  if (!has_length_) {
    std::span<const std::byte> header;
    if (header_have_ == 0 && input.size() >= header_size) {
      header = input.first(header_size);  // the common case: the whole prefix is here
      pos = header_size;
    } else {
      pos = std::min(header_size - header_have_, input.size());
      std::copy_n(input.begin(), pos, header_.begin() + static_cast<std::ptrdiff_t>(header_have_));
      header_have_ += pos;
      if (header_have_ < header_size) return DecodeStep<Frame>{input.size(), std::nullopt};
      header = std::span<const std::byte>(header_).first(header_size);
    }
    auto length = parse_header(header);
    if (!length) return fail(std::move(length.error()));
    header_have_ = 0;
    length_ = *length;
    has_length_ = true;
    buffer_.clear();
  }

  const std::span<const std::byte> rest = input.subspan(pos);
  if (buffer_.empty() && rest.size() >= length_) {
    // The whole payload is in this input: hand it out in place.
    has_length_ = false;
    return DecodeStep<Frame>{pos + length_, Frame{rest.first(length_), pos + length_, began_earlier}};
  }
  const std::size_t take = std::min(length_ - buffer_.size(), rest.size());
  append_bounded(buffer_, rest.first(take), length_);
  pos += take;
  if (buffer_.size() < length_) return DecodeStep<Frame>{pos, std::nullopt};
  has_length_ = false;
  return DecodeStep<Frame>{pos, Frame{buffer_, pos, true}};
}

Result<void> LengthPrefixCodec::finish() const {
  if (failed_) return std::unexpected(*failed_);
  if (header_have_ > 0)
    return std::unexpected(make_error(errc::eof_in_frame, "length-prefixed frame",
                                      "the peer closed after " + std::to_string(header_have_) + " of " +
                                          std::to_string(prefix_.size()) + " length-prefix bytes"));
  if (has_length_)
    return std::unexpected(make_error(errc::eof_in_frame, "length-prefixed frame",
                                      "the peer closed after " + std::to_string(buffer_.size()) + " of " +
                                          std::to_string(length_) + " payload bytes"));
  return {};
}


// ---------------------------------------------------------------- DelimiterCodec

namespace {

// The longest k < needle.size() such that `hay` ends with needle's first k bytes:
// the start of a delimiter whose rest has not arrived yet.
std::size_t delimiter_start_at_end(std::span<const std::byte> hay, std::string_view needle) noexcept {
  for (std::size_t k = std::min(needle.size() - 1, hay.size()); k > 0; --k)
    if (std::memcmp(hay.data() + hay.size() - k, needle.data(), k) == 0) return k;
  return 0;
}

}  // namespace

DelimiterCodec::DelimiterCodec(std::string delimiter, std::size_t max_frame)
    : delimiter_(std::move(delimiter)), max_frame_(max_frame) {}

Result<DelimiterCodec> DelimiterCodec::create(std::string_view delimiter, std::size_t max_frame) {
  if (delimiter.empty())
    return std::unexpected(make_error(errc::malformed_frame, "delimiter codec", "the delimiter is empty"));
  return DelimiterCodec(std::string(delimiter), max_frame);
}

std::size_t DelimiterCodec::buffer_bound() const noexcept {
  return saturating_add(max_frame_, delimiter_.size() - 1);
}

Result<void> DelimiterCodec::encode(std::span<const std::byte> payload, std::vector<std::byte>& out) const {
  if (payload.size() > max_frame_)
    return std::unexpected(make_error(errc::frame_too_large,
                                      "frame a line of " + std::to_string(payload.size()) + " bytes",
                                      "more than the maximum line of " + std::to_string(max_frame_) + " bytes"));
  if (const auto at = find_bytes(payload, delimiter_); at != std::string_view::npos)
    return std::unexpected(make_error(errc::malformed_frame,
                                      "frame a line of " + std::to_string(payload.size()) + " bytes",
                                      "it contains the delimiter \"" + preview_bytes(bytes_of(delimiter_)) +
                                          "\" at offset " + std::to_string(at) +
                                          ": the receiver would cut it there"));
  const auto delimiter = bytes_of(delimiter_);
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), delimiter.begin(), delimiter.end());
  return {};
}

Result<void> DelimiterCodec::encode(std::string_view payload, std::vector<std::byte>& out) const {
  return encode(bytes_of(payload), out);
}

Result<DecodeStep<Frame>> DelimiterCodec::fail(Error e) {
  failed_ = e;
  return std::unexpected(std::move(e));
}

Result<DecodeStep<Frame>> DelimiterCodec::line_too_long(std::size_t seen) {
  return fail(make_error(errc::frame_too_large,
                         "line ending in \"" + preview_bytes(bytes_of(delimiter_)) + "\"",
                         std::to_string(seen) + " bytes without the delimiter, more than the maximum line of " +
                             std::to_string(max_frame_) + " bytes"));
}

Result<DecodeStep<Frame>> DelimiterCodec::decode(std::span<const std::byte> input) {
  if (failed_) return std::unexpected(*failed_);
  const std::size_t d = delimiter_.size();

  if (!pending_) {
    if (const auto at = find_bytes(input, delimiter_); at != std::string_view::npos) {
      if (at > max_frame_) return line_too_long(at);
      return DecodeStep<Frame>{at + d, Frame{input.first(at), at + d, false}};
    }
    if (input.empty()) return DecodeStep<Frame>{0, std::nullopt};
    const std::size_t line = input.size() - delimiter_start_at_end(input, delimiter_);
    if (line > max_frame_) return line_too_long(line);
    buffer_.clear();
    append_bounded(buffer_, input, buffer_bound());
    pending_ = true;
    return DecodeStep<Frame>{input.size(), std::nullopt};
  }

  // A delimiter that began at the end of the buffer and ends in this input
  // comes first; try the earliest possible start first.
  for (std::size_t k = std::min(d - 1, buffer_.size()); k > 0; --k) {
    if (input.size() < d - k) continue;
    if (std::memcmp(buffer_.data() + buffer_.size() - k, delimiter_.data(), k) == 0 &&
        std::memcmp(input.data(), delimiter_.data() + k, d - k) == 0) {
      const std::size_t line = buffer_.size() - k;
      if (line > max_frame_) return line_too_long(line);
      buffer_.resize(line);
      pending_ = false;
      return DecodeStep<Frame>{d - k, Frame{buffer_, d - k, true}};
    }
  }
  if (const auto at = find_bytes(input, delimiter_); at != std::string_view::npos) {
    const std::size_t line = buffer_.size() + at;
    if (line > max_frame_) return line_too_long(line);
    append_bounded(buffer_, input.first(at), buffer_bound());
    pending_ = false;
    return DecodeStep<Frame>{at + d, Frame{buffer_, at + d, true}};
  }
  const std::size_t total = buffer_.size() + input.size();
  if (total > buffer_bound()) return line_too_long(total - (d - 1));
  append_bounded(buffer_, input, buffer_bound());
  const std::size_t line = buffer_.size() - delimiter_start_at_end(buffer_, delimiter_);
  if (line > max_frame_) return line_too_long(line);
  return DecodeStep<Frame>{input.size(), std::nullopt};
}

Result<void> DelimiterCodec::finish() const {
  if (failed_) return std::unexpected(*failed_);
  if (pending_)
    return std::unexpected(make_error(errc::eof_in_frame,
                                      "line ending in \"" + preview_bytes(bytes_of(delimiter_)) + "\"",
                                      "the peer closed after " + std::to_string(buffer_.size()) +
                                          " bytes of a line, before its delimiter"));
  return {};
}

// ---------------------------------------------------------------- FixedLengthCodec

FixedLengthCodec::FixedLengthCodec(std::size_t frame_size, std::byte pad) noexcept
    : frame_size_(frame_size), pad_(pad) {}

Result<FixedLengthCodec> FixedLengthCodec::create(std::size_t frame_size, std::byte pad) {
  if (frame_size == 0)
    return std::unexpected(
        make_error(errc::malformed_frame, "fixed-length codec", "the frame size must be at least 1 byte"));
  return FixedLengthCodec(frame_size, pad);
}

Result<void> FixedLengthCodec::encode(std::span<const std::byte> payload, std::vector<std::byte>& out) const {
  if (payload.size() > frame_size_)
    return std::unexpected(make_error(errc::frame_too_large,
                                      "frame a payload of " + std::to_string(payload.size()) + " bytes",
                                      "fixed frames are " + std::to_string(frame_size_) + " bytes"));
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), frame_size_ - payload.size(), pad_);
  return {};
}

Result<void> FixedLengthCodec::encode(std::string_view payload, std::vector<std::byte>& out) const {
  return encode(bytes_of(payload), out);
}

std::span<const std::byte> FixedLengthCodec::strip_padding(std::span<const std::byte> frame) const noexcept {
  std::size_t n = frame.size();
  while (n > 0 && frame[n - 1] == pad_) --n;
  return frame.first(n);
}

Result<DecodeStep<Frame>> FixedLengthCodec::decode(std::span<const std::byte> input) {
  if (!pending_) {
    if (input.size() >= frame_size_)
      return DecodeStep<Frame>{frame_size_, Frame{input.first(frame_size_), frame_size_, false}};
    if (input.empty()) return DecodeStep<Frame>{0, std::nullopt};
    buffer_.clear();
    pending_ = true;
  }
  const std::size_t take = std::min(frame_size_ - buffer_.size(), input.size());
  append_bounded(buffer_, input.first(take), frame_size_);
  if (buffer_.size() < frame_size_) return DecodeStep<Frame>{take, std::nullopt};
  pending_ = false;
  return DecodeStep<Frame>{take, Frame{buffer_, take, true}};
}

Result<void> FixedLengthCodec::finish() const {
  if (pending_)
    return std::unexpected(make_error(errc::eof_in_frame, "fixed-size frame",
                                      "the peer closed after " + std::to_string(buffer_.size()) + " of " +
                                          std::to_string(frame_size_) + " bytes"));
  return {};
}

// ---------------------------------------------------------------- HeaderBodyCodec

namespace {

// A JSON value shown in an error message, cut short.
std::string json_preview(const nlohmann::json& value) {
  return preview_bytes(bytes_of(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)), 48);
}

}  // namespace

HeaderBodyCodec::HeaderBodyCodec(HeaderBodyOptions options)
    : options_(std::move(options)), header_codec_(options_.header_prefix, options_.max_header) {}

Result<void> HeaderBodyCodec::encode_header(nlohmann::json header, std::uint64_t body_size,
                                            std::vector<std::byte>& out) const {
  const auto bad = [](errc code, std::string detail) -> Result<void> {
    return std::unexpected(make_error(code, "encode JSON header", std::move(detail)));
  };
  if (!header.is_object())
    return bad(errc::malformed_frame, std::string("the header must be a JSON object, got ") + header.type_name());
  if (body_size > options_.max_body)
    return bad(errc::frame_too_large, "a body of " + std::to_string(body_size) +
                                          " bytes is more than the maximum body of " +
                                          std::to_string(options_.max_body) + " bytes");
  header[options_.size_field] = body_size;
  std::string text;
  try {
    text = header.dump();  // throws only for strings that are not UTF-8
  } catch (const nlohmann::json::exception& e) {
    return bad(errc::malformed_frame, std::string("it cannot be written as JSON: ") + e.what());
  }
  auto prefix = header_codec_.encode_header(text.size());
  if (!prefix)
    return bad(errc::frame_too_large, "the header is " + std::to_string(text.size()) +
                                          " bytes of JSON, more than the maximum header of " +
                                          std::to_string(header_codec_.max_frame()) + " bytes");
  const auto json_bytes = bytes_of(text);
  out.insert(out.end(), prefix->bytes.begin(), prefix->bytes.begin() + prefix->count);
  out.insert(out.end(), json_bytes.begin(), json_bytes.end());
  return {};
}

Result<void> HeaderBodyCodec::encode(nlohmann::json header, std::span<const std::byte> body,
                                     std::vector<std::byte>& out) const {
  if (auto ok = encode_header(std::move(header), body.size(), out); !ok) return ok;
  out.insert(out.end(), body.begin(), body.end());
  return {};
}

Result<void> HeaderBodyCodec::accept_header(std::span<const std::byte> json_text) {
  const auto* text = reinterpret_cast<const char*>(json_text.data());
  auto parsed = nlohmann::json::parse(text, text + json_text.size(), nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](errc code, std::string detail) -> Result<void> {
    return std::unexpected(make_error(code, "JSON header " + preview_bytes(json_text, 48), std::move(detail)));
  };
  if (parsed.is_discarded()) return bad(errc::malformed_frame, "not valid JSON");
  if (!parsed.is_object())
    return bad(errc::malformed_frame, std::string("must be an object, got ") + parsed.type_name());
  const auto field = parsed.find(options_.size_field);
  if (field == parsed.end()) return bad(errc::malformed_frame, "no \"" + options_.size_field + "\" field");
  if (!field->is_number_unsigned())
    return bad(errc::malformed_frame, "field \"" + options_.size_field +
                                          "\" must be a non-negative integer, got " + json_preview(*field));
  const auto size = field->get<std::uint64_t>();
  if (size > options_.max_body)
    return bad(errc::frame_too_large, "announces a body of " + std::to_string(size) +
                                          " bytes, more than the maximum body of " +
                                          std::to_string(options_.max_body) + " bytes");
  header_ = std::move(parsed);
  body_size_ = size;
  body_received_ = 0;
  in_body_ = true;
  return {};
}

Result<DecodeStep<HeaderBodyCodec::Part>> HeaderBodyCodec::fail(Error e) {
  failed_ = e;
  return std::unexpected(std::move(e));
}

Result<DecodeStep<HeaderBodyCodec::Part>> HeaderBodyCodec::decode(std::span<const std::byte> input) {
  if (failed_) return std::unexpected(*failed_);
  if (!in_body_) {
    auto step = header_codec_.decode(input);
    if (!step) {
      step.error().context.insert(0, "JSON header ");
      return fail(std::move(step.error()));
    }
    if (!step->item) return DecodeStep<Part>{step->consumed, std::nullopt};
    if (auto ok = accept_header(step->item->payload); !ok) return fail(std::move(ok.error()));
    return DecodeStep<Part>{step->consumed, Part{Part::Kind::header, step->item->payload, step->consumed}};
  }
  if (body_received_ == body_size_) {
    in_body_ = false;
    return DecodeStep<Part>{0, Part{Part::Kind::end, {}, 0}};
  }
  if (input.empty()) return DecodeStep<Part>{0, std::nullopt};
  const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(body_size_ - body_received_, input.size()));
  body_received_ += take;
  return DecodeStep<Part>{take, Part{Part::Kind::body, input.first(take), take}};
}

Result<void> HeaderBodyCodec::finish() const {
  if (failed_) return std::unexpected(*failed_);
  if (auto header = header_codec_.finish(); !header)
    return std::unexpected(make_error(errc::eof_in_frame, "JSON header", std::move(header.error().detail)));
  if (in_body_ && body_received_ < body_size_)
    return std::unexpected(make_error(errc::eof_in_frame, "body of " + json_preview(header_),
                                      "the peer closed after " + std::to_string(body_received_) + " of " +
                                          std::to_string(body_size_) + " body bytes"));
  return {};
}

// ---------------------------------------------------------------- sockets

namespace {

Error closed_in_frame(std::size_t got, std::size_t wanted, std::string_view what) {
  return make_error(errc::eof_in_frame, "read frame",
                    "the peer closed after " + std::to_string(got) + " of " + std::to_string(wanted) + " " +
                        std::string(what));
}

}  // namespace

Result<std::optional<std::vector<std::byte>>> read_frame(TcpStream& stream, const LengthPrefixCodec& codec) {
  std::array<std::byte, 4> header_storage{};
  const auto header = std::span(header_storage).first(codec.header_size());
  auto got = stream.recv_exact(header);
  if (!got) return std::unexpected(std::move(got.error()));
  if (*got == 0) return std::optional<std::vector<std::byte>>{};  // closed between frames
  if (*got < header.size()) return std::unexpected(closed_in_frame(*got, header.size(), "length-prefix bytes"));
  auto length = codec.parse_header(header);
  if (!length) return std::unexpected(std::move(length.error()));
  std::vector<std::byte> payload(*length);  // checked against max_frame() just above
  got = stream.recv_exact(payload);
  if (!got) return std::unexpected(std::move(got.error()));
  if (*got < payload.size()) return std::unexpected(closed_in_frame(*got, payload.size(), "payload bytes"));
  return std::optional(std::move(payload));
}

Result<void> write_frame(TcpStream& stream, const LengthPrefixCodec& codec, std::span<const std::byte> payload) {
  std::vector<std::byte> frame;
  frame.reserve(codec.header_size() + payload.size());
  if (auto ok = codec.encode(payload, frame); !ok) return ok;
  if (auto sent = stream.send_all(frame); !sent) return std::unexpected(std::move(sent.error()));
  return {};
}

}  // namespace socklab::net
