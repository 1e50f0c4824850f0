// Stage: where a lesson is played. A lesson is a script over named participants,
// each on its own thread with its own trace (its calls are recorded under its name),
// a capture the lesson specifies (a port on loopback, or every interface of a lab),
// and findings (facts, verdicts) kept apart for the report.
//
// A lesson over lab hosts (see demos/README.md, "Writing a lesson"):
//
//   void lesson(Session& s) {                       // Demo::run hands every lesson a Session
//     auto& lab = s.lab();                          // exit 5 without CAP_NET_ADMIN/CAP_SYS_ADMIN
//     lab::add_lan(lab, "sw", {"A", "B", "C"}, "10.0.0", 0x0a);
//     s.capture(CaptureSpec::on_lab(lab.places(), "arp or icmp"));
//     s.play({{"A", [&](Actor& a) { ... sockets with a.trace ...; s.end_capture(); }, &lab.node("A")},
//             {"B", [&](Actor& b) { ...; s.end_capture(); }, &lab.node("B")}});
//     s.verdict("arp_broadcast", ..., Note{"verdict_arp"});
//   }
//
// The two sides of the loopback lessons (client and server) are the two-participant
// case of the same machinery: Session (session.hpp) names them, gives them the
// server's port and arms a port capture when the server announces it.
//
// Participants never wait on each other through memory: only through the kernel
// (bytes queued, a TCP state, a packet seen), as on two machines.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "findings.hpp"
#include "lesson.hpp"
#include "note_key.hpp"
#include "options.hpp"
#include "socklab/capture/packet.hpp"
#include "socklab/capture/raw_packet.hpp"
#include "socklab/capture/record.hpp"
#include "socklab/lab/lab.hpp"
#include "socklab/net.hpp"

namespace socklab::capture {
class LiveCapture;
}
namespace socklab::lab {
class LabCapture;
}

namespace socklab::demo {

using net::Side;

// A step of the lesson failed in a way the lesson did not plan for (a socket
// error, a peer that never answered). The demo prints the message and exits 1.
// A lib error is kept as it came (what() is its English message), so that the
// report says it in the lesson's language (failure_text, error_text.hpp); any
// other text is the lesson's own note, already in that language.
class DemoFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  explicit DemoFailure(net::Error e) : std::runtime_error(e.message()), error_(std::move(e)) {}
  [[nodiscard]] const std::optional<net::Error>& error() const noexcept { return error_; }

 private:
  std::optional<net::Error> error_;
};

