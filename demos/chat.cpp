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
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "demo.hpp"
#include "server_setup.hpp"
#include "socklab/capture/terminal.hpp"

namespace {

using namespace socklab;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::array<std::string_view, 36> kNoteKeys{
    // server
    "listening", "limits", "joined", "message_refused", "turned_away", "stopping",
    "left.closed", "left.reset", "left.eof_in_frame", "left.frame_too_large", "left.malformed_frame",
    "left.bad_name", "left.frame_timeout", "left.idle_timeout", "left.too_slow",
    // client
    "connected", "empty_not_sent", "refused", "disconnected", "server_closed", "server_reset",
    "joined_other", "left_other", "not_answered",
    // why a client left, as the client shows it
    "reason.closed", "reason.reset", "reason.eof_in_frame", "reason.frame_too_large",
    "reason.malformed_frame", "reason.bad_name", "reason.frame_timeout", "reason.idle_timeout",
    "reason.too_slow", "reason.server_full", "reason.shutdown", "reason.unknown"};
using Note = demo::Key<kNoteKeys>;

// ---------------------------------------------------------------- limits

// What protects the server from a hostile or broken peer (documented in the lesson).
struct ServerLimits {
  std::size_t max_clients = 64;         // more are greeted with "bye" and closed at once
  std::size_t max_message = 4096;       // bytes in one frame; a bigger header closes the client
  milliseconds frame_timeout{10'000};   // a frame, once begun, must arrive whole within this
  std::chrono::seconds idle_timeout{900};  // a client that sends nothing for this long is closed
  std::size_t max_queued = 1 << 20;     // bytes waiting to be sent to one client (it stopped reading)
};
constexpr std::size_t max_name_bytes = 32;

// ---------------------------------------------------------------- text checks

// Why `bytes` is not one line of UTF-8 text (nullopt when it is): the server
// relays text only, so a terminal never receives escape sequences or bytes it
// cannot show.
std::optional<std::string> text_problem(std::span<const std::byte> bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto b = std::to_integer<unsigned>(bytes[i]);
    std::size_t len = 0;
    unsigned cp = 0;
    if (b < 0x80) {
      if ((b < 0x20 && b != '\t') || b == 0x7f)
        return fmt::format("control character 0x{:02x} at byte {}", b, i);
      ++i;
      continue;
    }
    if ((b & 0xe0U) == 0xc0) { len = 2; cp = b & 0x1fU; }
    else if ((b & 0xf0U) == 0xe0) { len = 3; cp = b & 0x0fU; }
    else if ((b & 0xf8U) == 0xf0) { len = 4; cp = b & 0x07U; }
    else return fmt::format("byte 0x{:02x} at byte {} is not UTF-8", b, i);
    if (i + len > bytes.size()) return fmt::format("a UTF-8 sequence is cut at byte {}", i);
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = std::to_integer<unsigned>(bytes[i + k]);
      if ((c & 0xc0U) != 0x80) return fmt::format("byte 0x{:02x} at byte {} is not UTF-8", c, i + k);
      cp = (cp << 6U) | (c & 0x3fU);
    }
    constexpr std::array<unsigned, 5> min_of_len{0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_of_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return fmt::format("invalid UTF-8 sequence at byte {}", i);
    i += len;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- output

// One printer for every line of a program: the server's loop and the capture
// thread both print, so lines are whole and in the order they were made.
class Printer {
 public:
  // `timestamps`: text lines start with the seconds since start (the server's log);
  // the client shows the conversation alone.
  Printer(bool json_mode, bool timestamps, const demo::Lesson& lesson)
      : json_(json_mode), timestamps_(timestamps), lesson_(lesson) {}

  [[nodiscard]] bool json_mode() const noexcept { return json_; }
  [[nodiscard]] std::string note(demo::NoteKey key, const demo::Values& values = {}) const {
    return lesson_.note(key, values);
  }
  // Seconds since start on CLOCK_REALTIME, the clock of packet timestamps, so
  // a packet's line can carry the time it was captured rather than printed.
  [[nodiscard]] double seconds_since_start(std::optional<std::int64_t> at_ns = {}) const {
    return static_cast<double>(at_ns.value_or(net::realtime_ns()) - start_ns_) / 1e9;
  }

  // A JSON event ("kind" and "t" are added), or a text line with the time in
  // front (microseconds, as tcpdump: on loopback a whole exchange fits in one ms).
  // `at_ns`: when it happened, if not now (a packet's capture time).
  void event(std::string_view kind, json fields, const std::string& text, std::optional<std::int64_t> at_ns = {}) {
    std::lock_guard lock(mutex_);
    const double t = seconds_since_start(at_ns);
    if (json_) {
      fields["kind"] = kind;
      fields["t"] = std::round(t * 1e6) / 1e6;
      std::fputs((fields.dump(-1, ' ', false, json::error_handler_t::replace) + "\n").c_str(), stdout);
    } else if (timestamps_) {
      std::fputs(fmt::format("{:12.6f}  {}\n", t, text).c_str(), stdout);
    } else {
      std::fputs((text + "\n").c_str(), stdout);
    }
    std::fflush(stdout);
  }
  // A line for people only (stderr), e.g. how to start the clients.
  void tell(const std::string& text) {
    std::lock_guard lock(mutex_);
    std::fputs((text + "\n").c_str(), stderr);
    std::fflush(stderr);
  }
  // Title and goal, or the "lesson" JSON object.
  void lesson_header(std::string_view role, bool capturing, bool no_lesson, demo::Lang lang) {
    if (json_) {
      event("lesson", {{"demo", "chat"}, {"role", role}, {"lang", demo::to_string(lang)},
                       {"title", lesson_.title()}, {"capture", capturing}}, "");
    } else if (!no_lesson) {
      std::lock_guard lock(mutex_);
      std::fputs(fmt::format("{}\n\n{}\n\n", lesson_.title(), lesson_.goal()).c_str(), stdout);
      std::fflush(stdout);
    }
  }

 private:
  bool json_;
  bool timestamps_;
  const demo::Lesson& lesson_;
  std::mutex mutex_;
  std::int64_t start_ns_ = net::realtime_ns();
};

// ---------------------------------------------------------------- the server

// Why a client's connection ended; the id is in the JSON and in "leave"/"bye" frames.
enum class Leave {
  closed, reset, eof_in_frame, frame_too_large, malformed_frame, bad_name,
  frame_timeout, idle_timeout, too_slow, shutdown
};
constexpr std::array<std::string_view, 10> kLeaveIds{
    "closed", "reset", "eof_in_frame", "frame_too_large", "malformed_frame", "bad_name",
    "frame_timeout", "idle_timeout", "too_slow", "shutdown"};
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
    case Leave::shutdown: break;
  }
  return "left.closed";
}

struct Client {
  net::TcpStream stream;
  net::Endpoint peer;
  std::string name;                      // empty until the first frame named the client
  net::LengthPrefixCodec decoder;
  std::vector<std::byte> outbox;         // frames not yet taken by the kernel
  std::size_t outbox_sent = 0;           // bytes of outbox already sent
  Clock::time_point last_heard;
  std::optional<Clock::time_point> frame_began;  // a frame is half received since then
  std::optional<std::pair<Leave, std::string>> leaving;  // set once: the reason and its detail

