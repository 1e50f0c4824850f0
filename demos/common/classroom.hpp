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
// A UDP lesson's class (Classroom(..., udp = true)): one UDP socket for the
// class and a TCP listener on the same port number, both with SO_REUSEADDR.
// (A UDP lesson about one socket's own buffer, demo-udp --loss and --max, is a
// TCP class instead, each run with a UDP socket of its own: give_students_ports.)
// UDP has no accept(): a run's student is a sender's ADDR:PORT. The class's
// datagrams stay in the one socket's queue, in the order they came, and the
// runs take turns at its head: a thread of the class peeks at the next
// datagram's sender (MSG_PEEK, which leaves it queued), makes a new sender the
// student of the run waiting in Session::bind_udp()'s first recv_from(), and
// lets that sender's run read it, with the run's own buffer (so a truncation
// is the kernel's) and its own trace; answers go out from the class socket,
// as the classic UDP server's do. A run holds its student until it ends: a
// datagram from that ADDR:PORT after the run's last read waits at the head
// until then, and then starts a new run (a classmate on the same machine who
// got the port of a student who left comes after all that student's datagrams
// in the queue, and so never into their run). A datagram at the head waits for
// its run to read it, so the class moves at the pace of its slowest reader.
// A student's TCP connection comes from the same port number as their
// datagrams (TCP's ports and UDP's are separate sets: demo-udp's client picks
// a number free in both): it goes to the run of the datagrams from that
// ADDR:PORT, and so do the capture's packets; of the datagrams, those up to the
// last the run read (SO_TIMESTAMPNS gives the time the capture gives the packet).
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
#include <utility>
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

// One student of a UDP class, for the class and its run (Session::bind_udp).
struct UdpStudent {
  net::Endpoint peer;
  std::string key;
  net::UdpSocket socket;  // the class socket, shared with the run's trace
  bool head = false;      // the class socket's next datagram is theirs: their run reads it
  std::int64_t head_ts = 0;  // that datagram's arrival (SO_TIMESTAMPNS, as the capture's packet times)
  std::int64_t last_ts = 0;  // the latest arrival of the datagrams their run read
};

class Classroom {
 public:
  Classroom(CommonOptions options, std::string demo, Lesson lesson, Lesson common, ReportStyle style, bool udp = false);
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

  // A connection the class's accepting thread took (UDP classes and two-connection
  // variants), with the accept() call it recorded (the run that takes it shows
  // the call; the stream has no trace yet).
  struct Handed {
    net::TcpListener::Accepted accepted;
    std::vector<net::CallEvent> calls;
  };

