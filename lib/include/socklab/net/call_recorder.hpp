// Call events: what the program asked of the kernel, to stand next to the wire.
//
// A socket carries a Trace (a recorder and the side it plays). When the trace
// is empty (the default) no event is built and no clock is read: recording is
// free when off. When set, every socket call appends one CallEvent:
// - one event per system call: send_all/recv_exact show each send()/recv()
//   they make (the short reads are the lesson), and a call interrupted by a
//   signal appears once with err == EINTR before its retry;
// - TcpStream::connect is one "connect" event spanning the handshake (also with
//   a timeout); connect_start records "connect" with err EINPROGRESS and
//   finish_connect a second "connect" whose args end in "(finish)";
// - accept's args and peer are the client's address; streams it returns inherit
//   the listener's trace;
// - option setters record "setsockopt" with "NAME=value" ("SO_LINGER=0",
//   "SO_LINGER=off", "TCP_NODELAY=1"); wait_for_bytes records the SO_RCVLOWAT
//   it sets and restores;
// - close(), including the destructor's implicit one, records "close".
// The recorder must outlive every socket that traces into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace socklab::net {

enum class Side : std::uint8_t { none, client, server };
std::string_view to_string(Side s) noexcept;  // "", "client", "server"

// Nanoseconds since the epoch on CLOCK_REALTIME: the clock pcap timestamps use,
// so call events and captured packets sort on one time line.
std::int64_t realtime_ns() noexcept;

struct CallEvent {
  std::int64_t t_ns = 0;     // when the call started (CLOCK_REALTIME, ns)
  std::int64_t dur_ns = 0;   // how long it took
  Side side = Side::none;
  std::string call{};        // "socket", "bind", "listen", "accept", "connect", "send",
                             // "recv", "sendto", "recvfrom", "shutdown", "close",
                             // "setsockopt", "getsockopt"; demos may add "state", "note"
  std::string args{};        // the arguments that matter: "127.0.0.1:8080", "1024", "SO_LINGER=0"
  std::int64_t result = 0;   // return value: bytes, 0, or -1 on error
  int err = 0;               // errno when result is -1, else 0
  std::string preview{};     // printable preview of the data sent or received
  std::string local{};       // "127.0.0.1:51514" when known: ties the call to a flow
  std::string peer{};        // "127.0.0.1:40123" when known
  std::string participant{}; // the named participant that made the call ("A", "router"), "" when the
                             // run has only the two sides (a lab host's name: see socklab::lab)
};

// Thread-safe, append-only log of CallEvents. Both sides of a demo share one.
class CallRecorder {
 public:
  void record(CallEvent ev);
  // The events so far, in the order recorded (which is start-time order per thread).
  [[nodiscard]] std::vector<CallEvent> snapshot() const;
  void clear();

 private:
  mutable std::mutex mutex_;
  std::vector<CallEvent> events_;
};

struct Trace {
  CallRecorder* recorder = nullptr;
  Side side = Side::none;
  // The participant's name, copied into each event; the storage must outlive the sockets.
  std::string_view participant{};
  explicit operator bool() const noexcept { return recorder != nullptr; }

  // When a call is about to start: 0 when off, without reading the clock.
  [[nodiscard]] std::int64_t start() const noexcept { return recorder ? realtime_ns() : 0; }
  // Records a call that started at t0: fills t_ns, dur_ns, side and participant. No-op when off.
  void finish(std::int64_t t0, CallEvent ev) const;
};

// A short printable rendering of bytes for previews: printable ASCII as is,
// \n \r \t and \xNN escapes otherwise, cut at max_chars with "…" appended.
std::string preview_bytes(std::span<const std::byte> data, std::size_t max_chars = 32);

}  // namespace socklab::net