  [[nodiscard]] std::size_t queued() const noexcept { return outbox.size() - outbox_sent; }
};

class ChatServer {
 public:
  ChatServer(net::TcpListener listener, const ServerLimits& limits, net::LengthPrefix prefix, Printer& out)
      : listener_(std::move(listener)), limits_(limits), prefix_(prefix), encoder_(prefix, 1 << 20), out_(out) {}

  // Serves until SIGINT or SIGTERM arrives on `signal_fd`.
  void serve(int signal_fd) {
    std::vector<pollfd> fds;
    std::vector<std::byte> buffer(64 * 1024);
    for (;;) {
      fds.clear();
      fds.push_back({signal_fd, POLLIN, 0});
      fds.push_back({listener_.fd(), POLLIN, 0});
      for (const auto& c : clients_) {
        const short want = static_cast<short>(POLLIN | (c.queued() > 0 ? POLLOUT : 0));
        fds.push_back({c.stream.fd(), want, 0});
      }
      const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms());
      if (ready < 0 && errno != EINTR) throw demo::DemoFailure(fmt::format("poll: {}", std::strerror(errno)));
      if (ready > 0 && fds[0].revents != 0) break;  // asked to stop

      // Clients first (the list only changes below), then new connections.
      std::size_t i = 2;
      for (auto& c : clients_) {
        const short ev = fds[i++].revents;
        if ((ev & (POLLIN | POLLERR | POLLHUP)) != 0) receive(c, buffer);
        if ((ev & POLLOUT) != 0 && !c.leaving) flush(c);
      }
      if (ready > 0 && fds[1].revents != 0) accept_all();
      check_deadlines();
      drop_leaving();
    }
    for (auto& c : clients_) {
      if (!c.leaving) c.leaving = {Leave::shutdown, ""};
      queue(c, {{"type", "bye"}, {"reason", id_of(Leave::shutdown)}, {"detail", "the server is stopping"}});
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
      if (!accepted) return;  // none left (timed_out), or a connection that vanished first
      if (clients_.size() >= limits_.max_clients) {
        turn_away(std::move(*accepted));
        continue;
      }
      if (!accepted->stream.set_nonblocking(true)) continue;
      clients_.push_back(Client{std::move(accepted->stream), accepted->peer, {},
                                net::LengthPrefixCodec(prefix_, limits_.max_message), {}, 0, Clock::now(), {}, {}});
    }
  }

