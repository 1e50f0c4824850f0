// Classroom: a lesson's --role server that holds a class. One listener (bound
// once, with SO_REUSEADDR, so a restarted server does not wait out its own
// TIME_WAIT) and one capture serve every student; each student's run is a
// Session of its own on its own thread, so several students are served at once.
// One run at a time waits in accept(); once it has its student the next run
// starts waiting. Each run's report (its ladder cut to that student's
// connection, its verdicts) is printed as it ends, headed by the student's
// address; at the end (Ctrl-C, or --serve N students) and every --summary-every
// N students, a class summary counts who observed each lesson point.
//
// The lesson code is the same as for one client: Session::listen() hands out
// the class's listener, Session::accept() takes the next student.
//
// A variant whose client makes two connections (Demo::serve_classes'
// `two_connections`) needs its student's second connection, while twenty
// students on one machine share one address and connect at once. Its class
// accepts every connection on one thread (the dispatcher), and the run gets
// its student's second connection by the source port the client announced on
// the first (Session::expect_second_connection): a client binds that socket
// before it says so, and connects it only after the server has answered on
// the first connection, which the run does only once the port is registered.
// So at accept() a registered address and port is a run's second connection,
// anything else a new student's first. A NAT between a student and the server
// changes ports: the run sees the announced first port differ and says so.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "findings.hpp"
#include "lesson.hpp"
#include "options.hpp"
#include "report.hpp"
#include "session.hpp"

namespace socklab::capture {
class LiveCapture;
}

namespace socklab::demo {

class Classroom {
 public:
  Classroom(CommonOptions options, std::string demo, Lesson lesson, Lesson common, ReportStyle style);
  ~Classroom();
  Classroom(const Classroom&) = delete;
  Classroom& operator=(const Classroom&) = delete;

  // Serves students with `lesson` until --serve N were served or SIGINT/SIGTERM
  // comes; prints the class summary; returns the exit code (ExitCode).
  int run(const std::function<void(Session&)>& lesson);

  // ---- for the Session of each student's run
  [[nodiscard]] net::TcpListener& listener() noexcept { return listener_; }
  [[nodiscard]] bool capturing() const noexcept;
  [[nodiscard]] const std::string& capture_interface() const noexcept { return interface_; }
  // The packets of the connection(s) from `client`, every packet the kernel had
  // queued so far included; later ones are not kept.
  Stage::SharedPackets take_packets(const net::Endpoint& client);
  // The run waiting in accept() has its student: the next run may wait.
  void taken(const net::Endpoint& client);
  // True for the first run to announce: it prints the command students run.
  [[nodiscard]] bool first_announce();
  // The calls that set the listener up (socket, SO_REUSEADDR, bind, listen), made
  // once for the class: each student's ladder shows them, at the time they were made.
  [[nodiscard]] std::vector<net::CallEvent> setup_calls() const { return setup_calls_.snapshot(); }

  // ---- a class whose students make two connections each (see the top)
  // Before run(): accept every connection on the dispatcher's thread.
  void dispatch_second_connections() noexcept { dispatching_ = true; }
  [[nodiscard]] bool dispatches() const noexcept { return dispatching_; }
  // A connection the dispatcher accepted, with the accept() call it recorded
  // (the run that takes it shows the call; the stream has no trace yet).
  struct Handed {
    net::TcpListener::Accepted accepted;
    std::vector<net::CallEvent> calls;
  };
  // The next connection nobody expects: a new student's. Throws when the class ends first.
  Handed next_student();
  // The connection from `from` is a run's second one: kept for second_connection().
  // False when another run already expects it.
  bool expect(const net::Endpoint& from);
  // That connection once it came; nullopt after `patience`. Throws when the class ends first.
  std::optional<Handed> second_connection(const net::Endpoint& from, std::chrono::milliseconds patience);
  // The packets of several connections of one student, in time order.
  Stage::SharedPackets take_packets(const std::vector<net::Endpoint>& connections);

 private:
  struct ClientRun {
    std::string client;
    std::vector<Verdict> verdicts;
    std::optional<std::string> failure;
  };
  void serve_one(const std::function<void(Session&)>& lesson);
  void route(std::int64_t ts_ns, std::uint32_t wire_len, std::vector<std::uint8_t> bytes);
  void print_summary(bool final);
  void dispatch();

  CommonOptions options_;
  std::string demo_;
  Lesson lesson_;
  Lesson common_;
  ReportStyle style_;
  net::CallRecorder setup_calls_;
  net::TcpListener listener_;

  // Deleted in classroom.cpp, where LiveCapture is complete (a build without libpcap has none).
  struct CaptureDeleter {
    void operator()(capture::LiveCapture* c) const noexcept;
  };
  std::unique_ptr<capture::LiveCapture, CaptureDeleter> capture_;
  capture::LinkType link_ = capture::LinkType::ethernet;
  std::string interface_;
  std::mutex packets_mutex_;
  std::map<std::string, std::vector<capture::RawPacket>> packets_;  // by the student's "ADDR:PORT"
  std::map<std::string, bool> served_;                              // their runs took their packets

  std::mutex mutex_;  // guards the run state and the output below
  std::condition_variable changed_;
  bool waiting_ = false;           // a run waits in accept()
  bool stopping_ = false;          // SIGINT/SIGTERM came
  bool announced_ = false;
  std::exception_ptr no_student_;  // a run ended before it had a student: why
  std::size_t running_ = 0;
  std::vector<ClientRun> runs_;    // the finished runs, in the order they ended

  // Two connections per student (dispatch_second_connections): guarded by mutex_.
  bool dispatching_ = false;
  bool dispatch_ended_ = false;                              // the listener was shut down (or failed)
  std::exception_ptr dispatch_error_;                        // why accept() failed, if not shut down
  std::vector<Handed> newcomers_;                            // first connections not yet taken
  std::map<std::string, std::optional<Handed>> expected_;    // second connections, by "ADDR|PORT"
};

}  // namespace socklab::demo
