// demo-chat: a chat server that keeps serving, and its client.
//
//   demo-chat server [--port 5000] [--capture]        # terminal 1
//   demo-chat client --port 5000 --name alice         # terminals 2, 3, ...
//
// The protocol, in both directions, is length-prefixed frames ('!I' by default,
// struct.pack('!I', len(data)) + data in Python):
//   client -> server  UTF-8 text: the first frame is the client's name, then one
//                     frame per message line
//   server -> client  one JSON object per frame: {"type":"welcome"|"join"|
//                     "message"|"leave"|"refused"|"bye", ...}
//
// The server is one thread with one poll() loop over the listener and every
// client, all non-blocking, each client with its own decoder and send queue: a
// slow, silent or hostile client can hold up nobody. The per-client limits
// (ServerLimits) are what protect it; the lesson (lessons/<lang>/chat.md)
// explains each.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <ranges>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "chat_text.hpp"
#include "error_text.hpp"
#include "help_text.hpp"
#include "live_log.hpp"
#include "socklab/cli/help_format.hpp"
#include "demo.hpp"
#include "server_setup.hpp"

namespace {

using namespace socklab;
using demo::chat::TextProblem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// poll() until one of `fds` is ready, or until `deadline` if there is one (then 0
// once it has passed): the two clients' loops, framed and raw, wait the same way.
int poll_until(std::span<pollfd> fds, const std::optional<Clock::time_point>& deadline) {
  int timeout = -1;
  if (deadline) {
    timeout = static_cast<int>(
        std::max<long long>(0, std::chrono::ceil<milliseconds>(*deadline - Clock::now()).count()));
  }
  return ::poll(fds.data(), fds.size(), timeout);
}

constexpr std::array<std::string_view, 83> kNoteKeys{
    // server
    "listening", "limits", "joined", "message_refused", "turned_away", "stopping",
    "no_descriptors", "descriptors_back", "max_clients_capped", "max_clients_refused",
    "left.closed", "left.reset", "left.eof_in_frame", "left.frame_too_large", "left.malformed_frame",
    "left.bad_name", "left.frame_timeout", "left.idle_timeout", "left.too_slow", "left.hello_timeout",
    "left.crowded_out",
    // what exactly went wrong: the "detail" of the log and of "bye" frames
    "detail.name_empty", "detail.name_long", "detail.name_text", "detail.too_large", "detail.negative",
    "detail.eof_in_header", "detail.eof_in_payload", "detail.frame_timeout", "detail.idle_timeout",
    "detail.too_slow", "detail.hello_timeout", "detail.crowded_out", "detail.server_full",
    "detail.no_descriptors", "detail.shutdown", "detail.empty",
    // a peer that sends plain text without the length prefix (the classic course's chat client)
    "detail.unframed", "unframed_peer",
    // why a message is not text (server log, and the client's refusal line)
    "text.not_utf8", "text.cut", "text.invalid", "text.control", "text.c1_control", "text.bidi",
    "text.noncharacter",
    // client
    "connected", "empty_not_sent", "line_too_long", "refused", "disconnected", "server_closed", "server_reset",
    "joined_other", "left_other", "not_answered",
    // why a client left, as the client shows it
    "reason.closed", "reason.reset", "reason.eof_in_frame", "reason.frame_too_large",
    "reason.malformed_frame", "reason.bad_name", "reason.frame_timeout", "reason.idle_timeout",
    "reason.too_slow", "reason.hello_timeout", "reason.crowded_out", "reason.server_full", "reason.shutdown",
    "reason.unknown",
    // --raw: the classic course's unframed chat
    "raw_limits", "raw_joined", "raw_recv", "raw_glued", "raw_connected", "raw_sent", "raw_received", "raw_not_closed",
    // the usage errors, in the run's language (--help's: help.* notes, help_text.hpp)
    "usage_no_side", "usage_client_port", "usage_raw_prefix", "usage_prefix", "usage_name"};
using Note = demo::Key<kNoteKeys>;

// ---------------------------------------------------------------- limits

// What protects the server from a hostile or broken peer (documented in the lesson).
struct ServerLimits {
  std::size_t max_clients = 64;         // live clients; one more is greeted with "bye" and closed at once
  std::size_t max_message = 4096;       // bytes in one frame; a bigger header closes the client
  milliseconds frame_timeout{10'000};   // a frame, once begun, must arrive whole within this
  std::chrono::seconds idle_timeout{900};  // a client that sends nothing for this long is closed
  milliseconds hello_timeout{5'000};    // a new connection must send its name within this
  std::size_t max_queued = 1 << 20;     // bytes waiting to be sent to one client (it stopped reading)
};
constexpr std::size_t max_name_bytes = 32;
// Descriptors the server needs besides one per client: stdio, the listener, the
// signalfd and eventfd, the reserve, the capture's socket and file, one
// connection being turned away, and some slack for the C library.
constexpr std::size_t spare_descriptors = 16;

// ---------------------------------------------------------------- the server

// Why a client's connection ended; the id is in the JSON and in "leave"/"bye" frames.
enum class Leave {
  closed, reset, eof_in_frame, frame_too_large, malformed_frame, bad_name,
  frame_timeout, idle_timeout, too_slow, hello_timeout, crowded_out, shutdown
};
constexpr std::array<std::string_view, 12> kLeaveIds{
    "closed", "reset", "eof_in_frame", "frame_too_large", "malformed_frame", "bad_name",
    "frame_timeout", "idle_timeout", "too_slow", "hello_timeout", "crowded_out", "shutdown"};
std::string_view id_of(Leave why) { return kLeaveIds[static_cast<std::size_t>(why)]; }

Note left_note(Leave why) {
  switch (why) {
    case Leave::closed: return "left.closed";
    case Leave::reset: return "left.reset";
    case Leave::eof_in_frame: return "left.eof_in_frame";
    case Leave::frame_too_large: return "left.frame_too_large";
    case Leave::malformed_frame: return "left.malformed_frame";
    case Leave::bad_name: return "left.bad_name";
    case Leave::frame_timeout: return "left.frame_timeout";
    case Leave::idle_timeout: return "left.idle_timeout";
    case Leave::too_slow: return "left.too_slow";
    case Leave::hello_timeout: return "left.hello_timeout";
    case Leave::crowded_out: return "left.crowded_out";
    case Leave::shutdown: break;
  }
  return "left.closed";
}

// The words of a text problem, in the lesson's language.
demo::Values text_values(const TextProblem& p) { return {{"code", p.code()}, {"at", std::to_string(p.at)}}; }
Note text_note(demo::chat::TextProblemKind kind) {
  using K = demo::chat::TextProblemKind;
  switch (kind) {
    case K::not_utf8: return "text.not_utf8";
    case K::cut: return "text.cut";
    case K::invalid: return "text.invalid";
    case K::control: return "text.control";
    case K::c1_control: return "text.c1_control";
    case K::bidi: return "text.bidi";
    case K::noncharacter: break;
  }
  return "text.noncharacter";
}

struct Client {
  net::TcpStream stream;
  net::Endpoint peer;
  std::string name;                      // empty until the first frame named the client
  net::LengthPrefixCodec decoder;
  Clock::time_point connected_at;
  Clock::time_point last_heard;
  std::vector<std::byte> outbox{};       // frames not yet taken by the kernel
  std::size_t outbox_sent = 0;           // bytes of outbox already sent
  std::optional<Clock::time_point> frame_began{};  // a frame is half received since then
  std::optional<std::pair<Leave, std::string>> leaving{};  // set once: the reason and its detail
  // The current frame's first bytes (its length prefix) and how many bytes of it
  // arrived: what a refused header or a half frame is described by.
  std::array<std::byte, 4> head{};
  std::size_t head_have = 0;
  std::size_t frame_bytes = 0;
  std::uint64_t raw_received = 0;  // --raw: stream bytes received so far (where the next recv() starts)

  [[nodiscard]] std::size_t queued() const noexcept { return outbox.size() - outbox_sent; }
};

// The length a prefix announces, read as the prefix says (negative for a signed one).
std::int64_t announced_length(const net::LengthPrefix& prefix, std::span<const std::byte> head) {
  const std::size_t n = prefix.size();
  std::uint32_t raw = 0;
  for (std::size_t i = 0; i < n; ++i)
    raw = (raw << 8U) | std::to_integer<std::uint32_t>(head[prefix.order == net::ByteOrder::big ? i : n - 1 - i]);
  const std::uint32_t sign_bit = n == 2 ? 0x8000U : 0x80000000U;
  if (prefix.is_signed && (raw & sign_bit) != 0) return std::int64_t{raw} - std::int64_t{sign_bit} * 2;
  return raw;
}

// --raw --capture: which captured segments each recv() of an unframed client
// emptied. The capture thread reports a client's data segments (where each
// starts in its byte stream), the server each recv() (the stream bytes it
// returned); once the capture has seen a recv()'s last byte, a recv() that
// returned the bytes of two or more segments is said to be glued: observed on
// the wire, never inferred from the text.
class SegmentWatch {
 public:
  explicit SegmentWatch(demo::LiveLog& out) : out_(out) {}

  // Capture thread: a segment from `peer`; its payload is stream bytes [start, start + len).
  // A SYN begins a new connection from that address (stream offsets from 0
  // again). Its recv()s may be known already: the capture can lag behind the server.
  void segment(const std::string& peer, bool syn, std::uint64_t start, std::uint32_t len) {
    std::lock_guard lock(mutex_);
    if (syn) {
      auto& p = peers_[peer];
      p.segments.clear();
      p.seen_to = 0;
      p.reads.erase(p.reads.begin(), p.reads.begin() + static_cast<std::ptrdiff_t>(p.stale));  // the last connection's
      p.stale = 0;
      p.gone = false;
      return;
    }
    if (len == 0) return;
    auto& p = peers_[peer];
    p.segments.emplace(start, len);  // a retransmission starts where its original did: kept once
    p.seen_to = std::max(p.seen_to, start + len);
    settle(peer, p);
    if (p.gone && p.reads.empty()) peers_.erase(peer);
  }
  // Server thread: one recv() from `peer` returned stream bytes [from, to).
  void received(const std::string& peer, std::uint64_t from, std::uint64_t to) {
    std::lock_guard lock(mutex_);
    auto& p = peers_[peer];
    p.reads.emplace_back(from, to);
    settle(peer, p);
  }
  // Server thread: the client left. Its recv()s not matched yet still are when
  // the capture catches up; then the address is forgotten.
  void forget(const std::string& peer) {
    std::lock_guard lock(mutex_);
    const auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    if (it->second.reads.empty()) peers_.erase(it);
    else {
      it->second.gone = true;
      it->second.stale = it->second.reads.size();
    }
  }

 private:
  struct Peer {
    std::map<std::uint64_t, std::uint32_t> segments;        // start -> payload bytes
    std::uint64_t seen_to = 0;                              // the capture has seen the stream up to here
    std::deque<std::pair<std::uint64_t, std::uint64_t>> reads;  // recv()s not yet matched
    bool gone = false;      // the client left; its first `stale` reads are the last ones to match
    std::size_t stale = 0;
  };
  void settle(const std::string& peer, Peer& p) {
    while (!p.reads.empty() && p.reads.front().second <= p.seen_to) {
      const auto [from, to] = p.reads.front();
      p.reads.pop_front();
      if (p.stale > 0) --p.stale;
      std::vector<std::uint32_t> sizes;
      for (auto it = p.segments.lower_bound(from); it != p.segments.end() && it->first < to; ++it)
        sizes.push_back(it->second);
      p.segments.erase(p.segments.begin(), p.segments.lower_bound(to));
      if (sizes.size() < 2) continue;
      out_.event("glued", {{"peer", peer}, {"bytes", to - from}, {"segments", sizes}},
                 out_.note(Note{"raw_glued"}, {{"peer", peer}, {"bytes", std::to_string(to - from)},
                                               {"count", std::to_string(sizes.size())},
                                               {"sizes", fmt::format("{}", fmt::join(sizes, " + "))}}));
    }
  }

  demo::LiveLog& out_;
  std::mutex mutex_;
  std::map<std::string, Peer> peers_;
};

// What one recv() reads from an unframed (--raw) client: recv(1024), as the classic course.
constexpr std::size_t raw_recv_size = 1024;

class ChatServer {
 public:
  // `raw`: the classic course's unframed chat (--raw); `segments`: its capture, if any.
  ChatServer(net::TcpListener listener, const ServerLimits& limits, net::LengthPrefix prefix, demo::LiveLog& out,
             bool raw = false, SegmentWatch* segments = nullptr)
      : listener_(std::move(listener)), limits_(limits), prefix_(prefix), encoder_(prefix, 1 << 20), out_(out),
        raw_(raw), segments_(segments), reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}
  ChatServer(const ChatServer&) = delete;
  ChatServer& operator=(const ChatServer&) = delete;
  ~ChatServer() {
    if (reserve_fd_ >= 0) ::close(reserve_fd_);
  }

  // Serves until SIGINT or SIGTERM arrives on `signal_fd`.
  void serve(int signal_fd) {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back({signal_fd, POLLIN, 0});
      fds.push_back({accept_paused_ ? -1 : listener_.fd(), POLLIN, 0});
      for (const auto& c : clients_) {
        const short want = static_cast<short>(POLLIN | (c.queued() > 0 ? POLLOUT : 0));
        fds.push_back({c.stream.fd(), want, 0});
      }
      const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms());
      if (ready < 0 && errno != EINTR) throw demo::SystemFailure(errno, "poll");
      if (ready > 0 && fds[0].revents != 0) {  // asked to stop; taken, so that only a second signal is seen later
        signalfd_siginfo info{};
        (void)!::read(signal_fd, &info, sizeof info);
        break;
      }

      // Clients first (the list only changes below), then new connections.
      std::size_t i = 2;
      for (auto& c : clients_) {
        const short ev = fds[i++].revents;
        if ((ev & (POLLIN | POLLERR | POLLHUP)) != 0) receive(c);
        if ((ev & POLLOUT) != 0 && !c.leaving) flush(c);
      }
      if (accept_paused_ && Clock::now() >= resume_accepting_) resume_accepting();
      if (ready > 0 && fds[1].revents != 0) accept_all();
      check_deadlines();
      drop_leaving();
    }
    for (auto& c : clients_) {
      if (!c.leaving) c.leaving = {Leave::shutdown, ""};
      if (!raw_) queue(c, {{"type", "bye"}, {"reason", id_of(Leave::shutdown)}, {"detail", out_.note(Note{"detail.shutdown"})}});
      flush(c);
    }
    drop_leaving();
  }