  // Full: say so in one frame and close. The kernel buffer takes a frame this
  // small at once; if it does not, the client was not reading anyway.
  void turn_away(net::TcpListener::Accepted a) {
    const std::string detail = fmt::format("{} clients are online, the maximum (--max-clients)", limits_.max_clients);
    std::vector<std::byte> frame;
    (void)encoder_.encode(json{{"type", "bye"}, {"reason", "server_full"}, {"detail", detail}}.dump(), frame);
    (void)a.stream.set_nonblocking(true);
    (void)a.stream.send_some(frame, MSG_NOSIGNAL);
    out_.event("turned_away", {{"peer", a.peer.to_string()}, {"reason", "server_full"}, {"detail", detail}},
               out_.note(Note{"turned_away"}, {{"peer", a.peer.to_string()},
                                               {"max_clients", std::to_string(limits_.max_clients)}}));
  }

  void receive(Client& c, std::span<std::byte> buffer) {
    if (c.leaving) return;
    auto got = c.stream.recv_some(buffer);
    if (!got) {
      if (got.error().errno_value() == EAGAIN || got.error().errno_value() == EWOULDBLOCK) return;
      const bool reset = got.error().errno_value() == ECONNRESET;
      return leave(c, reset ? Leave::reset : Leave::closed, got.error().message());
    }
    c.last_heard = Clock::now();
    if (*got == 0) {  // EOF: a FIN (Python: recv() returned b'')
      if (auto done = c.decoder.finish(); !done) return leave(c, Leave::eof_in_frame, done.error().message());
      return leave(c, Leave::closed, "");
    }
    auto fed = net::feed(c.decoder, std::span<const std::byte>(buffer).first(*got), [&](const net::Frame& f) {
      if (!c.leaving) on_frame(c, f.payload);
    });
    if (!fed) {
      const bool too_large = fed.error().code == net::errc::frame_too_large;
      return leave(c, too_large ? Leave::frame_too_large : Leave::malformed_frame, fed.error().message(), true);
    }
    // The frame deadline runs from the first byte of a frame to its last.
    if (!c.decoder.in_frame()) c.frame_began.reset();
    else if (!c.frame_began) c.frame_began = Clock::now();
  }

  void on_frame(Client& c, std::span<const std::byte> payload) {
    if (c.name.empty()) return welcome(c, payload);
    if (payload.empty()) return refuse(c, "empty", "an empty message");
    if (auto problem = text_problem(payload)) return refuse(c, "not_text", *problem);
    ++relayed_;
    const std::string text = demo::text_of(payload);
    out_.event("message", {{"from", c.name}, {"text", text}, {"bytes", payload.size()}},
               fmt::format("[{}] {}", c.name, text));
    broadcast({{"type", "message"}, {"from", c.name}, {"text", text}});
  }

