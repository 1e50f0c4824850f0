// Framing: putting message boundaries back into TCP's byte stream.
//
// TCP delivers bytes, not messages: one recv() may return half a message or
// three glued together ("sticky packets"). A codec writes boundaries on the
// sending side and finds them again on the receiving side. Four codecs:
//
//   LengthPrefixCodec  a 2- or 4-byte length, then the payload   struct.pack('!I', n) + data
//   DelimiterCodec     the payload, then a delimiter             b"hello\n"
//   FixedLengthCodec   every message exactly N bytes (padded)     struct.pack('16s', data)
//   HeaderBodyCodec    a length-prefixed JSON header, then a      struct.pack('i', len(h)) + h + file
//                      body of the size the header announces (streamed)
//
// Every codec has a maximum, and a length read from the peer is checked against
// it before a single byte is allocated: a header claiming 2 GiB is an error
// (errc::frame_too_large), never a 2 GiB buffer.
//
// Decoding is incremental and shaped the same for every codec:
//   decode(input)  takes bytes from the front of `input` and returns a DecodeStep:
//                  how many bytes it consumed, and at most one decoded item.
//                  A step without an item has consumed all of `input` (the bytes
//                  of an unfinished frame are kept inside the codec).
//   finish()       at EOF: an error (errc::eof_in_frame) if a frame was half received.
//   feed(codec, chunk, on_item)  loops decode() over one received chunk and calls
//                  on_item for each item, with item.end_offset telling where in
//                  the chunk that frame ended (the sticky-packets lesson prints it).
// A frame that lies whole inside the input is handed out as a span into it (no
// copy); only a frame split across chunks is assembled in the codec's buffer.
// Either way the span is valid until the next decode()/feed() call. Errors are
// sticky: a codec that met a bad frame returns the same error from then on,
// because the byte stream has lost its boundaries for good. A codec holds the
// state of one byte stream: one per connection and direction, one thread at a time.
//
// Encoding is const (encoders have no state): encode() appends header and payload
// to an output buffer, so many frames can be batched into one send(); the
// length-prefix codec also gives the header alone (encode_header) for gathered
// writes. A payload that cannot be framed leaves the buffer untouched.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "socklab/net/error.hpp"
#include "socklab/net/tcp.hpp"

namespace socklab::net {

// The default maximum payload of one frame for every codec that takes one.
inline constexpr std::size_t default_max_frame = 1024 * 1024;

// ---------------------------------------------------------------- common types

// One decoded frame.
struct Frame {
  // The payload: a span into the input when the frame lay whole inside it,
  // else into the codec's buffer. Valid until the next decode()/feed().
  std::span<const std::byte> payload;
  // Offset in the input given to decode() (or the chunk given to feed()) just
  // past the frame's last byte: where the boundary fell.
  std::size_t end_offset = 0;
  // True when the frame began in an earlier input and was completed by this one.
  bool split_across_chunks = false;

  [[nodiscard]] std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};
  }
};

template <class Item>
struct DecodeStep {
  std::size_t consumed = 0;   // bytes taken from the front of the input
  std::optional<Item> item;   // at most one item per step
};

// What feed() and FrameReader need from a codec.
template <class C>
concept FrameDecoder = requires(C& codec, const C& ccodec, std::span<const std::byte> input) {
  typename C::Item;
  { codec.decode(input) } -> std::same_as<Result<DecodeStep<typename C::Item>>>;
  { ccodec.finish() } -> std::same_as<Result<void>>;
  { ccodec.in_frame() } -> std::same_as<bool>;
};

// Decodes everything in `chunk`, calling on_item(const Item&) for each item in
// order; item.end_offset is relative to `chunk`. Items handed out before an
// error are good; the error is returned after them.
template <FrameDecoder Codec, class OnItem>
  requires std::invocable<OnItem&, const typename Codec::Item&>
Result<void> feed(Codec& codec, std::span<const std::byte> chunk, OnItem&& on_item) {
  std::size_t pos = 0;
  for (;;) {
    auto step = codec.decode(chunk.subspan(pos));
    if (!step) return std::unexpected(std::move(step.error()));
    pos += step->consumed;
    if (!step->item) return {};
    step->item->end_offset = pos;
    on_item(std::as_const(*step->item));
  }
}

// ---------------------------------------------------------------- length prefix

enum class ByteOrder : std::uint8_t { big, little };
enum class PrefixWidth : std::uint8_t { two_bytes = 2, four_bytes = 4 };

// The shape of a length prefix, named after Python's struct formats:
//   '!I' (or '>I')  4 bytes, big-endian, unsigned: the network convention
//   'i'             4 bytes, native order, signed: little-endian on x86, what
//                   the classic course sends with struct.pack('i', n)
struct LengthPrefix {
  PrefixWidth width = PrefixWidth::four_bytes;
  ByteOrder order = ByteOrder::big;
  bool is_signed = false;