  [[nodiscard]] std::uint64_t clients_served() const noexcept { return served_; }
  [[nodiscard]] std::uint64_t messages_relayed() const noexcept { return relayed_; }

 private:
  void accept_all() {
    for (;;) {
      auto accepted = listener_.accept(milliseconds(0));
      if (!accepted) {
        const int err = accepted.error().errno_value();
        if ((err == EMFILE || err == ENFILE) && shed_one(err)) continue;
        return;  // none left (timed_out), a connection that vanished first, or accepting is paused
      }
      if (shed_ > 0) {  // a descriptor was free again for a normal accept
        out_.event("descriptors_back", {{"turned_away", shed_}},
                   out_.note(Note{"descriptors_back"}, {{"count", std::to_string(shed_)}}));
        shed_ = 0;
      }
      if (!accepted->stream.set_nonblocking(true)) continue;
      if (live_count() >= limits_.max_clients) make_room();
      if (live_count() >= limits_.max_clients) {
        turn_away(std::move(*accepted), "server_full",
                  out_.note(Note{"detail.server_full"}, {{"max_clients", std::to_string(limits_.max_clients)}}));
        continue;
      }
      const auto now = Clock::now();
      clients_.push_back(Client{std::move(accepted->stream), accepted->peer, {},
                                net::LengthPrefixCodec(prefix_, limits_.max_message), now, now});
      if (raw_) join_raw(clients_.back());
    }
  }