  void welcome(Client& c, std::span<const std::byte> name) {
    std::optional<std::string> problem = text_problem(name);
    if (name.empty()) problem = "an empty name";
    if (name.size() > max_name_bytes) problem = fmt::format("a name of {} bytes (at most {})", name.size(), max_name_bytes);
    if (problem) return leave(c, Leave::bad_name, "the first frame must be a name: " + *problem, true);
    c.name = unique_name(demo::text_of(name));
    ++served_;
    const std::size_t online = named_count();
    out_.event("join", {{"name", c.name}, {"peer", c.peer.to_string()}, {"online", online}},
               out_.note(Note{"joined"}, {{"name", c.name}, {"peer", c.peer.to_string()},
                                          {"online", std::to_string(online)}}));
    queue(c, {{"type", "welcome"}, {"name", c.name}, {"online", online}});
    broadcast({{"type", "join"}, {"name", c.name}, {"online", online}}, &c);
  }

  // A bad message is refused, but its frame was whole: the stream is intact and the client stays.
  void refuse(Client& c, std::string_view reason, const std::string& detail) {
    out_.event("refused", {{"name", c.name}, {"reason", reason}, {"detail", detail}},
               out_.note(Note{"message_refused"}, {{"name", c.name}, {"detail", detail}}));
    queue(c, {{"type", "refused"}, {"reason", reason}, {"detail", detail}});
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
    std::vector<std::byte> frame;
    if (!encoder_.encode(event.dump(-1, ' ', false, json::error_handler_t::replace), frame)) return;
    for (auto& c : clients_) {
      if (&c != except && !c.name.empty() && !c.leaving) queue_bytes(c, frame);
    }
  }

  void queue(Client& c, const json& event) {
    std::vector<std::byte> frame;
    if (encoder_.encode(event.dump(-1, ' ', false, json::error_handler_t::replace), frame)) queue_bytes(c, frame);
  }

