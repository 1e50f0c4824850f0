// demo-sticky — Lesson 3: glued messages ("sticky packets") and message boundaries.
//
// Default: the client sends "hello", "hai" and "hahaha" with three send() calls
// (TCP_NODELAY: three segments on the wire); the server waits until all 14 bytes
// sit in its receive queue, then one recv(1024) returns "hellohaihahaha".
// Variants: --nagle (small writes merged on the wire too, and not with
// TCP_NODELAY), --split (one large message in many recv() chunks), --fix KIND
// (the boundaries written by a codec and found again), --short-reads (a header
// that arrives a byte at a time: recv(4) trusted breaks, recv_exact does not).

#include <algorithm>
#include <atomic>
#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "demo.hpp"

namespace {

using namespace socklab;
using capture::PacketRecord;
using capture::Phase;
using demo::must;
using demo::Session;
using demo::Side;
using demo::bytes_of;
using demo::text_of;

constexpr std::array<std::string_view, 84> kNoteKeys{
    // the timeline: both sides
    "connect", "accept", "nodelay", "send_message", "all_acked", "server_queued", "recv_glued",
    // --nagle
    "connection_nagle", "connection_nodelay", "delay_acks", "send_greeting", "recv_greeting", "queue_after_hello",
    "queue_nagle", "queue_nodelay",
    // --split
    "send_large", "recv_first_chunk", "recv_last_chunk",
    // --fix
    "send_frame", "frames_found", "frames_split",
    // --fix header
    "send_header", "send_piece", "pieces_not_shown", "recv_header", "recv_body", "recv_not_shown", "file_done",
    // --short-reads
    "send_header_byte", "byte_taken", "send_payload", "receiver_gave_up", "naive_recv", "naive_fails",
    "naive_close", "exact_recv", "exact_payload",
    // the summary
    "verdict_glued", "verdict_glued_both", "why_not_glued", "fact_layers", "fact_layers_sent", "verdict_segments",
    "verdict_segments_sent",
    "why_segments_retransmitted", "verdict_nagle_queue", "why_acked_early", "verdict_nagle_wire", "fact_nagle_wait",
    "verdict_split", "fact_chunks", "fact_split_segments", "verdict_messages_whole", "fact_boundaries",
    "codec_length", "codec_delimiter", "codec_fixed", "verdict_header", "verdict_file", "verdict_file_size_only", "verdict_file_sent", "fact_file_pieces",
    "fact_header_offset", "fact_header_alone", "fact_file_reference", "verdict_naive_short", "fact_naive_error", "verdict_exact",
    "fact_exact_calls", "verdict_header_bytes", "why_receiver_remote", "word_none",
    // labels in a side's column
    "label_frames", "label_file_done", "label_peer_closed", "label_header_broken", "error_short_prefix",
    // bad usage, in the run's language
    "usage_file_not_regular", "usage_file_unreadable", "usage_endian", "usage_file_fix",
    // a step that failed
    "failure_not_acked", "failure_header_byte", "failure_file_read"};
using Note = demo::Key<kNoteKeys>;

constexpr std::array<std::string_view, 3> kMessages{"hello", "hai", "hahaha"};
constexpr std::size_t kRecvSize = 1024;         // recv(1024), as the classic course reads
constexpr std::size_t kSplitSize = 1 << 20;     // --split: one message of 1 MiB
constexpr std::size_t kFixedFrame = 8;          // --fix fixed: every message 8 bytes, padded
constexpr std::size_t kPieceSize = 4096;        // --fix header: the body goes in pieces this big
constexpr std::size_t kShownCalls = 8;          // a transfer's send()/recv() calls shown before a summary
constexpr std::string_view kGreeting = "go";    // --nagle: the server is ready (and delays its ACKs)
constexpr std::string_view kSampleName = "socklab-sample.txt";
constexpr int kSampleLines = 250;

enum class Fix { none, length, delimiter, fixed, header };

struct Config {
  Fix fix = Fix::none;
  net::ByteOrder order = net::ByteOrder::big;
  std::string file;  // --file; empty: the generated sample
};

std::string_view fix_name(Fix f) {
  switch (f) {
    case Fix::length: return "length";
    case Fix::delimiter: return "delimiter";
    case Fix::fixed: return "fixed";
    case Fix::header: return "header";
    case Fix::none: break;
  }
  return "none";
}

// '!I' (network order, the convention) or '<i': what struct.pack('i', n) gives on x86.
net::LengthPrefix prefix_for(net::ByteOrder order) {
  if (order == net::ByteOrder::big) return net::LengthPrefix::network_uint32();
  return {net::PrefixWidth::four_bytes, net::ByteOrder::little, true};
}

std::string preview(std::span<const std::byte> b, std::size_t max = 40) { return net::preview_bytes(b, max); }

std::size_t total_message_bytes() {
  std::size_t n = 0;
  for (auto m : kMessages) n += m.size();
  return n;
}


// TCP_QUICKACK=0: this socket delays its ACKs (Linux's delayed-ACK timer, about
// 40 ms), as Linux does by itself once a connection turns interactive.
void delay_acks(net::TcpStream& conn) { must(conn.set_quickack(false)); }

// What the kernel still holds of what we sent: acknowledged-not-yet and sent-not-yet.
struct SendQueue {
  int unacked = 0;
  int unsent = 0;
};
SendQueue send_queue(const net::TcpStream& conn) {
  const int queued = must(conn.bytes_in_send_queue());  // SIOCOUTQ: both together
  const int unsent = must(conn.bytes_not_sent());       // SIOCOUTQNSD
  return {queued - unsent, unsent};
}

// Until the peer has acknowledged every byte we sent: its ACKs are then on the
// wire (and in the capture).
void wait_all_acked(Session& s, Side side, const net::TcpStream& conn) {
  if (!demo::wait_until_acknowledged(conn, s.patience())) {
    throw demo::DemoFailure(s.note(Note{"failure_not_acked"}, {{"seconds", std::to_string(s.patience().count() / 1000)}}));
  }
  s.record_note(side, "SIOCOUTQ 0", Note{"all_acked"});
}

// ---------------------------------------------------------------- the file of --fix header

// The bytes of the file --fix header sends (and checks on arrival): --file, or a
// generated text sample that both sides can produce on their own.
class FileBytes {
 public:
  static FileBytes open(const Session& s, const std::string& path) {
    FileBytes f;
    f.session_ = &s;
    if (path.empty()) {
      f.name_ = kSampleName;
      for (int i = 1; i <= kSampleLines; ++i) {
        f.sample_ += fmt::format("line {:03} of {}: sent by demo-sticky --fix header\n", i, kSampleLines);
      }
      f.size_ = f.sample_.size();
      return f;
    }
    std::error_code ec;
    // The header announces the size before the body: a device or a pipe has none to announce.
    if (const auto st = std::filesystem::status(path, ec); !ec && !std::filesystem::is_regular_file(st)) {
      throw demo::UsageError(s.note(Note{"usage_file_not_regular"}, {{"path", path}}));
    }
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw demo::UsageError(s.note(Note{"usage_file_unreadable"}, {{"path", path}, {"error", demo::errno_name(ec.value())}}));
    f.in_ = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*f.in_) throw demo::UsageError(s.note(Note{"usage_file_unreadable"}, {{"path", path}, {"error", demo::errno_name(errno)}}));
    f.name_ = std::filesystem::path(path).filename().string();
    f.size_ = size;
    return f;
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