  // Out of descriptors (EMFILE, ENFILE), the connection waiting in the queue
  // would keep the listener readable and poll() spinning. The reserve
  // descriptor is given up for a moment so that it can be accepted, told
  // "server_full" and closed; logged once per episode. Without a reserve,
  // accepting pauses until a client leaves (or a second passes). True: go on accepting.
  bool shed_one(int err) {
    if (shed_ == 0) {
      rlimit files{};
      (void)::getrlimit(RLIMIT_NOFILE, &files);
      out_.event("no_descriptors", {{"errno", demo::errno_name(err)}, {"limit", files.rlim_cur}},
                 out_.note(Note{"no_descriptors"}, {{"errno", demo::errno_name(err)},
                                                    {"limit", std::to_string(files.rlim_cur)}}));
    }
    const auto pause = [&] {
      accept_paused_ = true;
      resume_accepting_ = Clock::now() + std::chrono::seconds(1);
      return false;
    };
    if (reserve_fd_ < 0) return pause();
    ::close(reserve_fd_);
    auto accepted = listener_.accept(milliseconds(0));
    if (accepted) {
      ++shed_;
      turn_away(std::move(*accepted), "server_full", out_.note(Note{"detail.no_descriptors"}), false);  // and closed
    }
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (reserve_fd_ < 0) return pause();
    if (!accepted) {
      const int again = accepted.error().errno_value();
      return again == EMFILE || again == ENFILE ? pause() : false;  // else the connection vanished first
    }
    return true;
  }
  void resume_accepting() {
    accept_paused_ = false;
    if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  // Full: say so in one frame and close. The kernel buffer takes a frame this
  // small at once; if it does not, the client was not reading anyway.
  void turn_away(net::TcpListener::Accepted a, std::string_view reason, const std::string& detail, bool log = true) {
    std::vector<std::byte> frame;
    if (raw_) append_text(frame, detail + "\n");
    else (void)encoder_.encode(json{{"type", "bye"}, {"reason", reason}, {"detail", detail}}.dump(), frame);
    (void)a.stream.set_nonblocking(true);
    (void)a.stream.send_some(frame, MSG_NOSIGNAL);
    if (!log) return;
    out_.event("turned_away", {{"peer", a.peer.to_string()}, {"reason", reason}, {"detail", detail}},
               out_.note(Note{"turned_away"}, {{"peer", a.peer.to_string()},
                                               {"max_clients", std::to_string(limits_.max_clients)}}));
  }

  // Full with a newcomer waiting: first read what every client has sent (a
  // reset or a name may be waiting), then close the oldest connection that
  // has still not said its name. Silent connections never lock others out.
  void make_room() {
    std::vector<pollfd> fds;
    std::vector<Client*> polled;
    for (auto& c : clients_) {
      if (c.leaving) continue;
      fds.push_back({c.stream.fd(), POLLIN, 0});
      polled.push_back(&c);
    }
    if (::poll(fds.data(), fds.size(), 0) > 0) {
      for (std::size_t i = 0; i < fds.size(); ++i)
        if (fds[i].revents != 0) receive(*polled[i]);
    }
    if (live_count() >= limits_.max_clients) {
      Client* oldest = nullptr;
      for (auto& c : clients_)
        if (!c.leaving && c.name.empty() && (oldest == nullptr || c.connected_at < oldest->connected_at)) oldest = &c;
      if (oldest != nullptr) {
        const auto silent = std::chrono::duration_cast<milliseconds>(Clock::now() - oldest->connected_at).count();
        leave(*oldest, Leave::crowded_out, out_.note(Note{"detail.crowded_out"}, {{"waited", std::to_string(silent)}}),
              true);
      }
    }
    drop_leaving();  // their descriptors are free before the next accept
  }

  [[nodiscard]] std::size_t live_count() const {
    return static_cast<std::size_t>(
        std::count_if(clients_.begin(), clients_.end(), [](const Client& c) { return !c.leaving; }));
  }

  void receive(Client& c) {
    if (c.leaving) return;
    auto got = c.stream.recv_some(raw_ ? std::span(buffer_).first(raw_recv_size) : std::span(buffer_));
    if (!got) {
      if (got.error().errno_value() == EAGAIN || got.error().errno_value() == EWOULDBLOCK) return;
      const bool reset = got.error().errno_value() == ECONNRESET;
      return leave(c, reset ? Leave::reset : Leave::closed, out_.error(got.error()));
    }
    c.last_heard = Clock::now();
    if (raw_) return on_raw(c, std::span<const std::byte>(buffer_).first(*got));
    const std::size_t header = prefix_.size();
    if (*got == 0) {  // EOF: a FIN (Python: recv() returned b'')
      if (!c.decoder.in_frame()) return leave(c, Leave::closed, "");
      if (c.head_have < header)
        return leave(c, Leave::eof_in_frame,
                     out_.note(Note{"detail.eof_in_header"}, {{"got", std::to_string(c.head_have)},
                                                               {"size", std::to_string(header)}}));
      return leave(c, Leave::eof_in_frame,
                   out_.note(Note{"detail.eof_in_payload"},
                             {{"got", std::to_string(c.frame_bytes - header)},
                              {"size", std::to_string(announced_length(prefix_, c.head))}}));
    }
    // Frame by frame, keeping each frame's first bytes (see Client::head).
    const auto chunk = std::span<const std::byte>(buffer_).first(*got);
    for (std::size_t pos = 0; pos < chunk.size() && !c.leaving;) {
      if (!c.decoder.in_frame()) c.head_have = c.frame_bytes = 0;
      const auto rest = chunk.subspan(pos);
      const std::size_t copy = std::min(header - std::min(header, c.head_have), rest.size());
      std::copy_n(rest.begin(), copy, c.head.begin() + static_cast<std::ptrdiff_t>(c.head_have));
      c.head_have += copy;
      auto step = c.decoder.decode(rest);
      if (!step) return bad_header(c, step.error().code == net::errc::frame_too_large);
      pos += step->consumed;
      c.frame_bytes += step->consumed;
      if (!step->item) break;
      on_frame(c, step->item->payload);
    }
    // The frame deadline runs from the first byte of a frame to its last.
    if (!c.decoder.in_frame()) c.frame_began.reset();
    else if (!c.frame_began) c.frame_began = Clock::now();
  }

  // A length prefix that cannot be served: more than --max-message, or negative.
  void bad_header(Client& c, bool too_large) {
    const auto head = std::span<const std::byte>(c.head).first(prefix_.size());
    const demo::Values values{
        {"prefix", prefix_.struct_format()},
        {"bytes", fmt::format("{:02x}", fmt::join(head | std::views::transform([](std::byte b) {
                                                     return std::to_integer<unsigned>(b);
                                                   }), " "))},
        {"announced", std::to_string(announced_length(prefix_, head))},
        {"max", std::to_string(limits_.max_message)}};
    // Four printable bytes read as a length: a peer that sends plain text, unframed
    // (the classic course's client). It could not read a "bye" frame: it is told
    // in plain text, which its recv() prints, before the connection closes.
    const bool text = std::ranges::all_of(head, [](std::byte b) { return b >= std::byte{0x20} && b < std::byte{0x7f}; });
    if (too_large && text) {
      demo::Values with_text = values;
      with_text.emplace_back("text", demo::text_of(head));
      const std::string said = out_.note(Note{"unframed_peer"}, with_text) + "\n";
      c.outbox.insert(c.outbox.end(), reinterpret_cast<const std::byte*>(said.data()),
                      reinterpret_cast<const std::byte*>(said.data()) + said.size());
      flush(c);
      return leave(c, Leave::malformed_frame, out_.note(Note{"detail.unframed"}, with_text));
    }
    if (too_large) return leave(c, Leave::frame_too_large, out_.note(Note{"detail.too_large"}, values), true);
    leave(c, Leave::malformed_frame, out_.note(Note{"detail.negative"}, values), true);
  }

  // --raw: a connection is a client at once, known by its address (the
  // classic client sends no name).
  void join_raw(Client& c) {
    c.name = c.peer.to_string();
    ++served_;
    const std::size_t online = named_count();
    out_.event("join", {{"name", c.name}, {"peer", c.name}, {"online", online}},
               out_.note(Note{"raw_joined"}, {{"peer", c.name}, {"online", std::to_string(online)}}));
  }

  // --raw: what one recv() returned is taken as one message, as the classic
  // server does, and relayed to everyone, the sender too (the classic client
  // waits for an answer to each line). Lines sent close together come out of
  // one recv(): no length says where one ends.
  void on_raw(Client& c, std::span<const std::byte> chunk) {
    if (chunk.empty()) return leave(c, Leave::closed, "");  // EOF: recv() returned 0
    const std::uint64_t from = c.raw_received;
    c.raw_received += chunk.size();
    const std::string text = demo::text_of(chunk);
    out_.event("recv", {{"peer", c.name}, {"bytes", chunk.size()}, {"text", text}},
               out_.note(Note{"raw_recv"}, {{"peer", c.name}, {"bytes", std::to_string(chunk.size())},
                                            {"size", std::to_string(raw_recv_size)}, {"text", text}}));
    if (segments_ != nullptr) segments_->received(c.peer.to_string(), from, c.raw_received);
    if (auto problem = demo::chat::text_problem(chunk))
      return refuse(c, "not_text", out_.note(text_note(problem->kind), text_values(*problem)), problem);
    ++relayed_;
    std::vector<std::byte> line;
    append_text(line, "[" + c.name + "] ");
    line.insert(line.end(), chunk.begin(), chunk.end());
    for (auto& o : clients_)
      if (!o.leaving) queue_bytes(o, line);
  }

  static void append_text(std::vector<std::byte>& out, std::string_view text) {
    const auto b = demo::bytes_of(text);
    out.insert(out.end(), b.begin(), b.end());
  }

  void on_frame(Client& c, std::span<const std::byte> payload) {
    if (c.name.empty()) return welcome(c, payload);
    if (payload.empty()) return refuse(c, "empty", out_.note(Note{"detail.empty"}));
    if (auto problem = demo::chat::text_problem(payload))
      return refuse(c, "not_text", out_.note(text_note(problem->kind), text_values(*problem)), problem);
    ++relayed_;
    const std::string text = demo::text_of(payload);
    out_.event("message", {{"from", c.name}, {"text", text}, {"bytes", payload.size()}},
               fmt::format("[{}] {}", c.name, text));
    broadcast({{"type", "message"}, {"from", c.name}, {"text", text}});
  }

  void welcome(Client& c, std::span<const std::byte> name) {
    std::optional<std::string> problem;
    if (name.empty()) problem = out_.note(Note{"detail.name_empty"});
    else if (name.size() > max_name_bytes)
      problem = out_.note(Note{"detail.name_long"},
                          {{"size", std::to_string(name.size())}, {"max", std::to_string(max_name_bytes)}});
    else if (auto text = demo::chat::text_problem(name))
      problem = out_.note(Note{"detail.name_text"}, {{"problem", out_.note(text_note(text->kind), text_values(*text))}});
    if (problem) return leave(c, Leave::bad_name, *problem, true);
    c.name = unique_name(demo::text_of(name));
    ++served_;
    const std::size_t online = named_count();
    out_.event("join", {{"name", c.name}, {"peer", c.peer.to_string()}, {"online", online}},
               out_.note(Note{"joined"}, {{"name", c.name}, {"peer", c.peer.to_string()},
                                          {"online", std::to_string(online)}}));
    // max_message: so that the client can refuse an over-long line itself, before sending it.
    queue(c, {{"type", "welcome"}, {"name", c.name}, {"online", online}, {"max_message", limits_.max_message}});
    broadcast({{"type", "join"}, {"name", c.name}, {"online", online}}, &c);
  }

  // A bad message is refused, but its frame was whole: the stream is intact and the client stays.
  void refuse(Client& c, std::string_view reason, const std::string& detail,
              const std::optional<TextProblem>& problem = std::nullopt) {
    out_.event("refused", {{"name", c.name}, {"reason", reason}, {"detail", detail}},
               out_.note(Note{"message_refused"}, {{"name", c.name}, {"detail", detail}}));
    if (raw_) return;  // an unframed client could not read a "refused" frame
    json frame{{"type", "refused"}, {"reason", reason}, {"detail", detail}};
    if (problem) {  // so that a client can say it in its own language
      frame["problem"] = problem->id();
      frame["code"] = problem->code();
      frame["at"] = problem->at;
    }
    queue(c, frame);
  }

  std::string unique_name(const std::string& wanted) const {
    const auto taken = [&](const std::string& n) {
      return std::any_of(clients_.begin(), clients_.end(), [&](const Client& o) { return o.name == n; });
    };
    std::string name = wanted;
    for (int k = 2; taken(name); ++k) name = wanted + "#" + std::to_string(k);
    return name;
  }

  [[nodiscard]] std::size_t named_count() const {
    return static_cast<std::size_t>(std::count_if(clients_.begin(), clients_.end(), [](const Client& c) {
      return !c.name.empty() && !c.leaving;
    }));
  }

  // Encodes once, queues for every named client (but `except`).
  void broadcast(const json& event, const Client* except = nullptr) {
    if (raw_) return;  // unframed clients get the messages alone (on_raw)
    std::vector<std::byte> frame;
    if (!encoder_.encode(event.dump(-1, ' ', false, json::error_handler_t::replace), frame)) return;
    for (auto& c : clients_) {
      if (&c != except && !c.name.empty() && !c.leaving) queue_bytes(c, frame);
    }
  }

  void queue(Client& c, const json& event) {
    if (raw_) return;
    std::vector<std::byte> frame;
    if (encoder_.encode(event.dump(-1, ' ', false, json::error_handler_t::replace), frame)) queue_bytes(c, frame);
  }

  void queue_bytes(Client& c, std::span<const std::byte> frame) {
    if (c.queued() + frame.size() > limits_.max_queued && !c.leaving) {
      return leave(c, Leave::too_slow, out_.note(Note{"detail.too_slow"}, {{"queued", std::to_string(c.queued())}}));
    }
    if (c.outbox_sent > 0 && c.outbox_sent == c.outbox.size()) {
      c.outbox.clear();
      c.outbox_sent = 0;
    }
    c.outbox.insert(c.outbox.end(), frame.begin(), frame.end());
  }

  // Sends what the kernel takes now; the rest waits for POLLOUT.
  void flush(Client& c) {
    while (c.queued() > 0) {
      auto sent = c.stream.send_some(std::span<const std::byte>(c.outbox).subspan(c.outbox_sent), MSG_NOSIGNAL);
      if (!sent) {
        const int err = sent.error().errno_value();
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        if (!c.leaving) leave(c, err == ECONNRESET || err == EPIPE ? Leave::reset : Leave::closed, out_.error(sent.error()));
        c.outbox_sent = c.outbox.size();
        return;
      }
      c.outbox_sent += *sent;
    }
    if (c.queued() == 0) {
      c.outbox.clear();
      c.outbox_sent = 0;
    }
  }

  void check_deadlines() {
    const auto now = Clock::now();
    const auto ms = [](Clock::duration d) { return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()); };
    for (auto& c : clients_) {
      if (c.leaving) continue;
      if (c.name.empty() && now - c.connected_at >= limits_.hello_timeout) {
        leave(c, Leave::hello_timeout, out_.note(Note{"detail.hello_timeout"}, {{"limit", ms(limits_.hello_timeout)}}),
              true);
      } else if (c.frame_began && now - *c.frame_began >= limits_.frame_timeout) {
        leave(c, Leave::frame_timeout,
              out_.note(Note{"detail.frame_timeout"}, {{"waited", ms(now - *c.frame_began)},
                                                        {"limit", ms(limits_.frame_timeout)}}),
              true);
      } else if (now - c.last_heard >= limits_.idle_timeout) {
        leave(c, Leave::idle_timeout,
              out_.note(Note{"detail.idle_timeout"}, {{"limit", std::to_string(limits_.idle_timeout.count())}}), true);
      }
    }
  }