  // ---- a UDP lesson's class (see the top): for Session::bind_udp() and ServerUdp
  [[nodiscard]] bool serves_udp() const noexcept { return udp_; }
  [[nodiscard]] std::vector<net::CallEvent> udp_setup_calls() const { return udp_setup_calls_.snapshot(); }
  [[nodiscard]] net::Result<net::Endpoint> udp_endpoint() const { return udp_socket_.local_endpoint(); }
  // Waits for the next new sender (the class lets one run at a time wait here);
  // nullptr when the class ended first. Their run's calls go to `trace`.
  std::shared_ptr<UdpStudent> next_udp_student(net::Trace trace);
  // The student's next datagram, read from the class socket once it is at the
  // head of its queue; errc::timed_out after `timeout`. Throws when the class ends first.
  net::Result<net::UdpSocket::Datagram> udp_recv(UdpStudent& student, std::span<std::byte> buf,
                                                 std::optional<std::chrono::milliseconds> timeout);
  // The run is over: a later datagram from their ADDR:PORT starts a new run.
  void udp_release(UdpStudent& student);
  // The TCP connection from `student`'s ADDR:PORT (accepted whenever it came);
  // nullopt after `patience`. Throws when the class ends first.
  std::optional<Handed> take_connection(const net::Endpoint& student, std::chrono::milliseconds patience);
  // ---- a lesson about one socket's own queue (demo-backlog's accept queue,
  // demo-udp --loss's receive buffer, --max's room for one largest datagram):
  // classmates must not share it, so each student's run gets a socket of its own,
  // TCP or UDP, on a port of the range after the class port (kStudentPorts of
  // them, fewer near 65535), which the run tells its student over the connection
  // on the class port.
  static constexpr std::uint16_t kStudentPorts = 256;
  // Before run(): the class's capture takes that range's packets too (TCP and UDP).
  void give_students_ports() noexcept { student_ports_ = true; }
  // The range, first and last port (last < first: none).
  [[nodiscard]] std::pair<std::uint16_t, std::uint16_t> student_ports() const noexcept;
  // A listener (`opts`, SO_REUSEADDR added: earlier runs on its port leave
  // TIME_WAIT behind) on the class's address and the next port of the range that
  // no run holds and no other program uses (round robin, so a port comes back only
  // after the whole range: an earlier run's late packets never reach a later one's
  // ladder). From then on the port's TCP packets are kept for take_port_packets();
  // nullopt when no port of the range is free.
  std::optional<net::TcpListener> student_listener(net::ListenOptions opts);
  // The same for a UDP socket (`opts` as given): the port's UDP packets are kept.
  std::optional<net::UdpSocket> student_udp(net::UdpOptions opts);
  // The packets of such a port so far (as take_packets).
  Stage::SharedPackets take_port_packets(std::uint16_t port);
  // The run is over (its socket closed): the port goes back to the range, and
  // its later packets are shown to nobody.
  void return_port(std::uint16_t port);
  // Several runs' packets (a run's own port and its connection on the class port), in time order.
  [[nodiscard]] Stage::SharedPackets merged(std::vector<Stage::SharedPackets> parts) const;
  // A run's packets as its Session shows them: in time order, counted.
  [[nodiscard]] Stage::SharedPackets run_packets(std::vector<capture::RawPacket> raw) const;
  // ---- a class whose students make two connections each (see the top)
  // Before run(): accept every connection on the dispatcher's thread.
  void dispatch_second_connections() noexcept { dispatching_ = true; }
  [[nodiscard]] bool dispatches() const noexcept { return dispatching_; }
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
    std::size_t number = 0;  // the student's number in the class's output (runs in the order they ended)
    std::string client;
    std::vector<Verdict> verdicts;
    std::optional<std::string> failure;
  };
  void serve_one(const std::function<void(Session&)>& lesson);
  void route(std::int64_t ts_ns, std::uint32_t wire_len, std::vector<std::uint8_t> bytes);
  void route_to_student_port(const capture::DecodedPacket& d, capture::RawPacket packet);
  void print_summary(bool final);
  void dispatch_datagrams();
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
  std::map<std::string, std::vector<capture::RawPacket>> datagrams_;  // a UDP class's datagrams in, the same way
  std::map<std::string, bool> served_;                              // their runs took their packets
  bool student_ports_ = false;                                      // give_students_ports()
  struct HeldPort {
    capture::Proto proto;                   // the run's socket's: another program's packets on that number are not its
    std::vector<capture::RawPacket> packets;
  };
  std::map<std::uint16_t, HeldPort> port_packets_;                  // by a run's own port (held by it)
  // The next free port of the range that `bind` takes (see student_listener).
  template <typename Socket>
  std::optional<Socket> take_student_port(capture::Proto proto, const std::function<net::Result<Socket>(const net::Endpoint&)>& bind);
  std::size_t next_student_port_ = 0;                               // where the round robin goes on

  std::mutex mutex_;  // guards the run state and the output below
  std::condition_variable changed_;
  bool waiting_ = false;           // a run waits in accept()
  bool stopping_ = false;          // SIGINT/SIGTERM came
  bool announced_ = false;
  std::exception_ptr no_student_;  // a run ended before it had a student: why
  std::size_t running_ = 0;
  std::vector<ClientRun> runs_;    // the finished runs, in the order they ended

  // A UDP class (guarded by mutex_ too).
  bool udp_ = false;
  net::CallRecorder udp_setup_calls_;
  net::UdpSocket udp_socket_;
  int udp_wake_ = -1;               // an eventfd: the datagrams thread's poll() ends with the class
  bool udp_wanted_ = false;         // a run waits for its student
  bool udp_closed_ = false;         // no run will take another student
  bool udp_done_ = false;           // every run has ended
  std::shared_ptr<UdpStudent> udp_offer_;
  std::map<std::string, std::shared_ptr<UdpStudent>> udp_students_;  // by "ADDR|PORT"
  std::map<std::string, Handed> parked_;  // connections whose run has not taken them yet, by "ADDR|PORT"
  // One thread accepts every connection (UDP classes, and two connections per
  // student: dispatch_second_connections): guarded by mutex_.
  bool dispatching_ = false;
  bool dispatch_ended_ = false;                              // the listener was shut down (or failed)
  std::exception_ptr dispatch_error_;                        // why accept() failed, if not shut down
  std::vector<Handed> newcomers_;                            // first connections not yet taken
  std::map<std::string, std::optional<Handed>> expected_;    // second connections, by "ADDR|PORT"
};

}  // namespace socklab::demo