  static constexpr LengthPrefix network_uint32() noexcept { return {}; }                 // '!I'
  static constexpr LengthPrefix network_uint16() noexcept {                              // '!H'
    return {PrefixWidth::two_bytes, ByteOrder::big, false};
  }
  static constexpr LengthPrefix native_int32() noexcept {                                // 'i'
    return {PrefixWidth::four_bytes,
            std::endian::native == std::endian::big ? ByteOrder::big : ByteOrder::little, true};
  }

  // From a one-item Python struct format: an optional byte-order character
  // (! > < = @, none meaning native) and one of h H i I (or l L with ! > < =,
  // where they are 4 bytes). Errors (errc::malformed_frame) quote the text.
  static Result<LengthPrefix> from_struct_format(std::string_view format);
  // The equivalent struct format with an explicit byte order: "!I", "<i", "!H".
  [[nodiscard]] std::string struct_format() const;

  [[nodiscard]] constexpr std::size_t size() const noexcept { return static_cast<std::size_t>(width); }
  // The largest length the prefix can carry: 32767, 65535, 2147483647, 4294967295.
  [[nodiscard]] constexpr std::uint64_t max_value() const noexcept {
    const unsigned bits = width == PrefixWidth::two_bytes ? 16U : 32U;
    return (std::uint64_t{1} << (is_signed ? bits - 1 : bits)) - 1;
  }

  friend constexpr bool operator==(const LengthPrefix&, const LengthPrefix&) noexcept = default;
};

// The bytes of one length prefix (2 or 4 of them).
struct PrefixBytes {
  std::array<std::byte, 4> bytes{};
  std::uint8_t count = 0;
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return {bytes.data(), count}; }
};

// A length prefix, then the payload. A zero length is a valid, empty frame.
class LengthPrefixCodec {
 public:
  using Item = Frame;

  // max_frame bounds the payload; the prefix's own range bounds it too
  // (a '!H' prefix cannot announce more than 65535).
  explicit LengthPrefixCodec(LengthPrefix prefix = LengthPrefix::network_uint32(),
                             std::size_t max_frame = default_max_frame) noexcept;

  [[nodiscard]] const LengthPrefix& prefix() const noexcept { return prefix_; }
  [[nodiscard]] std::size_t header_size() const noexcept { return prefix_.size(); }
  [[nodiscard]] std::size_t max_frame() const noexcept { return max_frame_; }

  // The prefix for a payload of `payload_size` bytes, alone: send it, then the
  // payload, in one gathered write (or a byte at a time, to show a split header).
  [[nodiscard]] Result<PrefixBytes> encode_header(std::size_t payload_size) const;
  // Appends prefix + payload to `out`.
  Result<void> encode(std::span<const std::byte> payload, std::vector<std::byte>& out) const;
  Result<void> encode(std::string_view payload, std::vector<std::byte>& out) const;
  // The payload length announced by a received prefix of exactly header_size()
  // bytes, checked: negative is errc::malformed_frame, over max_frame() is
  // errc::frame_too_large (both name the bytes, the length and the maximum).
  [[nodiscard]] Result<std::size_t> parse_header(std::span<const std::byte> header) const;

  Result<DecodeStep<Frame>> decode(std::span<const std::byte> input);
  [[nodiscard]] Result<void> finish() const;
  [[nodiscard]] bool in_frame() const noexcept { return header_have_ > 0 || has_length_; }

 private:
  Result<DecodeStep<Frame>> fail(Error e);

  LengthPrefix prefix_;
  std::size_t max_frame_;
  std::array<std::byte, 4> header_{};  // a prefix split across inputs
  std::size_t header_have_ = 0;
  bool has_length_ = false;            // the prefix is complete, the payload is not
  std::size_t length_ = 0;
  std::vector<std::byte> buffer_;      // a payload split across inputs; never above length_
  std::optional<Error> failed_;
};

// ---------------------------------------------------------------- delimiter

// The payload, then a delimiter ("\n", "\r\n", or any non-empty byte string).
// Frames are delivered without the delimiter; an empty line is an empty frame
// (dropping it is the application's choice). Bytes after the last delimiter at
// EOF are an incomplete frame (errc::eof_in_frame), not a final line.
class DelimiterCodec {
 public:
  using Item = Frame;

  // An empty delimiter is an error (errc::malformed_frame). max_frame bounds a
  // line without its delimiter.
  static Result<DelimiterCodec> create(std::string_view delimiter = "\n",
                                       std::size_t max_frame = default_max_frame);