  // The time until the next deadline (a client's, or the end of a pause in
  // accepting), for poll(); -1: none.
  [[nodiscard]] int poll_timeout_ms() const {
    std::optional<Clock::time_point> next;
    if (accept_paused_) next = resume_accepting_;
    for (const auto& c : clients_) {
      auto deadline = c.last_heard + limits_.idle_timeout;
      if (c.frame_began) deadline = std::min(deadline, *c.frame_began + limits_.frame_timeout);
      if (c.name.empty()) deadline = std::min(deadline, c.connected_at + limits_.hello_timeout);
      if (!next || deadline < *next) next = deadline;
    }
    if (!next) return -1;
    const auto left = std::chrono::ceil<milliseconds>(*next - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
  }

  // Marks the client to be dropped at the end of this round, and tells it why
  // when `tell` (a "bye" frame, flushed once before closing).
  void leave(Client& c, Leave why, std::string detail, bool tell = false) {
    if (c.leaving) return;
    c.leaving = {why, detail};
    if (tell && raw_) {  // in plain text, which the classic client's recv() prints
      append_text(c.outbox, detail + "\n");
      flush(c);
    } else if (tell) {
      std::vector<std::byte> frame;
      (void)encoder_.encode(json{{"type", "bye"}, {"reason", id_of(why)}, {"detail", detail}}.dump(
                                -1, ' ', false, json::error_handler_t::replace),
                            frame);
      c.outbox.insert(c.outbox.end(), frame.begin(), frame.end());
      flush(c);
    }
  }

  void drop_leaving() {
    const bool had_clients = !clients_.empty();
    bool dropped = false;
    for (auto it = clients_.begin(); it != clients_.end();) {
      if (!it->leaving) {
        ++it;
        continue;
      }
      const auto [why, detail] = *it->leaving;
      const std::string name = it->name;
      const std::string peer = it->peer.to_string();
      // A peer that closed (FIN) may still read: what was queued for it goes
      // first, as far as the kernel takes it now (a classic client half-closes
      // and waits for the answers to its last lines).
      if (why == Leave::closed) flush(*it);
      (void)it->stream.close();
      if (segments_ != nullptr) segments_->forget(peer);
      it = clients_.erase(it);
      dropped = true;
      if (why == Leave::shutdown) continue;
      const std::size_t online = named_count();
      const std::string shown = name.empty() ? peer : name;
      out_.event("leave",
                 {{"name", name.empty() ? json(nullptr) : json(name)}, {"peer", peer}, {"reason", id_of(why)},
                  {"detail", detail}, {"online", online}},
                 out_.note(left_note(why), {{"name", shown}, {"detail", detail}, {"online", std::to_string(online)}}));
      if (!name.empty()) broadcast({{"type", "leave"}, {"name", name}, {"reason", id_of(why)}, {"online", online}});
    }
    if (dropped && accept_paused_) resume_accepting();  // a descriptor is free again
    // A burst of busy clients leaves its send queues with the allocator; when the
    // room empties, give that memory back, so the footprint follows the clients.
    if (clients_.empty() && had_clients) ::malloc_trim(0);
  }

  net::TcpListener listener_;
  ServerLimits limits_;
  net::LengthPrefix prefix_;
  net::LengthPrefixCodec encoder_;  // frames the server writes (its own messages are never large)
  demo::LiveLog& out_;
  bool raw_;
  SegmentWatch* segments_;
  std::list<Client> clients_;       // a list: a Client never moves while we hold a reference
  std::vector<std::byte> buffer_ = std::vector<std::byte>(64 * 1024);  // what one recv() reads into
  int reserve_fd_;                  // held to be given up when out of descriptors (shed_one)
  std::uint64_t shed_ = 0;          // connections turned away for want of a descriptor, this episode
  bool accept_paused_ = false;
  Clock::time_point resume_accepting_{};
  std::uint64_t served_ = 0;
  std::uint64_t relayed_ = 0;
};

// SIGINT and SIGTERM as a descriptor poll() can wait on, so Ctrl-C ends the loop cleanly.
int stop_signals_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // Blocked in every thread started from here on (the log writer's and the
  // capture's): only the fd sees them.
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) throw demo::DemoFailure("cannot block SIGINT/SIGTERM");
  const int fd = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (fd < 0) throw demo::SystemFailure(errno, "signalfd");
  return fd;
}