// The flags ask for something this lesson cannot do (exit code 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A lab lesson without the privileges a lab needs: the text names them and the fix
// (lab::explain_missing_privilege); the demo exits with lab::exit_missing_privilege (5).
class LabUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Unwraps a lib result, or throws DemoFailure with the error
// ("connect 127.0.0.1:5000: Connection refused").
template <class T>
T must(net::Result<T>&& r) {
  if (!r) throw DemoFailure(std::move(r.error()));
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

// What the lesson captures, when --capture asks for the wire.
struct CaptureSpec {
  enum class Kind : std::uint8_t { port, lab };
  Kind kind = Kind::port;
  net::Endpoint server{};                   // port: the server's endpoint (lo for a loopback one, else any)
  std::vector<lab::Lab::Place> places{};    // lab: every place to capture at ("A:eth0", "sw:A-eth0", ...)
  std::string filter{};                     // lab: a BPF filter (tcpdump syntax); empty: every frame
  std::optional<std::uint16_t> also_port{}; // port: a second port whose packets are the lesson's too

  // The traffic of one server port (capture_config_for): the loopback lessons.
  static CaptureSpec on_port(const net::Endpoint& server) { return {.kind = Kind::port, .server = server}; }
  // Every listed interface of a lab, each in its namespace, merged into one timeline.
  static CaptureSpec on_lab(std::vector<lab::Lab::Place> places, std::string filter = {}) {
    return {.kind = Kind::lab, .places = std::move(places), .filter = std::move(filter)};
  }
};

// A participant as its code sees it while it plays.
struct Actor {
  const std::string& name;        // "A", "router", "client"
  net::Trace trace;               // pass it in ConnectOptions/ListenOptions/UdpOptions
  const lab::Node* host;          // the lab host it runs on (its namespace entered), or null
};

// A participant of a lesson: its name, what it does, and where.
struct Part {
  std::string name;
  std::function<void(Actor&)> play;
  const lab::Node* host = nullptr;  // a lab host: the thread enters its namespace first
};

class Stage {
 public:
  Stage(CommonOptions options, std::string demo, Lesson lesson, Lesson common);
  virtual ~Stage();
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  [[nodiscard]] const CommonOptions& options() const noexcept { return options_; }
  [[nodiscard]] const Lesson& lesson() const noexcept { return lesson_; }
  [[nodiscard]] const Lesson& common() const noexcept { return common_; }
  [[nodiscard]] const std::string& demo() const noexcept { return demo_; }
  // The lesson's note in the chosen language, placeholders filled.
  [[nodiscard]] std::string note(NoteKey key, const Values& values = {}) const;

  // Names the variant for the report ("merged") and the flags that select it.
  void set_variant(std::string name, std::string flags);
  [[nodiscard]] const std::string& variant() const noexcept { return variant_; }
  // The variant sends nothing over a network (it refuses --capture): no
  // "run again with --capture" hint.
  void set_no_wire() noexcept { no_wire_ = true; }
  [[nodiscard]] bool no_wire() const noexcept { return no_wire_; }

  // ---- participants
  // Plays the parts, each on its own thread (a lab host's inside its namespace);
  // returns when all are done, the capture stopped; rethrows the first failure. A
  // part that returns without end_capture() counts as done with it.
  void play(std::vector<Part> parts);
  // The trace recording a participant's calls under its name (made on first use).
  [[nodiscard]] net::Trace trace(std::string_view participant);
  // The participants in the order they were named: the ladder's columns.
  [[nodiscard]] std::vector<std::string> participants() const;
  // True when the participants have names of their own (a lab lesson), not the two sides.
  [[nodiscard]] bool named_participants() const;
  // The ladder's columns for named participants, in order (a switch or a router the
  // lesson shows among them: {"A", "sw", "B"}); default: the participants as named.
  void show_columns(std::vector<std::string> columns);
  [[nodiscard]] std::vector<std::string> columns() const;
  // Which column a packet's address belongs to: every lab interface's MAC and IPv4
  // address -> its node's name (capture::LadderOptions::column_of).
  [[nodiscard]] std::map<std::string, std::string> column_of() const;
  // How long one participant waits for another before giving up with an error:
  // generous, because it is never slept, only a bound on a condition.
  [[nodiscard]] std::chrono::milliseconds patience() const noexcept;

  // ---- the lab
  // The lesson's lab, made on first use (namespaces go when the stage does). Throws
  // LabUnavailable without CAP_NET_ADMIN and CAP_SYS_ADMIN.
  lab::Lab& lab();
  [[nodiscard]] bool has_lab() const noexcept { return lab_.has_value(); }

  // ---- observing (shown in the participant's column)
  // A TCP state the demo read, as a "state" event with this note.
  void record_state(std::string_view participant, net::TcpState state, NoteKey note, const Values& values = {});
  // Any observation, as a "note" event (args: the row's label).
  void record_note(std::string_view participant, std::string args, NoteKey note, const Values& values = {});
  // Attaches the lesson's note to the participant's most recent call named `call`.
  void explain(std::string_view participant, std::string_view call, NoteKey note, const Values& values = {});
  // The same with a text already made (a note of common.md, say).
  void explain_text(std::string_view participant, std::string_view call, std::string text);
  // Notes for the packets, decided once they are decoded (by phase, flags, ...).
  void explain_packets(std::function<std::optional<std::string>(const capture::PacketRecord&)> notes);
  // A flood of similar packets (hundreds of forged SYNs) drawn short, after play():
  // `group` names the flood a packet belongs to (nullopt: none); of each, the ladder
  // and the page draw the first `shown` packets and the last, whose note can say how
  // many were left out (left_out_before). The JSON, the capture file and the counts
  // keep every packet.
  void fold_packets(const std::function<std::optional<std::string>(const capture::PacketRecord&)>& group,
                    std::size_t shown);
  [[nodiscard]] bool drawn(const capture::PacketRecord& p) const;
  // How many packets of p's group were left out before p (0 when none, or not folded).
  [[nodiscard]] std::size_t left_out_before(const capture::PacketRecord& p) const;

  // ---- the capture
  // Arms the capture the lesson chose (only with --capture; once). True when it runs.
  bool capture(const CaptureSpec& spec);
  [[nodiscard]] bool capturing() const noexcept { return captured_; }
  // Called by each participant when every packet its part of the lesson talks
  // about has been sent: once all participants playing have called it, the
  // capture stops (after draining the kernel's queue). Blocks until then, so a
  // participant closes its sockets only after the capture ended. Idempotent.
  void end_capture();
  // A lab capture only: waits until the capture at `place` ("B:eth0") got a frame that
  // satisfies `match`, for a frame the lesson reports at a place no socket of it reads
  // (a copy a hub floods to B). False after `timeout`, or without a lab capture.
  bool wait_for_frame(std::string_view place, std::function<bool(const capture::RawPacket&)> match,
                      std::chrono::milliseconds timeout);
  // Decoded packets (relative sequence numbers), after play(); empty without capture.
  [[nodiscard]] const std::vector<capture::PacketRecord>& packets() const noexcept { return packets_; }
  // A lab capture's places where packet n (PacketRecord::n) was seen, in time order;
  // empty for a port capture.
  [[nodiscard]] const std::vector<std::string>& places_of(const capture::PacketRecord& p) const;
  // The same packets as captured (bytes and all), kept for a capture file or an
  // --html page, or when a lesson asked with keep_raw_packets(); else empty.
  [[nodiscard]] const std::vector<capture::RawPacket>& raw_packets() const noexcept { return raw_packets_; }
  [[nodiscard]] capture::LinkType capture_link() const noexcept { return capture_link_; }
  // Where the capture runs: "lo", "any", or "lab" (every place of the lab).
  [[nodiscard]] const std::string& capture_interface() const noexcept { return capture_interface_; }
  // Keep the captured bytes (raw_packets()) whatever the flags: a lesson that shows them.
  void keep_raw_packets() noexcept { keep_raw_ = true; }
  // The calls recorded up to the end of the capture (or all, without one), by start time.
  [[nodiscard]] std::vector<net::CallEvent> calls() const;
  // With -w: writes the packets held with a comment each (pcapng), once every note
  // is known; a lab capture's pcap too. A failure becomes capture_problem().
  void write_capture_file();

  // ---- findings
  [[nodiscard]] Findings& findings() noexcept { return findings_; }
  [[nodiscard]] const Findings& findings() const noexcept { return findings_; }
  Verdict& verdict(std::string name, nlohmann::json expected, nlohmann::json observed, NoteKey text,
                   const Values& values = {});
  Verdict& verdict(std::string name, nlohmann::json expected, nlohmann::json observed, bool ok,
                   NoteKey text, const Values& values = {});
  void why(NoteKey reason, const Values& values = {});
  void fact(std::string name, nlohmann::json value, NoteKey text, const Values& values = {});
  [[nodiscard]] const std::vector<Verdict>& verdicts() const noexcept { return findings_.verdicts(); }
  [[nodiscard]] const std::vector<Fact>& facts() const noexcept { return findings_.facts(); }
  using SummaryLine = Findings::SummaryLine;
  [[nodiscard]] const std::vector<SummaryLine>& summary_order() const noexcept { return findings_.summary_order(); }

  // ---- for the report
  [[nodiscard]] std::optional<std::string> call_note(const net::CallEvent& call) const;
  [[nodiscard]] std::optional<std::string> packet_note(const capture::PacketRecord& p) const;
  // Why capturing failed (asked for, but not possible), with the fix.
  [[nodiscard]] const std::optional<std::string>& capture_problem() const noexcept { return capture_problem_; }
  [[nodiscard]] bool capture_not_permitted() const noexcept { return capture_not_permitted_; }
  [[nodiscard]] const nlohmann::json& capture_stats() const noexcept { return capture_stats_; }
  // The server's port, for the two-column ladder (Session knows it; a lab lesson has none).
  [[nodiscard]] virtual std::optional<std::uint16_t> server_port() const { return std::nullopt; }

  // What a capture running elsewhere hands this stage when it ends (a class
  // server's one capture, cut to one client's connection: classroom.hpp).
  struct SharedPackets {
    capture::LinkType link = capture::LinkType::ethernet;
    std::vector<capture::RawPacket> raw;
    nlohmann::json stats;
  };

 protected:
  // A participant known to the stage. The two sides of a loopback lesson record
  // with their Side and no participant name (their JSON stays as it was).
  struct Member {
    std::string name;
    Side side = Side::none;
    bool named = true;
  };
  // The participant playing `side` (Session's "client" and "server"), made on first use.
  [[nodiscard]] const Member& side_member(Side side);
  [[nodiscard]] net::Trace trace_of(const Member& m) noexcept;
  [[nodiscard]] const Member& member(std::string_view name);
  // A state or note event of our own, with the text the timeline shows beside it.
  void record_event(std::string_view participant, std::string call, std::string args, std::string note_text);
  void record_event(const Member& m, std::string call, std::string args, std::string note_text);
  // Runs the parts, `done(name)` after each: the calling thread plays the last one.
  void play_parts(const std::vector<Part>& parts);
  virtual void part_done(const std::string& name);
  void stop_capture();
  // The milliseconds mapping the capture took, for the note that says so; nullopt: not armed.
  std::optional<double> arm(const CaptureSpec& spec);
  // The packets come from a capture that outlives this stage: arm() only marks
  // it captured on `interface`, and the end of the capture calls `take`.
  void use_shared_capture(std::string interface, std::function<SharedPackets()> take);
  // A port capture shows only the packets `own` accepts (decided when it stops):
  // a client's own connections, when classmates on the same machine use the port too.
  void keep_own_packets(std::function<bool(const capture::DecodedPacket&)> own);

  CommonOptions options_;
  std::string demo_;
  Lesson lesson_;
  Lesson common_;
  Findings findings_;
  std::string variant_ = "default";
  std::string variant_flags_;
  bool no_wire_ = false;
  net::CallRecorder recorder_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;

 private:
  std::deque<Member> members_;  // a deque: traces hold views of the names
  std::vector<std::string> columns_;
  std::optional<lab::Lab> lab_;
  int running_ = 0;
  std::map<std::string, bool, std::less<>> capture_done_;
  bool capture_stopped_ = false;
  std::int64_t end_ns_ = 0;  // 0: the lesson is still running

  // Deleted in stage.cpp, where the captures are complete: this header needs no libpcap.
  struct CaptureDeleter {
    void operator()(capture::LiveCapture* c) const noexcept;
    void operator()(lab::LabCapture* c) const noexcept;
  };
  std::unique_ptr<capture::LiveCapture, CaptureDeleter> capture_;
  std::unique_ptr<lab::LabCapture, CaptureDeleter> lab_capture_;
  bool captured_ = false;
  bool keep_raw_ = false;
  std::optional<std::string> capture_problem_;
  bool capture_not_permitted_ = false;
  nlohmann::json capture_stats_;
  std::vector<capture::PacketRecord> packets_;
  std::vector<std::vector<std::string>> places_;  // by packet index, lab captures only
  std::vector<capture::RawPacket> raw_packets_;
  capture::LinkType capture_link_ = capture::LinkType::ethernet;
  std::string capture_interface_;
  bool capture_file_written_ = false;
  std::function<SharedPackets()> shared_take_;
  std::function<bool(const capture::DecodedPacket&)> own_packet_;
  std::string shared_interface_;

  std::map<std::pair<std::string, std::int64_t>, std::string> call_notes_;  // by (participant, start time)
  std::vector<bool> hidden_;            // by packet index: folded away (fold_packets)
  std::vector<std::size_t> left_out_;   // by packet index: how many of its flood were left out before it
  std::function<std::optional<std::string>(const capture::PacketRecord&)> packet_notes_;

  [[nodiscard]] std::string who(const net::CallEvent& e) const;
  // Attaches `text` to the participant's most recent call named `call`; false if none.
  bool explain_latest(std::string_view participant, std::string_view call, std::string text);
};

}  // namespace socklab::demo
