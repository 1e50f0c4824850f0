// Session: what a demo's lesson function works with. It plays one or both
// sides, records their calls, captures their packets, and collects what the
// lesson observed (facts) and judged (verdicts) for the report.
//
// A lesson function reads like the lesson:
//
//   void handshake(Session& s) {
//     s.run(
//         [&] {  // server
//           auto listener = s.listen();                 // bind + listen, capture armed, client released
//           auto conn = must(listener.accept(s.accept_patience()));
//           s.end_capture();                            // every packet the lesson shows has been sent
//         },
//         [&] {  // client
//           auto stream = must(net::TcpStream::connect(s.server_endpoint(), {.trace = s.trace(Side::client)}));
//           s.explain(Side::client, "connect", Note{"connect"});
//           s.end_capture();
//         });
//     s.verdict("handshake_segments", {"S", "S.", "."}, flags_of(s.packets()), Note{"verdict_segments"});
//   }
//
// With --role server or --role client only that side's function runs, in this
// process; the other runs elsewhere. Both sides never wait on each other through
// memory: only through the kernel (bytes queued, a TCP state, a packet seen), so
// the same code works across two machines.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lesson.hpp"
#include "note_key.hpp"
#include "options.hpp"
#include "socklab/capture/raw_packet.hpp"
#include "socklab/capture/record.hpp"
#include "socklab/net.hpp"

namespace socklab::capture {
class LiveCapture;
}