struct ServerFlags {
  ServerLimits limits;
  bool max_clients_given = false;  // --max-clients on the command line (else the default)
  long long frame_timeout_ms = 10'000;
  long long idle_timeout_s = 900;
  long long hello_timeout_ms = 5'000;
  bool raw = false;  // --raw: the classic course's unframed chat
};

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n > 0 ? n - 1 : 0;  // the directory's own descriptor, open while it is read
}

// One descriptor per client must fit under RLIMIT_NOFILE: the soft limit is
// raised toward the hard one if needed. What still does not fit is refused when
// --max-clients asked for it (nullopt, after saying why), or capped when it
// was the default (the limits line says so).
std::optional<std::size_t> clients_that_fit(const ServerFlags& flags, demo::LiveLog& out) {
  const std::size_t wanted = flags.limits.max_clients;
  const std::size_t base = open_descriptors() + spare_descriptors;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return wanted;
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < base + wanted) {
    const rlim_t raised = files.rlim_max == RLIM_INFINITY ? base + wanted : std::min<rlim_t>(files.rlim_max, base + wanted);
    if (raised > files.rlim_cur) {
      rlimit more{raised, files.rlim_max};
      if (::setrlimit(RLIMIT_NOFILE, &more) == 0) files.rlim_cur = raised;
    }
  }
  if (files.rlim_cur == RLIM_INFINITY || files.rlim_cur >= base + wanted) return wanted;
  const std::size_t fit = files.rlim_cur > base ? files.rlim_cur - base : 0;
  const demo::Values values{{"wanted", std::to_string(wanted)}, {"limit", std::to_string(files.rlim_cur)},
                            {"hard", std::to_string(files.rlim_max)}, {"fit", std::to_string(fit)},
                            {"needed", std::to_string(base + wanted)}};
  if (flags.max_clients_given || fit == 0) {
    out.tell("demo-chat server: " + out.note(Note{"max_clients_refused"}, values));
    return std::nullopt;
  }
  out.event("max_clients_capped", {{"wanted", wanted}, {"max_clients", fit}, {"nofile", files.rlim_cur}},
            out.note(Note{"max_clients_capped"}, values));
  return fit;
}

int run_server(const demo::CommonOptions& opts, ServerFlags flags, net::LengthPrefix prefix,
               const demo::Lesson& lesson, const demo::Lesson& common) {
  const int signal_fd = stop_signals_fd();  // first: the log writer's thread must not take the signals
  demo::LiveLog out({.json = opts.json, .timestamps = true, .never_block = true}, lesson, common, opts.lang);
  std::optional<demo::CaptureProblem> capture_problem;
  SegmentWatch segments(out);
  // The capture is armed before any client can know the port: before listen()
  // when --port gave it, else before it is announced. No client's SYN is missed.
  const bool port_given = opts.listen_endpoint.port() != 0;
  demo::StreamingCapture wire;
  const auto start_capture = [&](const net::Endpoint& at) {
    capture_problem = wire.start(at, opts, common, [&, server_port = at.port()](const capture::PacketRecord& r) {
      const std::string phase(capture::to_string(r.phase));
      out.event("packet", capture::to_json(r), fmt::format("  wire  {}{}", r.line, phase.empty() ? "" : "  [" + phase + "]"),
                r.ts_ns);
      // A client's segment to the server: relative seq 1 is its first byte.
      if (flags.raw && r.is_tcp && r.dport == server_port) {
        const bool syn = r.flags.find('S') != std::string::npos;
        if (syn || r.seq > 0) segments.segment(r.src, syn, syn ? 0 : r.seq - 1, r.len);
      }
    });
  };
  if (opts.capture && port_given) start_capture(opts.listen_endpoint);

  // SO_REUSEADDR: a restart on the same port must not wait out the TIME_WAIT
  // of connections this server closed itself (lesson 2, --reuse).
  auto listener = net::TcpListener::bind(opts.listen_endpoint, {.backlog = 128, .reuse_addr = true});
  if (!listener) {
    std::fprintf(stderr, "demo-chat server: %s\n",
                 demo::explain_bind_failure(listener.error(), opts.listen_endpoint, common).c_str());
    return demo::exit_failed;
  }
  const net::Endpoint bound = listener->endpoint();

  if (opts.capture && !port_given) start_capture(bound);

  out.lesson_header("chat", "server", !capture_problem && opts.capture, opts.no_lesson);
  const auto fit = clients_that_fit(flags, out);
  if (!fit) {
    out.stop_dropping();
    (void)out.drain(signal_fd);
    return flags.max_clients_given ? demo::exit_usage : demo::exit_failed;
  }
  flags.limits.max_clients = *fit;
  if (capture_problem) out.tell(common.note(demo::CommonNote{"capture_problem"}, {{"problem", capture_problem->text}}));
  std::string host = bound.address();
  if (host == "0.0.0.0" || host == "::") host = "<" + common.note(demo::CommonNote{"this_machine_address"}) + ">";
  std::string command = flags.raw ? fmt::format("demo-chat client --raw --host {} --port {}", host, bound.port())
                                  : fmt::format("demo-chat client --host {} --port {} --name YOUR_NAME", host, bound.port());
  if (prefix != net::LengthPrefix::network_uint32()) command += " --prefix '" + prefix.struct_format() + "'";
  if (opts.lang == demo::Lang::zh) command += " --lang zh";
  // Made before it is announced: its descriptors (the reserve) are all open when a client can come.
  ChatServer server(std::move(*listener), flags.limits, prefix, out, flags.raw, &segments);
  const auto& l = flags.limits;
  out.event("listening",
            {{"endpoint", bound.to_string()},
             {"prefix", flags.raw ? json(nullptr) : json(prefix.struct_format())},
             {"raw", flags.raw},
             {"limits",
              {{"max_clients", l.max_clients}, {"max_message", l.max_message},
               {"frame_timeout_ms", l.frame_timeout.count()}, {"idle_timeout_s", l.idle_timeout.count()},
               {"hello_timeout_ms", l.hello_timeout.count()}, {"max_queued", l.max_queued}}}},
            out.note(flags.raw ? Note{"raw_limits"} : Note{"limits"},
                     {{"max_clients", std::to_string(l.max_clients)},
                                      {"max_message", std::to_string(l.max_message)},
                                      {"frame_timeout", std::to_string(l.frame_timeout.count())},
                                      {"idle_timeout", std::to_string(l.idle_timeout.count())},
                                      {"hello_timeout", std::to_string(l.hello_timeout.count())},
                                      {"max_queued", std::to_string(l.max_queued)},
                                      {"size", std::to_string(raw_recv_size)}}));
  out.tell(out.note(Note{"listening"}, {{"endpoint", bound.to_string()}, {"command", command}}));

  server.serve(signal_fd);
  out.stop_dropping();

  json stats_json = nullptr;
  if (wire.running()) {
    auto counts = wire.stop();  // the last packets (the FINs of the goodbyes) are printed first
    if (counts) {
      stats_json = {{"captured", counts->captured}, {"dropped_by_kernel", counts->dropped_by_kernel}};
      out.tell(common.note(demo::CommonNote{"capture_stats"},
                           {{"captured", std::to_string(counts->captured)},
                            {"dropped", std::to_string(counts->dropped_by_kernel)}}));
      if (!opts.pcap_path.empty()) out.tell(common.note(demo::CommonNote{"pcap_written"}, {{"path", opts.pcap_path}}));
    } else {
      capture_problem = demo::CaptureProblem{out.error(counts.error())};
    }
  }
  out.event("summary",
            {{"clients_served", server.clients_served()}, {"messages", server.messages_relayed()},
             {"capture", stats_json}, {"log_dropped", out.dropped()}, {"ok", !capture_problem}},
            out.note(Note{"stopping"}, {{"served", std::to_string(server.clients_served())},
                                        {"messages", std::to_string(server.messages_relayed())}}));
  const int code = !capture_problem               ? demo::exit_ok
                   : capture_problem->not_permitted ? demo::exit_capture_not_permitted
                                                    : demo::exit_failed;
  // The rest of the log is written before leaving; a second Ctrl-C while the
  // output stays blocked leaves without it (the writer's thread cannot be joined).
  if (!out.drain(signal_fd)) std::_Exit(code);
  ::close(signal_fd);
  return code;
}