  [[nodiscard]] std::string_view delimiter() const noexcept { return delimiter_; }
  [[nodiscard]] std::size_t max_frame() const noexcept { return max_frame_; }

  // Appends payload + delimiter. A payload containing the delimiter would be cut
  // in two at the receiver: errc::malformed_frame, naming the offset.
  Result<void> encode(std::span<const std::byte> payload, std::vector<std::byte>& out) const;
  Result<void> encode(std::string_view payload, std::vector<std::byte>& out) const;

  // More than max_frame bytes without a delimiter is errc::frame_too_large: the
  // buffer never holds more than max_frame + delimiter size - 1 bytes.
  Result<DecodeStep<Frame>> decode(std::span<const std::byte> input);
  [[nodiscard]] Result<void> finish() const;
  [[nodiscard]] bool in_frame() const noexcept { return pending_; }

 private:
  DelimiterCodec(std::string delimiter, std::size_t max_frame);
  Result<DecodeStep<Frame>> fail(Error e);
  Result<DecodeStep<Frame>> line_too_long(std::size_t seen);
  [[nodiscard]] std::size_t buffer_bound() const noexcept;

  std::string delimiter_;
  std::size_t max_frame_;
  bool pending_ = false;            // buffer_ holds the start of an unfinished line
  std::vector<std::byte> buffer_;
  std::optional<Error> failed_;
};

// ---------------------------------------------------------------- fixed length

// Every frame exactly frame_size bytes. A shorter payload is padded at the end
// with pad bytes (0x00 by default, as Python's struct.pack('16s', data) pads);
// the receiver gets all frame_size bytes, padding included: the stream cannot
// tell padding from data, so strip it only if payloads never end in pad bytes.
class FixedLengthCodec {
 public:
  using Item = Frame;

  // frame_size 0 is an error (errc::malformed_frame).
  static Result<FixedLengthCodec> create(std::size_t frame_size, std::byte pad = std::byte{0});

  [[nodiscard]] std::size_t frame_size() const noexcept { return frame_size_; }
  [[nodiscard]] std::byte pad() const noexcept { return pad_; }

  // Appends payload + padding. A payload longer than frame_size is errc::frame_too_large.
  Result<void> encode(std::span<const std::byte> payload, std::vector<std::byte>& out) const;
  Result<void> encode(std::string_view payload, std::vector<std::byte>& out) const;
  // The frame without its trailing pad bytes.
  [[nodiscard]] std::span<const std::byte> strip_padding(std::span<const std::byte> frame) const noexcept;

  Result<DecodeStep<Frame>> decode(std::span<const std::byte> input);
  [[nodiscard]] Result<void> finish() const;
  [[nodiscard]] bool in_frame() const noexcept { return pending_; }

 private:
  FixedLengthCodec(std::size_t frame_size, std::byte pad) noexcept;

  std::size_t frame_size_;
  std::byte pad_;
  bool pending_ = false;
  std::vector<std::byte> buffer_;  // a frame split across inputs; never above frame_size
};

// ---------------------------------------------------------------- header + body

struct HeaderBodyOptions {
  // struct.pack('i', len(header_json)) by default, as the classic file transfer does.
  LengthPrefix header_prefix = LengthPrefix::native_int32();
  std::size_t max_header = 16 * 1024;                   // bytes of JSON
  std::uint64_t max_body = std::uint64_t{4} << 30;      // 4 GiB: the body is streamed, never held
  std::string size_field = "file_size";                 // the header field that gives the body size
};

// One message = a length prefix, a JSON object (UTF-8) that describes the body,
// then the body: exactly header[size_field] bytes. For the classic file transfer:
//   {"file_name": "notes.txt", "file_size": 5120}  then 5120 bytes of file.
// Decoding yields Parts in order: header (the JSON parsed and checked: an object
// whose size field is a non-negative integer no larger than max_body), then body
// pieces as they arrive (spans into the input: the body is never buffered, so a
// large file streams through), then end. A zero-size body yields header, end.
class HeaderBodyCodec {
 public:
  struct Part {
    enum class Kind : std::uint8_t { header, body, end };
    Kind kind = Kind::header;
    // header: the JSON text; body: the next piece of the body; end: empty.
    std::span<const std::byte> data;
    std::size_t end_offset = 0;  // as Frame::end_offset
  };
  using Item = Part;

  explicit HeaderBodyCodec(HeaderBodyOptions options = {});

  [[nodiscard]] const HeaderBodyOptions& options() const noexcept { return options_; }