  // The next bytes, up to out.size(); fewer only at the end.
  std::size_t read(std::span<std::byte> out) {
    if (!in_) {
      const std::size_t n = std::min(out.size(), sample_.size() - pos_);
      std::copy_n(bytes_of(sample_).subspan(pos_).begin(), n, out.begin());
      pos_ += n;
      return n;
    }
    in_->read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
    if (in_->bad()) throw demo::DemoFailure(session_->note(Note{"failure_file_read"}, {{"name", name_}, {"error", demo::errno_name(errno)}}));
    return static_cast<std::size_t>(in_->gcount());
  }

 private:
  std::string name_;
  std::uint64_t size_ = 0;
  std::string sample_;
  std::size_t pos_ = 0;
  std::unique_ptr<std::ifstream> in_;
  const Session* session_ = nullptr;  // for the lesson's words in a failure
};

// The header's file_name, or "" when a peer sent none (or not a string).
std::string file_name_in(const nlohmann::json& header) {
  const auto it = header.find("file_name");
  return it != header.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// ---------------------------------------------------------------- the wire

std::uint16_t server_port_of(const Session& s) {
  if (auto p = s.server_port()) return *p;
  return s.options().server_endpoint.port();
}

bool is_retransmission(const PacketRecord& p) {
  return (p.analysis & (capture::retransmission | capture::fast_retransmission |
                        capture::spurious_retransmission)) != 0;
}

// The segments that carried new data in one direction of one connection. The
// bytes a two-connection client announced to a class server first
// (Session::announce_second_connection) are not the lesson's: left out.
std::vector<const PacketRecord*> data_packets(const Session& s, std::uint32_t stream, bool to_server) {
  const std::uint16_t port = server_port_of(s);
  std::uint32_t announced = stream == 0 && to_server ? s.announcement_bytes() : 0;
  std::vector<const PacketRecord*> out;
  for (const auto& p : s.packets()) {
    if (!p.is_tcp || p.stream != stream || p.len == 0 || is_retransmission(p)) continue;
    if ((p.dport == port) != to_server) continue;
    if (announced > 0) {
      announced -= std::min(announced, p.len);
      continue;
    }
    out.push_back(&p);
  }
  return out;
}

// Payload sizes of those segments.
nlohmann::json data_segments(const Session& s, std::uint32_t stream, bool to_server) {
  auto out = nlohmann::json::array();
  for (const auto* p : data_packets(s, stream, to_server)) out.push_back(p->len);
  return out;
}

bool any_retransmission(const Session& s) {
  return std::any_of(s.packets().begin(), s.packets().end(), is_retransmission);
}

// ---------------------------------------------------------------- the default: glued

// The server of the default and of --nagle: waits until `expected` bytes are
// queued, then reads once with recv(1024). Returns what that one recv() gave.
std::string read_once_when_all_queued(Session& s, net::TcpStream& conn, std::size_t expected) {
  const int queued = must(conn.wait_for_bytes(static_cast<int>(expected), s.patience()));
  s.record_note(Side::server, fmt::format("SIOCINQ {}", queued), Note{"server_queued"},
                {{"bytes", std::to_string(queued)}});
  std::array<std::byte, kRecvSize> buf{};
  const std::size_t n = must(conn.recv_some(buf));
  s.explain(Side::server, "recv", Note{"recv_glued"}, {{"bytes", std::to_string(n)}});
  return text_of(std::span(buf).first(n));
}

// The client's connection; with TCP_NODELAY (set once connected, so that the
// option's call shows the connection's own port) each send() is one segment.
// A second connection comes from the socket announce_second_connection() bound, if any.
net::TcpStream connect_client(Session& s, const net::Endpoint& server, bool nodelay,
                              std::optional<net::TcpStream> bound = std::nullopt) {
  auto conn = s.connect_second(std::move(bound), server);
  s.explain(Side::client, "connect", Note{"connect"});
  if (nodelay) {
    must(conn.set_nodelay(true));
    s.explain(Side::client, "setsockopt", Note{"nodelay"});
  }
  return conn;
}

void send_messages(Session& s, net::TcpStream& conn) {
  for (std::size_t i = 0; i < kMessages.size(); ++i) {
    must(conn.send_all(kMessages[i]));
    s.explain(Side::client, "send", Note{"send_message"},
              {{"n", std::to_string(i + 1)}, {"bytes", std::to_string(kMessages[i].size())}});
  }
}

void layers_fact(Session& s, const std::vector<std::size_t>& recv_sizes) {
  nlohmann::json sends = nlohmann::json::array();
  for (auto m : kMessages) sends.push_back(m.size());
  const nlohmann::json segments = s.capturing() ? data_segments(s, 0, true) : nlohmann::json(nullptr);
  const nlohmann::json recvs = recv_sizes;
  // A lone client saw no recv(): the server's happened in the server's process.
  s.fact("three_layers", {{"send", sends}, {"segments", segments}, {"recv", s.plays(Side::server) ? recvs : nullptr}},
         s.plays(Side::server) ? Note{"fact_layers"} : Note{"fact_layers_sent"},
         {{"send", demo::render_value(sends)},
          {"segments", s.capturing() ? demo::render_value(segments) : s.note(Note{"word_none"})},
          {"recv", demo::render_value(recvs)}});
}

void glued(Session& s) {
  std::optional<std::string> first_read;
  s.run(
      [&] {  // the server
        auto listener = s.listen();
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        first_read = read_once_when_all_queued(s, conn, total_message_bytes());
        s.end_capture();
      },
      [&] {  // the client
        auto conn = connect_client(s, s.server_endpoint(), true);
        send_messages(s, conn);
        wait_all_acked(s, Side::client, conn);
        s.end_capture();
      });

  if (first_read) {
    const std::string all = std::string(kMessages[0]) + std::string(kMessages[1]) + std::string(kMessages[2]);
    s.verdict("glued_read", all, *first_read, Note{"verdict_glued"});
    if (*first_read != all) s.why(Note{"why_not_glued"});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    const auto observed = data_segments(s, 0, true);
    s.verdict("separate_segments", {5, 3, 6}, observed,
              s.plays(Side::server) ? Note{"verdict_segments"} : Note{"verdict_segments_sent"});
    if (observed != nlohmann::json({5, 3, 6}) && any_retransmission(s)) s.why(Note{"why_segments_retransmitted"});
  }
  layers_fact(s, first_read ? std::vector<std::size_t>{first_read->size()} : std::vector<std::size_t>{});
}

// ---------------------------------------------------------------- --nagle

// Connection 1 keeps Nagle's algorithm (the default), connection 2 sets TCP_NODELAY.
// The server greets each one, having first asked its kernel to delay ACKs: so
// "hello" stays unacknowledged while the client writes "hai" and "hahaha".
void nagle(Session& s) {
  s.set_variant("nagle", "--nagle");
  std::vector<std::string> reads;
  std::array<std::optional<SendQueue>, 2> after_hello, after_all;
  s.run(
      [&] {  // the server
        auto listener = s.listen();
        std::vector<net::TcpStream> open;  // closed after the capture: their FINs are not the lesson
        for (int i = 0; i < 2; ++i) {
          auto& conn = open.emplace_back(i == 0 ? s.accept(listener).stream : s.accept_second(listener).stream);
          s.explain(Side::server, "accept", Note{"accept"});
          // Serving a class: which connection is this student's second (before our greeting, its cue).
          if (i == 0) s.expect_second_connection(conn);
          delay_acks(conn);
          s.explain(Side::server, "setsockopt", Note{"delay_acks"});
          must(conn.send_all(kGreeting));
          s.explain(Side::server, "send", Note{"send_greeting"});
          reads.push_back(read_once_when_all_queued(s, conn, total_message_bytes()));
        }
        s.end_capture();
      },
      [&] {  // the client
        const auto server = s.server_endpoint();
        std::vector<net::TcpStream> open;
        std::optional<net::TcpStream> second;  // bound now with --role client: a class server is told its port
        for (std::size_t i = 0; i < 2; ++i) {
          const bool nodelay = i == 1;
          auto& conn = open.emplace_back(connect_client(s, server, nodelay, std::exchange(second, std::nullopt)));
          s.explain(Side::client, "connect", nodelay ? Note{"connection_nodelay"} : Note{"connection_nagle"});
          if (i == 0) second = s.announce_second_connection(conn);
          std::array<std::byte, kGreeting.size()> greeting{};
          must(conn.recv_exact(greeting));
          s.explain(Side::client, "recv", Note{"recv_greeting"});
          must(conn.send_all(kMessages[0]));
          s.explain(Side::client, "send", Note{"send_message"}, {{"n", "1"}, {"bytes", "5"}});
          after_hello[i] = send_queue(conn);
          s.record_note(Side::client, fmt::format("SIOCOUTQ {}", after_hello[i]->unacked), Note{"queue_after_hello"},
                        {{"unacked", std::to_string(after_hello[i]->unacked)}});
          for (std::size_t m = 1; m < kMessages.size(); ++m) {
            must(conn.send_all(kMessages[m]));
            s.explain(Side::client, "send", Note{"send_message"},
                      {{"n", std::to_string(m + 1)}, {"bytes", std::to_string(kMessages[m].size())}});
          }
          after_all[i] = send_queue(conn);
          s.record_note(Side::client, fmt::format("SIOCOUTQNSD {}", after_all[i]->unsent),
                        nodelay ? Note{"queue_nodelay"} : Note{"queue_nagle"},
                        {{"unsent", std::to_string(after_all[i]->unsent)}});
          wait_all_acked(s, Side::client, conn);
        }
        s.end_capture();
      });

  const std::string all = std::string(kMessages[0]) + std::string(kMessages[1]) + std::string(kMessages[2]);
  if (s.plays(Side::server)) {
    s.verdict("glued_read", {all, all}, reads, Note{"verdict_glued_both"},
              {{"observed", reads.empty() ? std::string("-") : reads.front()}});
  }
  if (after_all[0] && after_all[1]) {
    // Nagle: "hai" and "hahaha" wait unsent while "hello" is unacknowledged; TCP_NODELAY sends them at once.
    const nlohmann::json expected = {{"nagle", 9}, {"nodelay", 0}};
    const nlohmann::json observed = {{"nagle", after_all[0]->unsent}, {"nodelay", after_all[1]->unsent}};
    s.verdict("nagle_holds_small_writes", expected, observed, Note{"verdict_nagle_queue"},
              {{"nagle", std::to_string(after_all[0]->unsent)}, {"nodelay", std::to_string(after_all[1]->unsent)}});
    if (expected != observed && after_hello[0] && after_hello[0]->unacked == 0) s.why(Note{"why_acked_early"});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    const nlohmann::json expected = {{"nagle", {5, 9}}, {"nodelay", {5, 3, 6}}};
    const nlohmann::json observed = {{"nagle", data_segments(s, 0, true)}, {"nodelay", data_segments(s, 1, true)}};
    s.verdict("nagle_merges_on_wire", expected, observed, Note{"verdict_nagle_wire"},
              {{"nagle", demo::render_value(observed["nagle"])}, {"nodelay", demo::render_value(observed["nodelay"])}});
    const auto sent = data_packets(s, 0, true);
    if (expected != observed && sent.size() >= 2) {
      // The wire shows it too: the ACK of "hello" came back before the next data left.
      const PacketRecord& hello = *sent[0];
      const bool acked_early = std::any_of(s.packets().begin(), s.packets().end(), [&](const PacketRecord& p) {
        return p.is_tcp && p.stream == 0 && p.sport == server_port_of(s) && p.ts_ns > hello.ts_ns &&
               p.ts_ns < sent[1]->ts_ns && p.ack_abs - (hello.seq_abs + hello.len) < (1u << 31);
      });
      if (acked_early) s.why(Note{"why_acked_early"});
    }
    // How long Nagle held the small writes: from "hello" to the next data segment.
    if (sent.size() >= 2) {
      const std::int64_t held = sent[1]->ts_ns - sent[0]->ts_ns;
      s.fact("nagle_wait_ns", held, Note{"fact_nagle_wait"}, {{"time", demo::duration_text(held)}});
    }
  }
}

// ---------------------------------------------------------------- --split

std::byte split_byte(std::size_t i) { return static_cast<std::byte>('a' + static_cast<int>(i % 26)); }

void split(Session& s) {
  s.set_variant("split", "--split");
  std::vector<std::size_t> chunks;
  bool intact = true;
  s.run(
      [&] {  // the server: a buffer as large as the whole message, still many recv() calls
        auto listener = s.listen();
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        std::vector<std::byte> buf(kSplitSize);
        std::size_t total = 0;
        while (total < kSplitSize) {
          const std::size_t n = must(conn.recv_some(buf));
          if (n == 0) break;
          for (std::size_t i = 0; i < n; ++i) intact = intact && buf[i] == split_byte(total + i);
          total += n;
          chunks.push_back(n);
          if (chunks.size() == 1) {
            s.explain(Side::server, "recv", Note{"recv_first_chunk"},
                      {{"bytes", std::to_string(n)}, {"total", std::to_string(kSplitSize)}});
          }
        }
        s.explain(Side::server, "recv", Note{"recv_last_chunk"}, {{"calls", std::to_string(chunks.size())}});
        s.end_capture();
      },
      [&] {  // the client: one send() of the whole message
        auto conn = connect_client(s, s.server_endpoint(), false);
        std::vector<std::byte> message(kSplitSize);
        for (std::size_t i = 0; i < message.size(); ++i) message[i] = split_byte(i);
        must(conn.send_all(message));
        s.explain(Side::client, "send", Note{"send_large"}, {{"bytes", std::to_string(kSplitSize)}});
        wait_all_acked(s, Side::client, conn);
        s.end_capture();
      });

  if (s.plays(Side::server)) {
    std::size_t total = 0, largest = 0;
    for (auto n : chunks) {
      total += n;
      largest = std::max(largest, n);
    }
    const nlohmann::json expected = {{"bytes", kSplitSize}, {"intact", true}, {"recv_calls", "more than 1"}};
    const nlohmann::json observed = {{"bytes", total}, {"intact", intact}, {"recv_calls", chunks.size()}};
    s.verdict("split_into_chunks", expected, observed, total == kSplitSize && intact && chunks.size() > 1,
              Note{"verdict_split"}, {{"calls", std::to_string(chunks.size())}, {"bytes", std::to_string(total)}});
    s.fact("recv_chunks", chunks, Note{"fact_chunks"},
           {{"calls", std::to_string(chunks.size())}, {"largest", std::to_string(largest)},
            {"smallest", std::to_string(chunks.empty() ? 0 : *std::min_element(chunks.begin(), chunks.end()))}});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    const auto segments = data_segments(s, 0, true);
    std::size_t largest = 0;
    for (const auto& n : segments) largest = std::max(largest, n.get<std::size_t>());
    s.fact("segments", segments, Note{"fact_split_segments"},
           {{"count", std::to_string(segments.size())}, {"largest", std::to_string(largest)}});
  }
}

// ---------------------------------------------------------------- --fix length|delimiter|fixed

// One of lib's three message codecs, behind one face for the lesson.
class MessageCodec {
 public:
  MessageCodec(Fix fix, net::ByteOrder order)
      : fix_(fix),
        length_(prefix_for(order)),
        delimiter_(must(net::DelimiterCodec::create("\n"))),
        fixed_(must(net::FixedLengthCodec::create(kFixedFrame))) {}

  [[nodiscard]] std::vector<std::byte> encode(std::string_view message) const {
    std::vector<std::byte> out;
    if (fix_ == Fix::length) must(length_.encode(message, out));
    if (fix_ == Fix::delimiter) must(delimiter_.encode(message, out));
    if (fix_ == Fix::fixed) must(fixed_.encode(message, out));
    return out;
  }

  // Decodes one received chunk; each message with the offset where its frame ended.
  std::vector<std::pair<std::string, std::size_t>> feed(std::span<const std::byte> chunk) {
    std::vector<std::pair<std::string, std::size_t>> out;
    auto take = [&](const net::Frame& f) {
      const auto payload = fix_ == Fix::fixed ? fixed_.strip_padding(f.payload) : f.payload;
      out.emplace_back(text_of(payload), f.end_offset);
    };
    if (fix_ == Fix::length) must(net::feed(length_, chunk, take));
    if (fix_ == Fix::delimiter) must(net::feed(delimiter_, chunk, take));
    if (fix_ == Fix::fixed) must(net::feed(fixed_, chunk, take));
    return out;
  }

  // How the lesson shows a frame's bytes: the prefix in hex, the payload as text.
  [[nodiscard]] std::string show(std::span<const std::byte> frame) const {
    if (fix_ != Fix::length || frame.size() < length_.header_size()) return preview(frame, 64);
    std::string hex;
    for (auto b : frame.first(length_.header_size())) hex += fmt::format("{:02x}", std::to_integer<unsigned>(b));
    return "[" + hex + "]" + preview(frame.subspan(length_.header_size()), 64);
  }

  // The framing in the lesson's words: "a '!I' length prefix", "a fixed size of 8 bytes".
  [[nodiscard]] std::string describe(const Session& s) const {
    switch (fix_) {
      case Fix::length: return s.note(Note{"codec_length"}, {{"format", length_.prefix().struct_format()}});
      case Fix::delimiter: return s.note(Note{"codec_delimiter"});
      case Fix::fixed: return s.note(Note{"codec_fixed"}, {{"size", std::to_string(kFixedFrame)}});
      default: return {};
    }
  }

 private:
  Fix fix_;
  net::LengthPrefixCodec length_;
  net::DelimiterCodec delimiter_;
  net::FixedLengthCodec fixed_;
};

void framed(Session& s, const Config& cfg) {
  const std::string flags = fmt::format("--fix {}{}", fix_name(cfg.fix),
                                        cfg.fix == Fix::length && cfg.order == net::ByteOrder::little ? " --endian little" : "");
  s.set_variant(fmt::format("fix-{}", fix_name(cfg.fix)), flags);
  std::size_t wire_bytes = 0;
  {
    const MessageCodec codec(cfg.fix, cfg.order);
    for (auto m : kMessages) wire_bytes += codec.encode(m).size();
  }
  std::vector<std::string> decoded;
  std::vector<std::vector<std::size_t>> boundaries;  // per recv() chunk, where frames ended
  s.run(
      [&] {  // the server: waits for every byte, reads once, and finds the frames in the chunk
        auto listener = s.listen();
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        MessageCodec codec(cfg.fix, cfg.order);
        const int queued = must(conn.wait_for_bytes(static_cast<int>(wire_bytes), s.patience()));
        s.record_note(Side::server, fmt::format("SIOCINQ {}", queued), Note{"server_queued"},
                      {{"bytes", std::to_string(queued)}});
        std::array<std::byte, kRecvSize> buf{};
        while (decoded.size() < kMessages.size()) {
          const std::size_t n = must(conn.recv_some(buf));
          if (n == 0) break;
          const auto chunk = std::span<const std::byte>(buf).first(n);
          std::string marked;
          std::size_t from = 0;
          boundaries.emplace_back();
          for (const auto& [message, end] : codec.feed(chunk)) {
            decoded.push_back(message);
            boundaries.back().push_back(end);
            marked += codec.show(chunk.subspan(from, end - from)) + " | ";
            from = end;
          }
          if (from < n) marked += codec.show(chunk.subspan(from)) + " …";
          s.explain(Side::server, "recv", Note{"recv_glued"}, {{"bytes", std::to_string(n)}});
          s.record_note(Side::server, s.note(Note{"label_frames"}, {{"frames", std::to_string(boundaries.back().size())}}),
                        from < n ? Note{"frames_split"} : Note{"frames_found"},
                        {{"frames", std::to_string(boundaries.back().size())}, {"marked", marked}});
        }
        s.end_capture();
      },
      [&] {  // the client: one send() per framed message
        const MessageCodec codec(cfg.fix, cfg.order);
        auto conn = connect_client(s, s.server_endpoint(), true);
        for (auto m : kMessages) {
          const auto frame = codec.encode(m);
          must(conn.send_all(frame));
          s.explain(Side::client, "send", Note{"send_frame"},
                    {{"message", std::string(m)}, {"bytes", std::to_string(frame.size())}, {"frame", codec.show(frame)}});
        }
        wait_all_acked(s, Side::client, conn);
        s.end_capture();
      });

  if (s.plays(Side::server)) {
    const MessageCodec codec(cfg.fix, cfg.order);
    s.verdict("messages_whole", {"hello", "hai", "hahaha"}, decoded, Note{"verdict_messages_whole"},
              {{"codec", codec.describe(s)}});
    s.fact("frame_boundaries", boundaries, Note{"fact_boundaries"},
           {{"chunks", std::to_string(boundaries.size())}, {"offsets", demo::render_value(boundaries)}});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    nlohmann::json expected = nlohmann::json::array();
    const MessageCodec codec(cfg.fix, cfg.order);
    for (auto m : kMessages) expected.push_back(codec.encode(m).size());
    s.verdict("separate_segments", expected, data_segments(s, 0, true),
              s.plays(Side::server) ? Note{"verdict_segments"} : Note{"verdict_segments_sent"});
  }
}

// ---------------------------------------------------------------- --fix header: a file

void file_transfer(Session& s, const Config& cfg) {
  s.set_variant("fix-header", cfg.order == net::ByteOrder::little ? "--fix header --endian little" : "--fix header");
  const net::HeaderBodyOptions options{.header_prefix = prefix_for(cfg.order)};
  // The file this side knows: the server sends it; the client checks what
  // arrives against it. A lone client without --file knows only the sample.
  const auto known = FileBytes::open(s, cfg.file);
  if (s.plays(Side::server)) {
    s.fact("file", {{"name", known.name()}, {"size", known.size()}}, Note{"fact_file_reference"},
           {{"name", known.name()}, {"size", std::to_string(known.size())}});
  }
  bool compared = false;  // the client had the same file to compare with, byte for byte
  std::uint64_t codec_body_size = 0;  // the size the header announced (checked by the codec)

  std::vector<std::size_t> pieces;
  std::uint64_t sent_bytes = 0;
  std::optional<nlohmann::json> header;
  std::optional<std::size_t> header_end;   // offset in the first chunk where the header ended
  std::size_t glued_body = 0;              // bytes of the file in that same chunk
  std::uint64_t body_bytes = 0;
  std::optional<std::uint64_t> first_difference;
  bool complete = false;
  std::size_t recv_calls = 0;
  s.run(
      [&] {  // the server sends the file: header, then the body in pieces
        auto file = FileBytes::open(s, cfg.file);
        auto listener = s.listen();
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        const net::HeaderBodyCodec codec(options);
        std::vector<std::byte> head;
        must(codec.encode_header({{"file_name", file.name()}}, file.size(), head));
        const std::size_t header_size = head.size();
        // The header and the file's first piece in one send(): one segment, so the
        // client's first recv(1024) gets the header and the file's start, every run.
        std::vector<std::byte> piece(kPieceSize);
        const std::size_t first = file.read(piece);
        head.insert(head.end(), piece.begin(), piece.begin() + static_cast<std::ptrdiff_t>(first));
        must(conn.send_all(head));
        s.explain(Side::server, "send", Note{"send_header"},
                  {{"bytes", std::to_string(header_size)}, {"format", options.header_prefix.struct_format()},
                   {"json", text_of(std::span(head).subspan(4, header_size - 4))}, {"first", std::to_string(first)}});
        pieces.push_back(first);
        std::uint64_t sent = first;
        while (const std::size_t n = file.read(piece)) {
          if (pieces.size() == kShownCalls) conn.set_trace({});  // the rest is summarised below
          must(conn.send_all(std::span(piece).first(n)));
          if (pieces.size() < kShownCalls) {
            s.explain(Side::server, "send", Note{"send_piece"}, {{"bytes", std::to_string(n)}});
          }
          pieces.push_back(n);
          sent += n;
        }
        if (pieces.size() > kShownCalls) {
          conn.set_trace(s.trace(Side::server));
          s.record_note(Side::server, fmt::format("+{} send()", pieces.size() - kShownCalls),
                        Note{"pieces_not_shown"}, {{"calls", std::to_string(pieces.size() - kShownCalls)}});
        }
        sent_bytes = sent;
        wait_all_acked(s, Side::server, conn);
        s.end_capture();
      },
      [&] {  // the client receives: recv(1024) until the codec says the file is complete
        auto conn = connect_client(s, s.server_endpoint(), false);
        net::HeaderBodyCodec codec(options);
        auto expected_bytes = FileBytes::open(s, cfg.file);
        std::array<std::byte, kRecvSize> buf{};
        std::vector<std::byte> want;
        while (!complete) {
          if (recv_calls == kShownCalls) conn.set_trace({});
          const std::size_t n = must(conn.recv_some(buf));
          ++recv_calls;
          if (n == 0) break;
          bool header_now = false;
          std::uint64_t body_now = 0;
          must(net::feed(codec, std::span<const std::byte>(buf).first(n), [&](const net::HeaderBodyCodec::Part& part) {
            using Kind = net::HeaderBodyCodec::Part::Kind;
            if (part.kind == Kind::header) {
              header = codec.header();
              codec_body_size = codec.body_size();
              header_end = part.end_offset;
              header_now = true;
              // With --file (or the sample announced) the bytes can be checked; else the size only.
              compared = !cfg.file.empty() || file_name_in(*header) == expected_bytes.name();
            } else if (part.kind == Kind::body) {
              if (compared) {
                want.resize(part.data.size());
                const std::size_t got = expected_bytes.read(want);
                for (std::size_t i = 0; i < part.data.size() && !first_difference; ++i) {
                  if (i >= got || part.data[i] != want[i]) first_difference = body_bytes + i;
                }
              }
              body_bytes += part.data.size();
              body_now += part.data.size();
            } else {
              complete = true;
            }
          }));
          if (header_now) glued_body = n - *header_end;
          if (header_now && recv_calls <= kShownCalls) {
            s.explain(Side::client, "recv", Note{"recv_header"},
                      {{"offset", std::to_string(*header_end)}, {"body", std::to_string(n - *header_end)}});
          } else if (recv_calls <= kShownCalls && body_now > 0) {
            s.explain(Side::client, "recv", Note{"recv_body"},
                      {{"received", std::to_string(body_bytes)}, {"size", std::to_string(codec.body_size())}});
          }
        }
        if (recv_calls > kShownCalls) {
          conn.set_trace(s.trace(Side::client));
          s.record_note(Side::client, fmt::format("+{} recv()", recv_calls - kShownCalls), Note{"recv_not_shown"},
                        {{"calls", std::to_string(recv_calls - kShownCalls)}});
        }
        if (complete) {
          s.record_note(Side::client, s.note(Note{"label_file_done"}), Note{"file_done"},
                        {{"bytes", std::to_string(body_bytes)}, {"calls", std::to_string(recv_calls)}});
        }
        s.end_capture();
      });

  if (s.plays(Side::server)) {
    // A file that changes while it is sent would break the header's promise.
    s.verdict("file_sent", known.size(), sent_bytes, Note{"verdict_file_sent"}, {{"name", known.name()}});
    s.fact("body_pieces", pieces.size(), Note{"fact_file_pieces"},
           {{"pieces", std::to_string(pieces.size())}, {"piece", std::to_string(kPieceSize)}});
  }
  if (s.plays(Side::client)) {
    nlohmann::json observed = nullptr;
    // The header as it came, every field (a classic server adds file_content, file_root).
    const std::string as_received = header ? header->dump() : "-";
    if (header) {
      observed = {{"file_name", header->value("file_name", nlohmann::json(nullptr))},
                  {"file_size", header->value("file_size", nlohmann::json(nullptr))}};
    }
    if (compared || !header) {
      const nlohmann::json expected = {{"file_name", known.name()}, {"file_size", known.size()}};
      s.verdict("header_received", expected, observed, Note{"verdict_header"}, {{"observed", as_received}});
    } else {
      // Nothing to compare with: a header is right when it names a file and gives its size.
      const bool valid = observed["file_name"].is_string() && observed["file_size"].is_number_unsigned();
      s.verdict("header_received", {{"file_name", "a name"}, {"file_size", "a size"}}, observed, valid,
                Note{"verdict_header"}, {{"observed", as_received}});
    }
    if (header_end) {
      // "Glued" only when file bytes came in the header's chunk (an empty file has none).
      s.fact("header_end", *header_end, glued_body > 0 ? Note{"fact_header_offset"} : Note{"fact_header_alone"},
             {{"offset", std::to_string(*header_end)}, {"bytes", std::to_string(glued_body)}});
    }
    const std::uint64_t announced = header ? codec_body_size : 0;
    const nlohmann::json want = {{"bytes", compared ? known.size() : announced}, {"same_bytes", compared ? nlohmann::json(true) : nlohmann::json(nullptr)}};
    const nlohmann::json got = {{"bytes", body_bytes},
                                {"same_bytes", compared ? nlohmann::json(complete && !first_difference) : nlohmann::json(nullptr)}};
    s.verdict("file_intact", want, got, compared ? Note{"verdict_file"} : Note{"verdict_file_size_only"},
              {{"bytes", std::to_string(body_bytes)}, {"name", compared ? known.name() : header ? file_name_in(*header) : "-"}});
  }
  if (s.capturing()) demo::explain_wire(s);
}

// ---------------------------------------------------------------- --short-reads

// True once the receiver has read everything we sent: our bytes are
// acknowledged and no longer in its receive queue (inet_diag, when it is on
// this machine; from another machine only the ACK can be seen). Also true when
// the receiver is gone: `gone` tells.
bool receiver_took_it(const net::TcpStream& conn, const demo::ConnectionEnds& e, bool& gone) {
  gone = conn.wait_readable(std::chrono::milliseconds(0)).has_value();  // its FIN or RST arrived
  auto queued = conn.bytes_in_send_queue();
  if (gone || !queued) return gone = true;
  if (*queued != 0) return false;
  const auto peer = demo::find_socket(e.other, e.me);
  if (peer && peer->state != net::TcpState::established) return gone = true;
  return !peer || peer->recv_queue == 0;
}

// Sends a length-prefixed "hello" with the prefix one byte per send(), each
// only once the receiver has read the one before. Returns false if the receiver gave up.
// `settled`, when given, tells that the receiver has also finished acting on
// what it read (the run plays both sides and the server said so): without it
// the next byte could reach a receiver that is closing, and its close() would
// then find unread data and answer with RST instead of FIN, some runs only.
bool send_header_bytewise(Session& s, net::TcpStream& conn, const net::LengthPrefixCodec& codec,
                          const std::function<bool()>& settled = {}) {
  const auto e = demo::ends_of(conn);
  const auto head = must(codec.encode_header(kMessages[0].size()));
  for (std::size_t i = 0; i < head.count; ++i) {
    if (!conn.send_some(head.span().subspan(i, 1))) {  // the receiver has already reset the connection
      s.record_note(Side::client, s.note(Note{"label_peer_closed"}), Note{"receiver_gave_up"});
      return false;
    }
    s.explain(Side::client, "send", Note{"send_header_byte"},
              {{"n", std::to_string(i + 1)}, {"of", std::to_string(head.count)}});
    bool gone = false;
    const auto read_and_settled = [&] {
      const bool acted = !settled || settled();  // asked first: a close() it reports is then seen in the state
      return receiver_took_it(conn, e, gone) && (gone || acted);
    };
    if (!demo::wait_until(read_and_settled, s.patience())) {
      throw demo::DemoFailure(s.note(Note{"failure_header_byte"}, {{"seconds", std::to_string(s.patience().count() / 1000)}}));
    }
    if (gone) {
      s.record_note(Side::client, s.note(Note{"label_peer_closed"}), Note{"receiver_gave_up"});
      return false;
    }
    if (i == 0) s.record_note(Side::client, "Recv-Q 0", Note{"byte_taken"});
  }
  must(conn.send_all(kMessages[0]));
  s.explain(Side::client, "send", Note{"send_payload"});
  return true;
}

void short_reads(Session& s, const Config& cfg) {
  s.set_variant("short-reads", cfg.order == net::ByteOrder::little ? "--short-reads --endian little" : "--short-reads");
  const net::LengthPrefixCodec codec(prefix_for(cfg.order));
  std::optional<std::size_t> naive_got;
  std::string naive_error;
  std::optional<std::string> exact_message;
  std::vector<std::size_t> exact_calls;
  std::atomic<bool> naive_done = false;  // the server has acted on the first connection's header
  s.run(
      [&] {  // the server: a naive receiver first, then one that uses recv_exact
        auto listener = s.listen();
        {
          auto conn = s.accept(listener).stream;
          s.explain(Side::server, "accept", Note{"accept"});
          // Serving a class: which connection is this student's second (our close below is its cue).
          s.expect_second_connection(conn);
          std::array<std::byte, 4> head{};
          naive_got = must(conn.recv_some(std::span(head).first(codec.header_size())));
          s.explain(Side::server, "recv", Note{"naive_recv"}, {{"bytes", std::to_string(*naive_got)}});
          auto length = codec.parse_header(std::span<const std::byte>(head).first(*naive_got));
          if (!length) {
            naive_error = length.error().message();
            // lib's message is English: other languages say the same from the sizes.
            if (s.options().lang != demo::Lang::en)
              naive_error = s.note(Note{"error_short_prefix"}, {{"need", std::to_string(codec.header_size())},
                                                                 {"got", std::to_string(*naive_got)}});
            s.record_note(Side::server, s.note(Note{"label_header_broken"}), Note{"naive_fails"}, {{"error", naive_error}});
            must(conn.close());
            s.explain(Side::server, "close", Note{"naive_close"});
          } else {
            std::string message(*length, '\0');  // the header came whole this time
            must(conn.recv_exact(std::as_writable_bytes(std::span(message))));
          }
          naive_done = true;
        }
        auto conn = std::move(s.accept_second(listener).stream);
        s.explain(Side::server, "accept", Note{"accept"});
        std::array<std::byte, 4> head{};
        const auto got = must(conn.recv_exact(std::span(head).first(codec.header_size())));
        s.explain(Side::server, "recv", Note{"exact_recv"}, {{"bytes", std::to_string(got)}});
        const std::size_t length = must(codec.parse_header(std::span<const std::byte>(head).first(got)));
        std::string message(length, '\0');
        const auto body = must(conn.recv_exact(std::as_writable_bytes(std::span(message))));
        message.resize(body);
        s.explain(Side::server, "recv", Note{"exact_payload"}, {{"message", message}});
        exact_message = message;
        s.end_capture();
      },
      [&] {  // the client: the same byte-at-a-time header on both connections
        const auto server = s.server_endpoint();
        std::vector<net::TcpStream> open;  // closed after the capture
        std::optional<net::TcpStream> second;  // bound now with --role client: a class server is told its port
        for (int i = 0; i < 2; ++i) {
          auto& conn = open.emplace_back(connect_client(s, server, true, std::exchange(second, std::nullopt)));
          if (i == 0) second = s.announce_second_connection(conn);
          // The naive receiver's verdict on the first connection comes before the next byte.
          std::function<bool()> settled;
          if (i == 0 && s.plays(Side::server)) settled = [&] { return naive_done.load(); };
          // Against a server elsewhere, its verdict shows as its close(): the next byte
          // waits for it, so its recv(4) gets one byte however far away it is (and a
          // class server has registered the second connection by then).
          if (i == 0 && second) settled = [] { return false; };
          if (send_header_bytewise(s, conn, codec, settled)) wait_all_acked(s, Side::client, conn);
        }
        s.end_capture();
      });

  // The recv() calls of the second connection: those after the server's second accept().
  int accepts = 0;
  for (const auto& c : s.calls()) {
    if (c.side != Side::server) continue;
    if (c.call == "accept") ++accepts;
    if (c.call == "recv" && accepts == 2 && c.result > 0) exact_calls.push_back(static_cast<std::size_t>(c.result));
  }
  if (s.plays(Side::server)) {
    s.verdict("naive_header_short", 1, naive_got.value_or(0), Note{"verdict_naive_short"},
              {{"bytes", std::to_string(naive_got.value_or(0))}});
    if (naive_got.value_or(0) != 1) s.why(Note{"why_receiver_remote"});
    if (!naive_error.empty())
      s.fact("naive_error", naive_error, Note{"fact_naive_error"}, {{"error", naive_error}});
    s.verdict("recv_exact_whole", "hello", exact_message.value_or(""), Note{"verdict_exact"});
    s.fact("recv_exact_calls", exact_calls, Note{"fact_exact_calls"}, {{"calls", demo::render_value(exact_calls)}});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    s.verdict("header_bytes_separate", {1, 1, 1, 1, 5}, data_segments(s, 1, true), Note{"verdict_header_bytes"});
  }
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"sticky", "demo-sticky: Lesson 3, glued messages (\"sticky packets\") and message boundaries",
                  kNoteKeys});
  bool nagle_variant = false, split_variant = false, short_reads_variant = false;
  std::string fix, endian, file;
  auto* group = app.cli().add_option_group("Variants", "Pick at most one");
  group->add_flag("--nagle", nagle_variant,
                  "Nagle's algorithm: small writes merged on the wire while the first is unacknowledged; "
                  "not with TCP_NODELAY");
  group->add_flag("--split", split_variant, "One message of 1 MiB: it arrives in many recv() chunks");
  group->add_option("--fix", fix, "Frame the messages: length (a length prefix), delimiter (\\n), fixed (8 bytes), "
                                  "header (a file: JSON header, then the body)")
      ->check(CLI::IsMember({"length", "delimiter", "fixed", "header"}));
  group->add_flag("--short-reads", short_reads_variant,
                  "The length header sent a byte at a time: recv(4) trusted breaks, recv_exact does not");
  group->require_option(0, 1);
  app.cli().add_option("--endian", endian, "Byte order of the length prefix: big ('!I', default) or little ('<i')")
      ->check(CLI::IsMember({"big", "little"}));
  app.cli().add_option("--file", file, "--fix header: the file the server sends (and the client checks against); "
                                       "default: a generated text sample")
      ->check(CLI::ExistingFile);
  // --nagle's and --short-reads' clients make two connections: the class hands each
  // run its student's second one by the port announced on the first (classroom.hpp).
  app.serve_classes({}, [&] { return nagle_variant || short_reads_variant; });
  return app.run(argc, argv, [&](Session& s) {
    Config cfg;
    cfg.fix = fix == "length" ? Fix::length : fix == "delimiter" ? Fix::delimiter : fix == "fixed" ? Fix::fixed
              : fix == "header" ? Fix::header : Fix::none;
    cfg.order = endian == "little" ? net::ByteOrder::little : net::ByteOrder::big;
    cfg.file = file;
    if (!endian.empty() && cfg.fix != Fix::length && cfg.fix != Fix::header && !short_reads_variant) {
      throw demo::UsageError(s.note(Note{"usage_endian"}));
    }
    if (!file.empty() && cfg.fix != Fix::header) throw demo::UsageError(s.note(Note{"usage_file_fix"}));
    if (nagle_variant) return nagle(s);
    if (split_variant) return split(s);
    if (short_reads_variant) return short_reads(s, cfg);
    if (cfg.fix == Fix::header) return file_transfer(s, cfg);
    if (cfg.fix != Fix::none) return framed(s, cfg);
    glued(s);
  });
}