// ---------------------------------------------------------------- the client

class ChatClient {
 public:
  ChatClient(net::TcpStream stream, net::LengthPrefix prefix, std::string server, demo::LiveLog& out)
      : stream_(std::move(stream)), codec_(prefix, 1 << 20), encoder_(prefix, 1 << 20),
        server_(std::move(server)), out_(out) {}

  // Sends the name, then relays stdin lines and prints what arrives. Returns the exit code.
  int run(const std::string& name, milliseconds patience) {
    if (!send_frame(name)) return demo::exit_failed;
    const bool scripted = ::isatty(STDIN_FILENO) == 0;
    bool stdin_open = true;
    std::optional<Clock::time_point> give_up;  // scripted: when we stop waiting for answers
    std::string pending;                       // a stdin line not yet ended by '\n'
    std::vector<std::byte> buffer(64 * 1024);
    for (;;) {
      if (!stdin_open && outstanding_ == 0) return leave_now();
      // Lines are read once the server has welcomed us: the conversation starts there.
      const bool read_stdin = stdin_open && !name_.empty();
      std::array<pollfd, 2> fds{{{stream_.fd(), POLLIN, 0}, {read_stdin ? STDIN_FILENO : -1, POLLIN, 0}}};
      const int ready = poll_until(fds, give_up);
      if (ready < 0 && errno != EINTR) return fail(out_.error(net::system_error(errno, "poll")));
      if (ready == 0 && give_up) {
        out_.tell(out_.note(Note{"not_answered"}, {{"count", std::to_string(outstanding_)}}));
        return demo::exit_failed;
      }
      if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        if (auto done = receive(buffer)) return *done;
      }
      if (read_stdin && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        std::array<char, 4096> in{};
        const ssize_t n = ::read(STDIN_FILENO, in.data(), in.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {  // EOF (Ctrl-D, or the end of a script)
          if (discarded_ > 0) too_long(discarded_ + pending.size());
          else if (!pending.empty() && !send_line(pending)) return demo::exit_failed;
          stdin_open = false;
          if (!scripted) return leave_now();
          give_up = Clock::now() + patience;  // the answers to what we sent are on their way
          continue;
        }
        pending.append(in.data(), static_cast<std::size_t>(n));
        for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
          if (discarded_ > 0) too_long(discarded_ + eol);
          else if (!send_line(pending.substr(0, eol))) return demo::exit_failed;
          pending.erase(0, eol + 1);
        }
        // A line already too long to send is not kept: its length is counted
        // until it ends, so that a huge input line costs no memory.
        if (max_message_ > 0 && pending.size() > max_message_ + 1) {
          discarded_ += pending.size();
          pending.clear();
        }
      }
    }
  }

 private:
  bool send_line(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {  // as in the course: nothing to say, nothing sent
      out_.event("not_sent", {{"reason", "empty"}}, out_.note(Note{"empty_not_sent"}));
      return true;
    }
    // The server would close the connection for a frame above its limit, and
    // the lines after it would be lost: refused here, whole (a split line
    // would arrive as two messages, one maybe cut inside a character).
    if (max_message_ > 0 && line.size() > max_message_) {
      too_long(line.size());
      return true;
    }
    if (!send_frame(line)) return false;
    ++outstanding_;
    return true;
  }

  void too_long(std::size_t bytes) {
    discarded_ = 0;
    out_.event("not_sent", {{"reason", "too_long"}, {"bytes", bytes}, {"max_message", max_message_}},
               out_.note(Note{"line_too_long"}, {{"size", std::to_string(bytes)}, {"max", std::to_string(max_message_)}}));
  }

  bool send_frame(std::string_view text) {
    auto sent = net::write_frame(stream_, encoder_, demo::bytes_of(text));
    if (!sent) {
      fail(out_.error(sent.error()));
      return false;
    }
    return true;
  }

  // Reads once; a finished conversation gives the exit code.
  std::optional<int> receive(std::span<std::byte> buffer) {
    auto got = stream_.recv_some(buffer);
    if (!got) {
      if (got.error().errno_value() == ECONNRESET) {
        out_.event("closed", {{"by", "server"}, {"reset", true}}, out_.note(Note{"server_reset"}));
        return demo::exit_failed;
      }
      return fail(out_.error(got.error()));
    }
    if (*got == 0) {
      out_.event("closed", {{"by", "server"}, {"reset", false}}, out_.note(Note{"server_closed"}));
      return bye_reason_ == "shutdown" || bye_reason_.empty() ? demo::exit_ok : demo::exit_failed;
    }
    auto fed = net::feed(codec_, std::span<const std::byte>(buffer).first(*got),
                         [&](const net::Frame& f) { show(f.text()); });
    if (!fed) return fail(out_.error(fed.error()));
    return std::nullopt;
  }

  void show(std::string_view frame) {
    const json e = json::parse(frame, nullptr, /*allow_exceptions=*/false);
    const std::string type = e.is_object() ? e.value("type", "") : "";
    const auto str = [&](const char* key) { return e.contains(key) ? demo::render_value(e[key]) : std::string(); };
    const auto reason_text = [&] { return out_.note(reason_note(e.value("reason", ""))); };
    std::string text;
    if (type == "welcome") {
      name_ = str("name");
      if (e.contains("max_message") && e["max_message"].is_number_unsigned())
        max_message_ = e["max_message"].get<std::size_t>();
      text = out_.note(Note{"connected"}, {{"server", server_}, {"name", name_}, {"online", str("online")}});
    } else if (type == "message") {
      text = fmt::format("[{}] {}", str("from"), str("text"));
      if (str("from") == name_ && outstanding_ > 0) --outstanding_;  // our own line, back from the server
    } else if (type == "join") {
      text = out_.note(Note{"joined_other"}, {{"name", str("name")}, {"online", str("online")}});
    } else if (type == "leave") {
      text = out_.note(Note{"left_other"}, {{"name", str("name")}, {"reason", reason_text()}, {"online", str("online")}});
    } else if (type == "refused") {
      text = out_.note(Note{"refused"}, {{"detail", refusal_text(e)}});
      if (outstanding_ > 0) --outstanding_;
    } else if (type == "bye") {
      bye_reason_ = str("reason");
      text = out_.note(Note{"disconnected"}, {{"reason", reason_text()}});
    } else {
      text = std::string(frame);
    }
    out_.event("received", {{"frame", e.is_object() ? e : json(std::string(frame))}}, text);
  }

  // Why our line was refused, in our language: from the frame's fields, the
  // server's own words (its --lang) only for what this client does not know.
  std::string refusal_text(const json& e) const {
    const auto& ids = demo::chat::kTextProblemIds;
    const auto known = std::find(ids.begin(), ids.end(), e.value("problem", ""));
    if (known != ids.end()) {
      const auto kind = static_cast<demo::chat::TextProblemKind>(known - ids.begin());
      return out_.note(text_note(kind), {{"code", e.value("code", "")},
                                         {"at", e.contains("at") ? demo::render_value(e["at"]) : "?"}});
    }
    if (e.value("reason", "") == "empty") return out_.note(Note{"detail.empty"});
    return e.contains("detail") ? demo::render_value(e["detail"]) : out_.note(Note{"reason.unknown"});
  }

  static Note reason_note(std::string_view id) {
    if (id == "closed") return "reason.closed";
    if (id == "reset") return "reason.reset";
    if (id == "eof_in_frame") return "reason.eof_in_frame";
    if (id == "frame_too_large") return "reason.frame_too_large";
    if (id == "malformed_frame") return "reason.malformed_frame";
    if (id == "bad_name") return "reason.bad_name";
    if (id == "frame_timeout") return "reason.frame_timeout";
    if (id == "idle_timeout") return "reason.idle_timeout";
    if (id == "too_slow") return "reason.too_slow";
    if (id == "hello_timeout") return "reason.hello_timeout";
    if (id == "crowded_out") return "reason.crowded_out";
    if (id == "server_full") return "reason.server_full";
    if (id == "shutdown") return "reason.shutdown";
    return "reason.unknown";
  }

  int leave_now() {
    (void)stream_.close();  // FIN: the server sees recv() return 0 and announces that we left
    return demo::exit_ok;
  }

  int fail(const std::string& message) {
    out_.tell("demo-chat client: " + message);
    return demo::exit_failed;
  }

  net::TcpStream stream_;
  net::LengthPrefixCodec codec_;
  net::LengthPrefixCodec encoder_;
  std::string server_;
  demo::LiveLog& out_;
  std::string name_;
  std::string bye_reason_;
  std::size_t outstanding_ = 0;  // lines sent whose echo (or refusal) has not come back
  std::size_t max_message_ = 0;  // the server's limit (its welcome says it); 0: not known
  std::size_t discarded_ = 0;    // bytes of a too-long line not ended yet
};