  // Sets header[size_field] = body_size and appends prefix + JSON to `out`; the
  // caller then sends the body (from a file, in pieces). The header must be a
  // JSON object with valid UTF-8 strings, and fit max_header once serialized.
  Result<void> encode_header(nlohmann::json header, std::uint64_t body_size,
                             std::vector<std::byte>& out) const;
  // Header and a body held in memory, appended together.
  Result<void> encode(nlohmann::json header, std::span<const std::byte> body,
                      std::vector<std::byte>& out) const;

  Result<DecodeStep<Part>> decode(std::span<const std::byte> input);
  [[nodiscard]] Result<void> finish() const;
  [[nodiscard]] bool in_frame() const noexcept {
    return header_codec_.in_frame() || (in_body_ && body_received_ < body_size_);
  }

  // The current (or last) message's header, its body size and how much of the body came.
  [[nodiscard]] const nlohmann::json& header() const noexcept { return header_; }
  [[nodiscard]] std::uint64_t body_size() const noexcept { return body_size_; }
  [[nodiscard]] std::uint64_t body_received() const noexcept { return body_received_; }

 private:
  Result<DecodeStep<Part>> fail(Error e);
  Result<void> accept_header(std::span<const std::byte> json_text);

  HeaderBodyOptions options_;
  LengthPrefixCodec header_codec_;
  nlohmann::json header_;
  bool in_body_ = false;
  std::uint64_t body_size_ = 0;
  std::uint64_t body_received_ = 0;
  std::optional<Error> failed_;
};

// ---------------------------------------------------------------- sockets

// The receiver the lesson teaches: recv_exact() the prefix, check it, then
// recv_exact() the payload (allocated only after the check, so at most
// max_frame()). nullopt: the peer closed cleanly between frames;
// errc::eof_in_frame: it closed in the middle of one.
Result<std::optional<std::vector<std::byte>>> read_frame(TcpStream& stream,
                                                         const LengthPrefixCodec& codec);
// Prefix and payload in one send_all() (never two sends: see the naive pattern
// in bench/framing). Allocates one buffer per call; to send many frames fast,
// encode() them into one buffer and send that.
Result<void> write_frame(TcpStream& stream, const LengthPrefixCodec& codec,
                         std::span<const std::byte> payload);

namespace detail {
// errc::timed_out: "no complete frame within N ms" (FrameReader::next).
Error frame_timeout_error(std::chrono::milliseconds timeout);
}  // namespace detail

// Reads items of any codec from a stream through one receive buffer: each
// recv_some() may bring part of a frame or many frames; next() hands them out
// one at a time.
template <FrameDecoder Codec>
class FrameReader {
 public:
  using Item = typename Codec::Item;

  explicit FrameReader(Codec codec, std::size_t recv_buffer_size = 64 * 1024)
      : codec_(std::move(codec)), buffer_(recv_buffer_size > 0 ? recv_buffer_size : 1) {}

  // The next item (valid until the next call). nullopt: the peer closed
  // cleanly between frames. With a timeout, errc::timed_out when no item is
  // complete in time (a peer that never finishes its header cannot hold the
  // reader forever); the reader stays usable.
  Result<std::optional<Item>> next(TcpStream& stream,
                                   std::optional<std::chrono::milliseconds> timeout = {}) {
    using clock = std::chrono::steady_clock;
    const auto deadline = timeout ? std::optional(clock::now() + *timeout) : std::nullopt;
    for (;;) {
      auto step = codec_.decode(std::span<const std::byte>(buffer_).subspan(begin_, end_ - begin_));
      if (!step) return std::unexpected(std::move(step.error()));
      begin_ += step->consumed;
      if (step->item) return std::move(step->item);
      if (eof_) {
        if (auto done = codec_.finish(); !done) return std::unexpected(std::move(done.error()));
        return std::optional<Item>{};
      }
      if (deadline) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - clock::now());
        if (left.count() <= 0) return std::unexpected(detail::frame_timeout_error(*timeout));
        if (auto ready = stream.wait_readable(left); !ready) {
          if (ready.error().code == errc::timed_out)
            return std::unexpected(detail::frame_timeout_error(*timeout));
          return std::unexpected(std::move(ready.error()));
        }
      }
      auto got = stream.recv_some(buffer_);
      if (!got) return std::unexpected(std::move(got.error()));
      begin_ = 0;
      end_ = *got;
      eof_ = *got == 0;
    }
  }

  [[nodiscard]] Codec& codec() noexcept { return codec_; }
  [[nodiscard]] const Codec& codec() const noexcept { return codec_; }

 private:
  Codec codec_;
  std::vector<std::byte> buffer_;
  std::size_t begin_ = 0;  // buffer_[begin_, end_) is received but not yet decoded
  std::size_t end_ = 0;
  bool eof_ = false;
};

}  // namespace socklab::net