  void queue_bytes(Client& c, std::span<const std::byte> frame) {
    if (c.queued() + frame.size() > limits_.max_queued && !c.leaving) {
      return leave(c, Leave::too_slow, fmt::format("{} bytes were waiting to be sent to it", c.queued()));
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
        if (!c.leaving) leave(c, err == ECONNRESET || err == EPIPE ? Leave::reset : Leave::closed, sent.error().message());
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
    for (auto& c : clients_) {
      if (c.leaving) continue;
      if (c.frame_began && now - *c.frame_began >= limits_.frame_timeout) {
        leave(c, Leave::frame_timeout,
              fmt::format("a frame began {} ms ago and is still incomplete (at most {} ms)",
                          std::chrono::duration_cast<milliseconds>(now - *c.frame_began).count(),
                          limits_.frame_timeout.count()),
              true);
      } else if (now - c.last_heard >= limits_.idle_timeout) {
        leave(c, Leave::idle_timeout,
              fmt::format("nothing received for {} s (at most {} s)", limits_.idle_timeout.count(),
                          limits_.idle_timeout.count()),
              true);
      }
    }
  }

  // The time until the next deadline of any client, for poll(); -1: none.
  [[nodiscard]] int poll_timeout_ms() const {
    std::optional<Clock::time_point> next;
    for (const auto& c : clients_) {
      auto deadline = c.last_heard + limits_.idle_timeout;
      if (c.frame_began) deadline = std::min(deadline, *c.frame_began + limits_.frame_timeout);
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
    if (tell) {
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
    for (auto it = clients_.begin(); it != clients_.end();) {
      if (!it->leaving) {
        ++it;
        continue;
      }
      const auto [why, detail] = *it->leaving;
      const std::string name = it->name;
      const std::string peer = it->peer.to_string();
      (void)it->stream.close();
      it = clients_.erase(it);
      if (why == Leave::shutdown) continue;
      const std::size_t online = named_count();
      const std::string shown = name.empty() ? peer : name;
      out_.event("leave",
                 {{"name", name.empty() ? json(nullptr) : json(name)}, {"peer", peer}, {"reason", id_of(why)},
                  {"detail", detail}, {"online", online}},
                 out_.note(left_note(why), {{"name", shown}, {"detail", detail}, {"online", std::to_string(online)}}));
      if (!name.empty()) broadcast({{"type", "leave"}, {"name", name}, {"reason", id_of(why)}, {"online", online}});
    }
    // A burst of busy clients leaves its send queues with the allocator; when the
    // room empties, give that memory back, so the footprint follows the clients.
    if (clients_.empty() && had_clients) ::malloc_trim(0);
  }

  net::TcpListener listener_;
  ServerLimits limits_;
  net::LengthPrefix prefix_;
  net::LengthPrefixCodec encoder_;  // frames the server writes (its own messages are never large)
  Printer& out_;
  std::list<Client> clients_;       // a list: a Client never moves while we hold a reference
  std::uint64_t served_ = 0;
  std::uint64_t relayed_ = 0;
};

// SIGINT and SIGTERM as a descriptor poll() can wait on, so Ctrl-C ends the loop cleanly.
int stop_signals_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // Blocked in every thread started from here on (the capture's too): only the fd sees them.
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) throw demo::DemoFailure("cannot block SIGINT/SIGTERM");
  const int fd = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (fd < 0) throw demo::DemoFailure(fmt::format("signalfd: {}", std::strerror(errno)));
  return fd;
}

struct ServerFlags {
  ServerLimits limits;
  long long frame_timeout_ms = 10'000;
  long long idle_timeout_s = 900;
};

int run_server(const demo::CommonOptions& opts, const ServerFlags& flags, net::LengthPrefix prefix,
               const demo::Lesson& lesson, const demo::Lesson& common) {
  Printer out(opts.json, true, lesson);
  const int signal_fd = stop_signals_fd();
  std::optional<demo::CaptureProblem> capture_problem;
#if SOCKLAB_HAVE_PCAP
  // The capture is armed before any client can know the port: before listen()
  // when --port gave it, else before it is announced. No client's SYN is missed.
  const bool port_given = opts.listen_endpoint.port() != 0;
  std::optional<capture::LiveCapture> live;
  std::mutex records_mutex;
  std::optional<capture::RecordBuilder> records;
  auto start_capture = [&](const net::Endpoint& at) {
    auto config = demo::capture_config_for(at, opts.pcap_path);
    config.keep_packets = false;  // a server runs for long: print each packet, keep none
    config.sink = [&](const capture::RawPacket& p) {
      std::lock_guard lock(records_mutex);
      if (!records) return;
      const auto r = records->next(p);
      const std::string phase(capture::to_string(r.phase));
      out.event("packet", capture::to_json(r), fmt::format("  wire  {}{}", r.line, phase.empty() ? "" : "  [" + phase + "]"), r.ts_ns);
    };
    auto started = demo::start_capture(std::move(config));
    if (started) {
      {
        std::lock_guard lock(records_mutex);
        records.emplace(started->link_type());
      }
      live.emplace(std::move(*started));
    } else {
      capture_problem = std::move(started.error());
    }
  };
  if (opts.capture && port_given) start_capture(opts.listen_endpoint);
#else
  if (opts.capture) capture_problem = demo::no_capture_support(common);
#endif

  // SO_REUSEADDR: a restart on the same port must not wait out the TIME_WAIT
  // of connections this server closed itself (lesson 2, --reuse).
  auto listener = net::TcpListener::bind(opts.listen_endpoint, {.backlog = 128, .reuse_addr = true});
  if (!listener) {
    std::fprintf(stderr, "demo-chat server: %s\n",
                 demo::explain_bind_failure(listener.error(), opts.listen_endpoint, common).c_str());
    return demo::exit_failed;
  }
  const net::Endpoint bound = listener->endpoint();

#if SOCKLAB_HAVE_PCAP
  if (opts.capture && !port_given) start_capture(bound);
#endif

  out.lesson_header("server", !capture_problem && opts.capture, opts.no_lesson, opts.lang);
  if (capture_problem) out.tell(common.note(demo::CommonNote{"capture_problem"}, {{"problem", capture_problem->text}}));
  std::string host = bound.address();
  if (host == "0.0.0.0" || host == "::") host = "<" + common.note(demo::CommonNote{"this_machine_address"}) + ">";
  std::string command = fmt::format("demo-chat client --host {} --port {} --name YOUR_NAME", host, bound.port());
  if (prefix != net::LengthPrefix::network_uint32()) command += " --prefix '" + prefix.struct_format() + "'";
  if (opts.lang == demo::Lang::zh) command += " --lang zh";
  const auto& l = flags.limits;
  out.event("listening",
            {{"endpoint", bound.to_string()},
             {"prefix", prefix.struct_format()},
             {"limits",
              {{"max_clients", l.max_clients}, {"max_message", l.max_message},
               {"frame_timeout_ms", l.frame_timeout.count()}, {"idle_timeout_s", l.idle_timeout.count()},
               {"max_queued", l.max_queued}}}},
            out.note(Note{"limits"}, {{"max_clients", std::to_string(l.max_clients)},
                                      {"max_message", std::to_string(l.max_message)},
                                      {"frame_timeout", std::to_string(l.frame_timeout.count())},
                                      {"idle_timeout", std::to_string(l.idle_timeout.count())},
                                      {"max_queued", std::to_string(l.max_queued)}}));
  out.tell(out.note(Note{"listening"}, {{"endpoint", bound.to_string()}, {"command", command}}));

  ChatServer server(std::move(*listener), flags.limits, prefix, out);
  server.serve(signal_fd);
  ::close(signal_fd);

  json stats_json = nullptr;
#if SOCKLAB_HAVE_PCAP
  if (live) {
    auto stats = live->stop();  // the last packets (the FINs of the goodbyes) are printed first
    if (stats) {
      stats_json = {{"captured", stats->captured}, {"dropped_by_kernel", stats->dropped_by_kernel}};
      out.tell(common.note(demo::CommonNote{"capture_stats"},
                           {{"captured", std::to_string(stats->captured)},
                            {"dropped", std::to_string(stats->dropped_by_kernel)}}));
      if (!opts.pcap_path.empty()) out.tell(common.note(demo::CommonNote{"pcap_written"}, {{"path", opts.pcap_path}}));
    } else {
      capture_problem = demo::CaptureProblem{stats.error().message()};
    }
  }
#endif
  out.event("summary",
            {{"clients_served", server.clients_served()}, {"messages", server.messages_relayed()},
             {"capture", stats_json}, {"ok", !capture_problem}},
            out.note(Note{"stopping"}, {{"served", std::to_string(server.clients_served())},
                                        {"messages", std::to_string(server.messages_relayed())}}));
  if (capture_problem) return capture_problem->not_permitted ? demo::exit_capture_not_permitted : demo::exit_failed;
  return demo::exit_ok;
}

// ---------------------------------------------------------------- the client

class ChatClient {
 public:
  ChatClient(net::TcpStream stream, net::LengthPrefix prefix, std::string server, Printer& out)
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
      int timeout = -1;
      if (give_up) timeout = static_cast<int>(std::max<long long>(
                       0, std::chrono::ceil<milliseconds>(*give_up - Clock::now()).count()));
      const int ready = ::poll(fds.data(), fds.size(), timeout);
      if (ready < 0 && errno != EINTR) return fail(fmt::format("poll: {}", std::strerror(errno)));
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
          if (!pending.empty() && !send_line(pending)) return demo::exit_failed;
          stdin_open = false;
          if (!scripted) return leave_now();
          give_up = Clock::now() + patience;  // the answers to what we sent are on their way
          continue;
        }
        pending.append(in.data(), static_cast<std::size_t>(n));
        for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
          if (!send_line(pending.substr(0, eol))) return demo::exit_failed;
          pending.erase(0, eol + 1);
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
    if (!send_frame(line)) return false;
    ++outstanding_;
    return true;
  }

  bool send_frame(std::string_view text) {
    auto sent = net::write_frame(stream_, encoder_, demo::bytes_of(text));
    if (!sent) {
      fail(sent.error().message());
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
      return fail(got.error().message());
    }
    if (*got == 0) {
      out_.event("closed", {{"by", "server"}, {"reset", false}}, out_.note(Note{"server_closed"}));
      return bye_reason_ == "shutdown" || bye_reason_.empty() ? demo::exit_ok : demo::exit_failed;
    }
    auto fed = net::feed(codec_, std::span<const std::byte>(buffer).first(*got),
                         [&](const net::Frame& f) { show(f.text()); });
    if (!fed) return fail(fed.error().message());
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
      text = out_.note(Note{"connected"}, {{"server", server_}, {"name", name_}, {"online", str("online")}});
    } else if (type == "message") {
      text = fmt::format("[{}] {}", str("from"), str("text"));
      if (str("from") == name_ && outstanding_ > 0) --outstanding_;  // our own line, back from the server
    } else if (type == "join") {
      text = out_.note(Note{"joined_other"}, {{"name", str("name")}, {"online", str("online")}});
    } else if (type == "leave") {
      text = out_.note(Note{"left_other"}, {{"name", str("name")}, {"reason", reason_text()}, {"online", str("online")}});
    } else if (type == "refused") {
      text = out_.note(Note{"refused"}, {{"detail", str("detail")}});
      if (outstanding_ > 0) --outstanding_;
    } else if (type == "bye") {
      bye_reason_ = str("reason");
      text = out_.note(Note{"disconnected"}, {{"reason", reason_text()}, {"detail", str("detail")}});
    } else {
      text = std::string(frame);
    }
    out_.event("received", {{"frame", e.is_object() ? e : json(std::string(frame))}}, text);
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
  Printer& out_;
  std::string name_;
  std::string bye_reason_;
  std::size_t outstanding_ = 0;  // lines sent whose echo (or refusal) has not come back
};