namespace socklab::demo {

using net::Side;

// A step of the lesson failed in a way the lesson did not plan for (a socket
// error, a peer that never answered). The demo prints the message and exits 1.
class DemoFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The flags ask for something this lesson cannot do (exit code 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Unwraps a lib result, or throws DemoFailure with the error's message
// ("connect 127.0.0.1:5000: Connection refused").
template <class T>
T must(net::Result<T>&& r) {
  if (!r) throw DemoFailure(r.error().message());
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

struct Verdict {
  std::string name;           // stable identifier, e.g. "handshake_segments"
  nlohmann::json expected;
  nlohmann::json observed;
  bool ok = false;
  std::string text;           // the lesson's sentence for this point
  std::string why;            // when not ok and the demo knows why: the reason
};

struct Fact {
  std::string name;           // stable identifier, e.g. "connect_us"
  nlohmann::json value;
  std::string text;           // the lesson's sentence, values filled in
};

class Session {
 public:
  Session(CommonOptions options, std::string demo, Lesson lesson, Lesson common);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  [[nodiscard]] const CommonOptions& options() const noexcept { return options_; }
  [[nodiscard]] const Lesson& lesson() const noexcept { return lesson_; }
  [[nodiscard]] const Lesson& common() const noexcept { return common_; }
  [[nodiscard]] const std::string& demo() const noexcept { return demo_; }
  // The lesson's note in the chosen language, placeholders filled.
  [[nodiscard]] std::string note(NoteKey key, const Values& values = {}) const;

  // Names the variant for the report ("merged") and the flags that select it
  // ("--merged"), which the server prints in the command for its clients.
  void set_variant(std::string name, std::string flags);
  [[nodiscard]] const std::string& variant() const noexcept { return variant_; }
  // The variant sends nothing over a network (it refuses --capture): no
  // "run again with --capture" hint.
  void set_no_wire() noexcept { no_wire_ = true; }
  [[nodiscard]] bool no_wire() const noexcept { return no_wire_; }

  // ---- the two sides
  // Does this process play `side`? (both by default; one with --role)
  [[nodiscard]] bool plays(Side side) const noexcept;
  // Runs the server and the client function, each on its own thread (or only
  // the one --role asks for). Returns when both are done; rethrows the first
  // failure. A side that returns without end_capture() counts as done with it.
  void run(const std::function<void()>& server, const std::function<void()>& client);
  // The trace that records a side's calls: pass it in ConnectOptions/ListenOptions.
  [[nodiscard]] net::Trace trace(Side side) noexcept;
  // How long one side waits for the other to do its part before giving up with
  // an error: generous, because it is never slept, only a bound on a condition.
  [[nodiscard]] std::chrono::milliseconds patience() const noexcept;
  // For accept(): none with --role server (students connect when they are
  // ready), else patience().
  [[nodiscard]] std::optional<std::chrono::milliseconds> accept_patience() const noexcept;

  // ---- server side
  // bind + listen on --listen/--port (127.0.0.1 or ::1 by default) with the
  // server's trace, then announce(). A port in use fails with the remedy.
  net::TcpListener listen(net::ListenOptions opts = {});
  // bind + listen without announce(): for a lesson that reads the listener
  // before any client may connect; call announce() itself afterwards.
  net::TcpListener listen_unannounced(net::ListenOptions opts = {});
  // A port bound but not listening: nobody accepts there and no other program
  // can take it, so a SYN to it is answered by RST. Announced like listen().
  net::Socket reserve_port();
  // The server's port is known: arm the capture on it (so the first SYN is
  // seen), release the client, and with --role server print how to start clients.
  void announce(const net::Endpoint& bound);
  // For a server that binds its own sockets (UDP): the message for a failed bind()
  // of --listen/--port, with the remedy (port in use, address not here, below 1024).
  [[nodiscard]] std::string explain_bind_failure(const net::Error& e) const;

  // ---- client side
  // Where the server is: in one process, waits for announce(); with --role
  // client, --host and --port.
  [[nodiscard]] net::Endpoint server_endpoint();
  // The server's port once known (announced here, or --port for a lone client).
  [[nodiscard]] std::optional<std::uint16_t> server_port() const;

  // ---- observing
  // A TCP state the demo read (TCP_INFO, inet_diag), shown in the side's column
  // as a "state" event with this note.
  void record_state(Side side, net::TcpState state, NoteKey note, const Values& values = {});
  // Any observation shown in the side's column (call name "note").
  void record_note(Side side, std::string args, NoteKey note, const Values& values = {});
  // The row label of a reading of a listener's accept queue ("accept queue 1/8"),
  // in the lesson's language.
  [[nodiscard]] std::string queue_label(const net::ListenQueue& q) const;
  // Attaches the lesson's note to the side's most recent call named `call`.
  void explain(Side side, std::string_view call, NoteKey note, const Values& values = {});
  // Notes for the packets, decided once they are decoded (by phase, flags, ...).
  void explain_packets(std::function<std::optional<std::string>(const capture::PacketRecord&)> notes);

  // ---- the capture
  [[nodiscard]] bool capturing() const noexcept;
  // Called by each side when every packet its part of the lesson talks about
  // has been sent: once all sides running here have called it, the capture
  // stops (after draining the kernel's queue). Blocks until then, so a side
  // closes its sockets only after the capture ended. Idempotent per side.
  void end_capture();
  // Decoded packets (relative sequence numbers; seq_abs/ack_abs as on the wire),
  // after run(); empty without capture.
  [[nodiscard]] const std::vector<capture::PacketRecord>& packets() const noexcept { return packets_; }
  // The same packets as captured (bytes and all), kept for a pcapng -w file or
  // an --html page (its layers); empty otherwise. capture_link(): their link type.
  [[nodiscard]] const std::vector<capture::RawPacket>& raw_packets() const noexcept { return raw_packets_; }
  [[nodiscard]] capture::LinkType capture_link() const noexcept { return capture_link_; }
  // The calls recorded up to the end of the capture (or all, without one).
  [[nodiscard]] std::vector<net::CallEvent> calls() const;
  // With -w FILE.pcapng (or --pcapng): writes the packets held, each with a
  // comment in the run's language (phase, analysis flags, the lesson's note,
  // the calls since the previous packet), once the lesson has run and every
  // note is known. A failure becomes capture_problem(). Without pcapng: nothing
  // (a pcap file is written as it is captured).
  void write_capture_file();

  // ---- results
  // One lesson point: ok when observed == expected.
  Verdict& verdict(std::string name, nlohmann::json expected, nlohmann::json observed, NoteKey text,
                   const Values& values = {});
  Verdict& verdict(std::string name, nlohmann::json expected, nlohmann::json observed, bool ok,
                   NoteKey text, const Values& values = {});
  // Why the last verdict differs from the lesson (printed only when it does).
  void why(NoteKey reason, const Values& values = {});
  // Something observed, with the lesson's sentence for it.
  void fact(std::string name, nlohmann::json value, NoteKey text, const Values& values = {});

  // ---- for the report (demo.cpp)
  [[nodiscard]] const std::vector<Verdict>& verdicts() const noexcept { return verdicts_; }
  [[nodiscard]] const std::vector<Fact>& facts() const noexcept { return facts_; }
  // Summary lines in the order the demo produced them: index into facts or verdicts.
  struct SummaryLine {
    bool is_verdict;
    std::size_t index;
  };
  [[nodiscard]] const std::vector<SummaryLine>& summary_order() const noexcept { return order_; }
  [[nodiscard]] std::optional<std::string> call_note(const net::CallEvent& call) const;
  [[nodiscard]] std::optional<std::string> packet_note(const capture::PacketRecord& p) const;
  // Why capturing failed (asked for, but not possible), with the fix.
  [[nodiscard]] const std::optional<std::string>& capture_problem() const noexcept { return capture_problem_; }
  [[nodiscard]] bool capture_not_permitted() const noexcept { return capture_not_permitted_; }
  [[nodiscard]] const nlohmann::json& capture_stats() const noexcept { return capture_stats_; }

 private:
  // A state or note event of our own, with the text the timeline shows beside it.
  void record_event(Side side, std::string call, std::string args, std::string note_text);
  void arm_capture(const net::Endpoint& server);
  void stop_capture();
  void side_done(Side side);

  CommonOptions options_;
  std::string demo_;
  Lesson lesson_;
  Lesson common_;
  std::string variant_ = "default";
  std::string variant_flags_;
  bool no_wire_ = false;
  net::CallRecorder recorder_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<net::Endpoint> announced_;
  bool server_failed_ = false;
  int sides_running_ = 0;
  std::map<Side, bool> capture_done_;
  bool capture_stopped_ = false;
  std::int64_t end_ns_ = 0;   // 0: the lesson is still running

  // Deleted in session.cpp, where LiveCapture is complete: this header needs
  // no libpcap, and builds without it.
  struct LiveCaptureDeleter {
    void operator()(capture::LiveCapture* c) const noexcept;
  };
  std::unique_ptr<capture::LiveCapture, LiveCaptureDeleter> capture_;
  bool captured_ = false;  // a capture ran (its packets, possibly none, are in packets_)
  std::optional<std::string> capture_problem_;
  bool capture_not_permitted_ = false;
  nlohmann::json capture_stats_;
  std::vector<capture::PacketRecord> packets_;
  // For the pcapng written at the end and the --html page: the packets as captured, and where.
  std::vector<capture::RawPacket> raw_packets_;
  capture::LinkType capture_link_ = capture::LinkType::ethernet;
  std::string capture_interface_;
  bool capture_file_written_ = false;

  std::map<std::pair<Side, std::int64_t>, std::string> call_notes_;  // by (side, start time)
  std::function<std::optional<std::string>(const capture::PacketRecord&)> packet_notes_;
  std::vector<Verdict> verdicts_;
  std::vector<Fact> facts_;
  std::vector<SummaryLine> order_;
};

}  // namespace socklab::demo