// --raw: the classic course's chat client. Each line (without its newline,
// stripped as Python's strip() does) goes out in one send(), no length in
// front; what each recv(1024) returns is shown with its size. It does not wait
// for an answer before the next line (the classic client does), so lines typed
// or piped quickly can glue on the way. At the end of input it half-closes
// (FIN) and shows what still comes until the server closes.
class UnframedClient {
 public:
  UnframedClient(net::TcpStream stream, std::string server, demo::LiveLog& out)
      : stream_(std::move(stream)), server_(std::move(server)), out_(out) {}

  int run(milliseconds patience) {
    out_.event("connected", {{"server", server_}, {"raw", true}}, out_.note(Note{"raw_connected"}, {{"server", server_}}));
    bool stdin_open = true;
    std::optional<Clock::time_point> give_up;  // after our FIN: when we stop waiting for the server's
    std::string pending;
    std::array<std::byte, raw_recv_size> buffer{};
    for (;;) {
      std::array<pollfd, 2> fds{{{stream_.fd(), POLLIN, 0}, {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}}};
      const int ready = poll_until(fds, give_up);
      if (ready < 0 && errno != EINTR) return fail(out_.error(net::system_error(errno, "poll")));
      if (ready == 0 && give_up) {
        out_.tell(out_.note(Note{"raw_not_closed"}, {{"ms", std::to_string(patience.count())}}));
        return demo::exit_failed;
      }
      if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        auto got = stream_.recv_some(buffer);
        if (!got && got.error().errno_value() == ECONNRESET) {
          out_.event("closed", {{"by", "server"}, {"reset", true}}, out_.note(Note{"server_reset"}));
          return demo::exit_failed;
        }
        if (!got) return fail(out_.error(got.error()));
        if (*got == 0) {
          out_.event("closed", {{"by", "server"}, {"reset", false}}, out_.note(Note{"server_closed"}));
          return demo::exit_ok;
        }
        const std::string text = demo::text_of(std::span<const std::byte>(buffer).first(*got));
        out_.event("received", {{"bytes", *got}, {"text", text}},
                   out_.note(Note{"raw_received"}, {{"bytes", std::to_string(*got)},
                                                    {"size", std::to_string(raw_recv_size)}, {"text", text}}));
      }
      if (stdin_open && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        std::array<char, 4096> in{};
        const ssize_t n = ::read(STDIN_FILENO, in.data(), in.size());
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) pending.append(in.data(), static_cast<std::size_t>(n));
        for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos || (n <= 0 && !pending.empty());) {
          const std::string line = pending.substr(0, eol);
          pending.erase(0, eol == std::string::npos ? eol : eol + 1);
          if (!send_line(line)) return demo::exit_failed;
        }
        if (n <= 0) {  // EOF (Ctrl-D, or the end of a script): our FIN; the server's close ends the run
          stdin_open = false;
          if (auto r = stream_.shutdown_write(); !r) return fail(out_.error(r.error()));
          give_up = Clock::now() + patience;
        }
      }
    }
  }

 private:
  bool send_line(std::string_view line) {
    constexpr std::string_view space = " \t\r\v\f";
    const auto first = line.find_first_not_of(space);
    if (first == std::string_view::npos) {  // as in the course: nothing to say, nothing sent
      out_.event("not_sent", {{"reason", "empty"}}, out_.note(Note{"empty_not_sent"}));
      return true;
    }
    line = line.substr(first, line.find_last_not_of(space) - first + 1);
    auto sent = stream_.send_all(demo::bytes_of(line));
    if (!sent) {
      fail(out_.error(sent.error()));
      return false;
    }
    out_.event("sent", {{"bytes", line.size()}, {"text", line}},
               out_.note(Note{"raw_sent"}, {{"bytes", std::to_string(line.size())}, {"text", std::string(line)}}));
    return true;
  }

  int fail(const std::string& message) {
    out_.tell("demo-chat client: " + message);
    return demo::exit_failed;
  }

  net::TcpStream stream_;
  std::string server_;
  demo::LiveLog& out_;
};

int run_client(const demo::CommonOptions& opts, const std::string& name, net::LengthPrefix prefix,
               const demo::Lesson& lesson, const demo::Lesson& common, bool raw) {
  demo::LiveLog out({.json = opts.json}, lesson, common, opts.lang);
  out.lesson_header("chat", "client", false, opts.no_lesson);
  constexpr milliseconds patience{10'000};
  auto stream = net::TcpStream::connect(opts.server_endpoint, {.timeout = patience});
  if (!stream) {
    out.tell("demo-chat client: " + out.error(stream.error()));
    return demo::exit_failed;
  }
  if (raw) return UnframedClient(std::move(*stream), opts.server_endpoint.to_string(), out).run(patience);
  ChatClient client(std::move(*stream), prefix, opts.server_endpoint.to_string(), out);
  return client.run(name, patience);
}

// ---------------------------------------------------------------- flags

std::string default_name() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "guest";
}

// The common flags each side takes (options.cpp), in the run's language; the chat's own come on top.
constexpr demo::CommonFlags kSideFlags = demo::flag_port | demo::flag_ipv6 | demo::flag_json | demo::flag_lang |
                                         demo::flag_no_lesson;
constexpr demo::CommonFlags kServerFlags = kSideFlags | demo::flag_listen | demo::flag_capture | demo::flag_pcap;
constexpr demo::CommonFlags kClientFlags = kSideFlags | demo::flag_host;

// The lesson's and the shared texts in one language.
struct Texts {
  demo::Lesson lesson;
  demo::Lesson common;
  demo::Lang lang;
  static std::optional<Texts> load(demo::Lang lang) {
    auto lesson = demo::Lesson::load("chat", lang);
    auto common = demo::Lesson::load("common", lang);
    if (!lesson || !common) {
      std::fprintf(stderr, "demo-chat: %s\n", (!lesson ? lesson.error() : common.error()).c_str());
      return std::nullopt;
    }
    return Texts{std::move(*lesson), std::move(*common), lang};
  }
};

