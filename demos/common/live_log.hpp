// LiveLog: the output of a program that runs until it is stopped (demo-chat's
// server and client) and prints as things happen, instead of one report at the
// end: a text line per event (the seconds since start in front, for a server's
// log), or a JSON object per event ("kind" and "t" added), in the run's language.
//
// Every line of the program goes through one LiveLog: the main loop and the
// capture thread both print, so lines are whole and in the order they were made.
//
// A server's log never blocks (never_block): its lines go into a queue of at most
// kLogQueueBytes that a writer thread empties into stdout/stderr, so a paused
// terminal (Ctrl-S) or a pipe nobody reads stops the log, never the serving. A
// line that does not fit is dropped and counted; the writer reports how many were
// lost at the place they were lost (common note "log_dropped"). Start it with
// SIGINT/SIGTERM already blocked: its thread must not take them.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "lesson.hpp"
#include "socklab/net/error.hpp"

namespace socklab::demo {

// A system call of the program's own plumbing failed (poll, eventfd, signalfd):
// the program says so in the lesson's language (error_text).
struct SystemFailure : std::runtime_error {
  net::Error error;
  SystemFailure(int err, std::string call);
};

// Log lines (bytes) that may wait for a blocked standard output; more are dropped and counted.
inline constexpr std::size_t kLogQueueBytes = 1024 * 1024;

class LiveLog {
 public:
  struct Style {
    bool json = false;
    bool timestamps = false;   // text lines start with the seconds since start (a server's log)
    bool never_block = false;  // queue the lines for a writer thread (see above)
  };
  LiveLog(Style style, const Lesson& lesson, const Lesson& common, Lang lang);
  LiveLog(const LiveLog&) = delete;
  LiveLog& operator=(const LiveLog&) = delete;
  ~LiveLog();

  [[nodiscard]] bool json_mode() const noexcept { return style_.json; }
  [[nodiscard]] std::string note(NoteKey key, const Values& values = {}) const { return lesson_.note(key, values); }
  [[nodiscard]] const Lesson& common() const noexcept { return common_; }
  // A lib error ("connect 127.0.0.1:5000: Connection refused") in the run's language.
  [[nodiscard]] std::string error(const net::Error& e) const;
  // Seconds since start on CLOCK_REALTIME, the clock of packet timestamps, so
  // a packet's line can carry the time it was captured rather than printed.
  [[nodiscard]] double seconds_since_start(std::optional<std::int64_t> at_ns = {}) const;

  // A JSON event ("kind" and "t" are added), or a text line with the time in
  // front (microseconds, as tcpdump: on loopback a whole exchange fits in one ms).
  // `at_ns`: when it happened, if not now (a packet's capture time).
  void event(std::string_view kind, nlohmann::json fields, const std::string& text,
             std::optional<std::int64_t> at_ns = {});
  // A line for people only (stderr), e.g. how to start the clients.
  void tell(const std::string& text);
  // Title and goal (unless `no_lesson`), or the "lesson" JSON object of `demo` playing `role`.
  void lesson_header(std::string_view demo, std::string_view role, bool capturing, bool no_lesson);

  // Log lines lost to a blocked output so far.
  [[nodiscard]] std::uint64_t dropped() const;
  // Serving is over: from now on lines wait for room instead of being dropped
  // (the summary must not be lost).
  void stop_dropping();
  // Waits until every queued line is written. A stop signal on `signal_fd`
  // meanwhile (a second Ctrl-C, with the output still blocked) gives up: false.
  bool drain(int signal_fd);

 private:
  struct Pending {
    int fd = 1;
    std::string text;
    std::uint64_t dropped = 0;  // > 0: not a line, the report of that many lines lost here
  };

  [[nodiscard]] std::string make_line(std::string_view kind, nlohmann::json fields, const std::string& text,
                                      std::optional<std::int64_t> at_ns) const;
  [[nodiscard]] std::string wrapped(std::string_view text, std::string_view first) const;
  void put(int fd, std::string text);
  void write_queued();  // the writer thread: the only place the output may block

  Style style_;
  const Lesson& lesson_;
  const Lesson& common_;
  Lang lang_;
  std::size_t width_;
  std::int64_t start_ns_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t dropped_total_ = 0;
  bool unbounded_ = false;
  bool writing_ = false;
  bool stopping_ = false;
  std::array<bool, 2> broken_{};  // stdout, stderr: a write failed for good
  int idle_fd_ = -1;              // the writer counts up whenever the queue empties
  std::thread writer_;
};

}  // namespace socklab::demo