int run_client(const demo::CommonOptions& opts, const std::string& name, net::LengthPrefix prefix,
               const demo::Lesson& lesson) {
  Printer out(opts.json, false, lesson);
  out.lesson_header("client", false, opts.no_lesson, opts.lang);
  constexpr milliseconds patience{10'000};
  auto stream = net::TcpStream::connect(opts.server_endpoint, {.timeout = patience});
  if (!stream) {
    out.tell("demo-chat client: " + stream.error().message());
    return demo::exit_failed;
  }
  ChatClient client(std::move(*stream), prefix, opts.server_endpoint.to_string(), out);
  return client.run(name, patience);
}

// ---------------------------------------------------------------- flags

std::string default_name() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "guest";
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "demo-chat: %s\nRun demo-chat --help for the flags.\n", message.c_str());
  return demo::exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout pipe or socket is an error to report, not a signal
  CLI::App app("demo-chat: Lesson 6, a chat server that keeps serving (several clients, bad peers, limits)",
               "demo-chat");
  app.require_subcommand(0, 1);
  app.footer("Exit codes: 0 done, 1 a step failed (the message says which), 2 bad usage, 4 --capture asked "
             "for but not permitted, or this build has no capture support.\nSee lessons/en/chat.md for the "
             "protocol and the limits.");
  bool check_notes = false;
  app.add_flag("--check-notes", check_notes, "")->group("");

  demo::CommonOptions opts;
  std::string prefix_flag = "!I";
  const auto add_output_flags = [&](CLI::App* cmd) {
    cmd->add_option("--port,-p", opts.port, "The server's port (server: default a free one the kernel picks)")
        ->check(CLI::Range(0, 65535));
    cmd->add_flag("-6,--ipv6", opts.ipv6, "Use IPv6 (::1)");
    cmd->add_option("--prefix", prefix_flag,
                    "The length prefix as a Python struct format: !I (default, network order), i (the "
                    "classic course's struct.pack('i', n)), !H ...");
    cmd->add_flag("--json", opts.json, "Print JSON lines instead of text");
    cmd->add_option("--lang", opts.lang_flag, "Language: en or zh (default from LANG)")
        ->check(CLI::IsMember({"en", "zh"}));
    cmd->add_flag("--no-lesson", opts.no_lesson, "Skip the lesson's title and goal");
  };

  CLI::App* server_cmd = app.add_subcommand("server", "Run the chat server (Ctrl-C stops it)");
  ServerFlags server_flags;
  server_cmd->add_option("--listen", opts.listen,
                         "The address to listen on (default 127.0.0.1, ::1 with -6; 0.0.0.0 lets other "
                         "machines in)");
  add_output_flags(server_cmd);
  server_cmd->add_flag("--capture", opts.capture,
                       "Show this server's packets as they pass (needs root or CAP_NET_RAW)");
  server_cmd->add_option("-w,--pcap", opts.pcap_path, "Also keep the packets in this pcap file (implies --capture)");
  server_cmd->add_option("--max-clients", server_flags.limits.max_clients, "Clients at once; more are turned away")
      ->check(CLI::Range(1, 100000))
      ->default_val(server_flags.limits.max_clients);
  server_cmd->add_option("--max-message", server_flags.limits.max_message,
                         "Largest message in bytes; a bigger frame header closes the client")
      ->check(CLI::Range(1, 16 * 1024 * 1024))
      ->default_val(server_flags.limits.max_message);
  server_cmd->add_option("--frame-timeout", server_flags.frame_timeout_ms,
                         "Milliseconds a frame may take from its first byte to its last")
      ->check(CLI::Range(1LL, 3'600'000LL))
      ->default_val(server_flags.frame_timeout_ms);
  server_cmd->add_option("--idle-timeout", server_flags.idle_timeout_s,
                         "Seconds a client may stay silent before it is closed")
      ->check(CLI::Range(1LL, 86'400LL * 7))
      ->default_val(server_flags.idle_timeout_s);
  server_cmd->add_option("--max-queued", server_flags.limits.max_queued,
                         "Bytes that may wait to be sent to one client; a client that stops reading is closed")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->default_val(server_flags.limits.max_queued);

  CLI::App* client_cmd = app.add_subcommand("client", "Join a chat server: type lines; Ctrl-D leaves");
  std::string name = default_name();
  client_cmd->add_option("--host", opts.host, "The server's address (default 127.0.0.1, ::1 with -6)");
  client_cmd->add_option("--name,-n", name, "Your name in the chat (default $USER)");
  add_output_flags(client_cmd);

  demo::add_program_flags(app, "chat");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version, --man-page, --bash-completion
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  if (check_notes) {
    // The shared plumbing checks the lesson files against kNoteKeys.
    demo::Demo checker({"chat", "demo-chat", kNoteKeys});
    std::array<char*, 2> args{argv[0], const_cast<char*>("--check-notes")};
    return checker.run(static_cast<int>(args.size()), args.data(), [](demo::Session&) {});
  }
  if (app.get_subcommands().empty()) return usage_error("say which side to run: demo-chat server, or demo-chat client --port P");

  const bool is_server = server_cmd->parsed();
  opts.role_flag = is_server ? "server" : "client";
  if (auto problem = demo::finish(opts, is_server ? "demo-chat server" : "demo-chat client")) {
    // finish() speaks of --role client; the chat's client is a subcommand.
    std::string text = *problem;
    if (const auto at = text.find("--role client needs --port"); at != std::string::npos)
      text = "demo-chat client needs --port: the port the server printed when it started (e.g. demo-chat client --port 5000)";
    return usage_error(text);
  }
  auto prefix = net::LengthPrefix::from_struct_format(prefix_flag);
  if (!prefix) return usage_error("--prefix: " + prefix.error().message());
  if (!is_server) {
    if (name.empty() || name.size() > max_name_bytes || text_problem(demo::bytes_of(name)))
      return usage_error(fmt::format("--name \"{}\": a name is 1 to {} bytes of text", name, max_name_bytes));
  }

  auto lesson = demo::Lesson::load("chat", opts.lang);
  auto common = demo::Lesson::load("common", opts.lang);
  if (!lesson || !common) {
    std::fprintf(stderr, "demo-chat: %s\n", (!lesson ? lesson.error() : common.error()).c_str());
    return demo::exit_failed;
  }
  try {
    if (is_server) {
      server_flags.limits.frame_timeout = milliseconds(server_flags.frame_timeout_ms);
      server_flags.limits.idle_timeout = std::chrono::seconds(server_flags.idle_timeout_s);
      return run_server(opts, server_flags, *prefix, *lesson, *common);
    }
    return run_client(opts, name, *prefix, *lesson);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo-chat: %s\n", e.what());
    return demo::exit_failed;
  }
}