int usage_error(const Texts& t, const std::string& message) {
  std::fprintf(stderr, "demo-chat: %s\n%s\n", message.c_str(),
               t.common.note(demo::CommonNote{"usage_hint"}, {{"program", "demo-chat"}}).c_str());
  return demo::exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout pipe or socket is an error to report, not a signal
  // The language before the flags are parsed: --help and the usage errors speak it too.
  auto texts = Texts::load(demo::lang_of_arguments(argc, argv));
  if (!texts) return demo::exit_failed;
  const auto text = [&](Note key) { return texts->lesson.note(key); };
  // --help: English here beside each flag; other languages from the lesson
  // files' help.* notes (localize_help below), as every demo's.
  CLI::App app("demo-chat: Lesson 6, a chat server that keeps serving (several clients, bad peers, limits)", "demo-chat");
  socklab::cli::use_wrapping_help(app);  // before the subcommands, which inherit it
  app.require_subcommand(0, 1);
  app.footer(
      "Exit codes: 0 done, 1 a step failed (the message says which), 2 bad usage, 4 --capture asked for but not "
      "permitted, or this build has no capture support.\nSee lessons/en/chat.md for the protocol and the limits.");

  demo::CommonOptions opts;
  app.add_flag("--check-notes", opts.check_notes, "")->group("");
  std::string prefix_flag = "!I";
  ServerFlags server_flags;
  const std::string own_group = "Options";
  // The common flags whose help common.md has; those the chat describes itself are in chat.md.
  std::set<std::string> common_options;
  const auto own = [&](CLI::App* cmd, const std::string& flag, std::string description) {
    cmd->get_option(flag)->description(std::move(description));
    common_options.erase(flag);
  };
  const auto add_side = [&](std::string_view name, std::string description, demo::CommonFlags common_flags) {
    CLI::App* cmd = app.add_subcommand(std::string(name), std::move(description));
    cmd->group("Subcommands");
    cmd->get_help_ptr()->group(own_group);
    demo::add_common_flags(*cmd, opts, common_flags);
    for (const CLI::Option* o : cmd->get_options()) common_options.insert(o->get_name());
    // The common texts speak of a lesson's ladder; the chat's output is a log.
    own(cmd, "--json", "Print JSON lines instead of text");
    own(cmd, "--port",
        "The server's port (server: default a free one the kernel picks; client: the one the server printed)");
    own(cmd, "--no-lesson", "Skip the lesson's title and goal");
    cmd->add_flag("--raw", server_flags.raw,
                  "The classic course's unframed chat: each line in one send(), no length prefix; each recv(1024) "
                  "taken as one message (lines sent close together glue)")
        ->group(own_group);
    cmd->add_option("--prefix", prefix_flag,
                    "The length prefix as a Python struct format: !I (default, network order), i (the classic "
                    "course's struct.pack('i', n)), !H ...")
        ->group(own_group);
    return cmd;
  };

  CLI::App* server_cmd = add_side("server", "Run the chat server (Ctrl-C stops it)", kServerFlags);
  own(server_cmd, "--capture", "Show this server's packets as they pass (needs root or CAP_NET_RAW)");
  own(server_cmd, "--pcap", "Also keep the packets in this pcap file (implies --capture)");
  const auto limit = [&](std::string flag, auto& value, std::string description) {
    return server_cmd->add_option(std::move(flag), value, std::move(description))->default_val(value)->group(own_group);
  };
  auto* max_clients = limit("--max-clients", server_flags.limits.max_clients,
                            "Live clients at once; more are turned away (at most what the descriptor limit, ulimit "
                            "-n, allows)")
                          ->check(CLI::Range(1, 100000));
  limit("--max-message", server_flags.limits.max_message,
        "Largest message in bytes; a bigger frame header closes the client")
      ->check(CLI::Range(1, 16 * 1024 * 1024));
  limit("--frame-timeout", server_flags.frame_timeout_ms, "Milliseconds a frame may take from its first byte to its last")
      ->check(CLI::Range(1LL, 3'600'000LL));
  limit("--idle-timeout", server_flags.idle_timeout_s, "Seconds a client may stay silent before it is closed")
      ->check(CLI::Range(1LL, 86'400LL * 7));
  limit("--hello-timeout", server_flags.hello_timeout_ms,
        "Milliseconds a new connection has to send its name; when the server is full, the oldest connection still "
        "silent makes room for a newcomer")
      ->check(CLI::Range(1LL, 3'600'000LL));
  limit("--max-queued", server_flags.limits.max_queued,
        "Bytes that may wait to be sent to one client; a client that stops reading is closed")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));

  CLI::App* client_cmd = add_side("client", "Join a chat server: type lines; Ctrl-D leaves", kClientFlags);
  std::string name = default_name();
  client_cmd->add_option("--name,-n", name, "Your name in the chat (default $USER)")->group(own_group);

  demo::add_program_flags(app, "chat");
  app.option_defaults()->group(own_group);
  app.set_help_flag("-h,--help", "Print this help message and exit")->group(own_group);  // listed after --version
  for (const CLI::Option* o : app.get_options()) common_options.insert(o->get_name());  // -h, --version, ...
  if (texts->lang != demo::Lang::en) demo::localize_help(app, texts->lesson, texts->common, common_options, "demo-chat");
  try {
    opts.command_line.assign(argv, argv + argc);  // for "run again as ..." hints
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version, --man-page, --bash-completion
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return demo::report_parse_error(app, e, argc, argv, "demo-chat");  // in the run's language, as every demo
  }

  if (opts.check_notes) {
    // The help notes of chat.md both ways (common.md's: every other demo's --check-notes).
    std::vector<std::string> problems;
    for (const demo::Lang lang : {demo::Lang::en, demo::Lang::zh}) {
      if (auto l = demo::Lesson::load("chat", lang)) demo::check_help_notes(app, *l, lang, false, common_options, problems);
    }
    for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
    const int notes = demo::check_notes({"chat", "demo-chat", kNoteKeys});
    return problems.empty() ? notes : demo::exit_failed;
  }
  if (app.get_subcommands().empty()) return usage_error(*texts, text("usage_no_side"));

  const bool is_server = server_cmd->parsed();
  opts.role_flag = is_server ? "server" : "client";
  auto problem = demo::finish(opts, is_server ? "demo-chat server" : "demo-chat client");
  if (opts.lang != texts->lang) {  // --lang given in a way the first look did not see
    texts = Texts::load(opts.lang);
    if (!texts) return demo::exit_failed;
  }
  // finish() speaks of --role client; the chat's client is a subcommand.
  if (problem && !is_server && opts.port == 0) return usage_error(*texts, text("usage_client_port"));
  if (problem) return usage_error(*texts, *problem);
  if (server_flags.raw && prefix_flag != "!I") return usage_error(*texts, text("usage_raw_prefix"));
  auto prefix = net::LengthPrefix::from_struct_format(prefix_flag);
  if (!prefix) return usage_error(*texts, texts->lesson.note(Note{"usage_prefix"}, {{"format", prefix_flag}}));
  if (!is_server && !server_flags.raw) {
    if (name.empty() || name.size() > max_name_bytes || demo::chat::text_problem(demo::bytes_of(name)))
      return usage_error(*texts, texts->lesson.note(Note{"usage_name"}, {{"name", name},
                                                                         {"max", std::to_string(max_name_bytes)}}));
  }

  const demo::Lesson& lesson = texts->lesson;
  const demo::Lesson& common = texts->common;
  try {
    if (is_server) {
      server_flags.limits.frame_timeout = milliseconds(server_flags.frame_timeout_ms);
      server_flags.limits.idle_timeout = std::chrono::seconds(server_flags.idle_timeout_s);
      server_flags.limits.hello_timeout = milliseconds(server_flags.hello_timeout_ms);
      server_flags.max_clients_given = max_clients->count() > 0;
      return run_server(opts, server_flags, *prefix, lesson, common);
    }
    return run_client(opts, name, *prefix, lesson, common, server_flags.raw);
  } catch (const demo::SystemFailure& e) {
    std::fprintf(stderr, "demo-chat: %s\n", demo::error_text(e.error, common, opts.lang).c_str());
    return demo::exit_failed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo-chat: %s\n", e.what());
    return demo::exit_failed;
  }
}
