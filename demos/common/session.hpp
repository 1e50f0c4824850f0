// Session: what a demo's lesson function works with: the stage (stage.hpp) of a
// lesson, with the two sides of the loopback lessons (client and server) as its
// two named participants. It plays one or both sides, records their calls,
// captures the server port's packets, and collects the findings for the report.
// A lab lesson uses the same Session as a Stage of N participants (stage.hpp).
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
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "lesson.hpp"
#include "note_key.hpp"
#include "options.hpp"
#include "stage.hpp"
#include "socklab/net.hpp"

namespace socklab::demo {

class Classroom;
class Session;
struct UdpStudent;

// A lesson server's UDP socket (Session::bind_udp). For one client: its own
// socket on --listen/--port. Serving a class (classroom.hpp): the class's port
// as one run sees it: the first recv_from() waits for the next student's first
// datagram and makes the run theirs; after it, only that student's datagrams
// come, and send_to() answers from the class's address and port.
class ServerUdp {
 public:
  ServerUdp() = default;
  explicit ServerUdp(net::UdpSocket own) : own_(std::move(own)) {}
  ServerUdp(Session& session, Classroom& classroom) : session_(&session), classroom_(&classroom) {}
  ServerUdp(ServerUdp&&) noexcept = default;
  ServerUdp& operator=(ServerUdp&&) noexcept = default;
  ~ServerUdp();

  net::Result<net::UdpSocket::Datagram> recv_from(std::span<std::byte> buf,
                                                  std::optional<std::chrono::milliseconds> timeout = {});
  net::Result<std::size_t> send_to(std::span<const std::byte> data, const net::Endpoint& to);
  [[nodiscard]] net::Result<net::Endpoint> local_endpoint() const;
  // SO_RCVBUF and the kernel's drop count of the socket the datagrams come to
  // (serving a class: the class's).
  [[nodiscard]] net::Result<int> recv_buffer() const;
  [[nodiscard]] net::Result<std::uint32_t> drops() const;

 private:
  [[nodiscard]] const net::UdpSocket& socket() const;
  net::UdpSocket own_;
  Session* session_ = nullptr;  // serving a class
  Classroom* classroom_ = nullptr;
  std::shared_ptr<UdpStudent> student_;
};

class Session : public Stage {
 public:
  Session(CommonOptions options, std::string demo, Lesson lesson, Lesson common);
  // One client's run of a class server (classroom.hpp): listen() hands out the
  // class's listener, accept() takes the next student, the capture is the class's.
  Session(CommonOptions options, std::string demo, Lesson lesson, Lesson common, Classroom& classroom);
  ~Session() override;

  using Stage::explain;
  using Stage::record_note;
  using Stage::record_state;
  using Stage::trace;

  // ---- the two sides
  // Does this process play `side`? (both by default; one with --role)
  [[nodiscard]] bool plays(Side side) const noexcept;
  // Runs the server and the client function, each on its own thread (or only
  // the one --role asks for). Returns when both are done; rethrows the first
  // failure. A side that returns without end_capture() counts as done with it.
  void run(const std::function<void()>& server, const std::function<void()>& client);
  // The trace that records a side's calls: pass it in ConnectOptions/ListenOptions.
  [[nodiscard]] net::Trace trace(Side side) noexcept;
  // For accept(): none with --role server (students connect when they are
  // ready), else patience().
  [[nodiscard]] std::optional<std::chrono::milliseconds> accept_patience() const noexcept;

  // ---- server side
  // bind + listen on --listen/--port (127.0.0.1 or ::1 by default) with the
  // server's trace, then announce(). A port in use fails with the remedy.
  // Serving a class: a handle on the class's listener (bound once, with
  // SO_REUSEADDR), whose accept() takes from the queue every student shares.
  net::TcpListener listen(net::ListenOptions opts = {});
  // bind + listen without announce(): for a lesson that reads the listener
  // before any client may connect; call announce() itself afterwards.
  net::TcpListener listen_unannounced(net::ListenOptions opts = {});
  // accept() of the lesson's connection: with --role server it waits for the
  // next student as long as it takes (serving a class: the next one in line,
  // and this run becomes that student's); else for patience().
  net::TcpListener::Accepted accept(net::TcpListener& listener);
  // A UDP socket on --listen/--port with the server's trace (a port in use fails
  // with the remedy); serving a class, the class's port as this run's student
  // sees it (ServerUdp). Call announce() afterwards.
  ServerUdp bind_udp(net::UdpOptions opts = {});
  // bind_udp() and a TCP listener on the same port number (server_setup.hpp's
  // bind_udp_and_tcp); `udp_bound` runs after the UDP bind. Serving a class:
  // the class's two; accept() then takes this run's student's connection, the
  // one from the port number of their datagrams.
  std::pair<ServerUdp, net::TcpListener> bind_udp_and_tcp(net::UdpOptions udp_options, const std::function<void()>& udp_bound);
  // Serving a class: the student this run is for, once accept() took them.
  [[nodiscard]] std::optional<net::Endpoint> class_client() const;
  // Serving a class whose lesson is one socket's own queue (the demo calls
  // Demo::give_students_ports()): after accept() took the student, a listener of
  // this run's own on the class's address and a port of the range after the class
  // port (Classroom::student_listener), recorded with the server's trace; this
  // run's capture is then that port's packets, not the connection on the class
  // port. nullopt: no port of the range is free.
  std::optional<net::TcpListener> student_listener(net::ListenOptions opts);
  // The same for a UDP socket of this run's own (Classroom::student_udp). With
  // `lesson_on_class_connection` the connection on the class port carries lesson
  // bytes too (demo-udp --loss), and the capture keeps its packets beside the port's.
  std::optional<ServerUdp> student_udp(net::UdpOptions opts, bool lesson_on_class_connection);
  [[nodiscard]] bool serves_class() const noexcept { return classroom_ != nullptr; }
  // A port bound but not listening: nobody accepts there and no other program
  // can take it, so a SYN to it is answered by RST. Announced like listen().
  net::Socket reserve_port();
  // The server's port is known: arm the capture on it (so the first SYN is
  // seen), release the client, and with --role server print how to start clients.
  void announce(const net::Endpoint& bound);
  // For a server that binds its own sockets (UDP): the message for a failed bind()
  // of --listen/--port, with the remedy (port in use, address not here, below 1024).
  [[nodiscard]] std::string explain_bind_failure(const net::Error& e) const;

  // ---- a lesson whose client makes two connections (serving a class: classroom.hpp)
  // Client, right after the first connection's connect(): with --role client (its
  // server may serve a class), binds the second connection's socket now and
  // announces both ports on `first` (kAnnouncementBytes: '!HH', the first's then
  // the second's); in one process it does nothing and returns nullopt.
  std::optional<net::TcpStream> announce_second_connection(net::TcpStream& first);
  // Client: the second connection, from the socket announce_second_connection() bound.
  net::TcpStream connect_second(std::optional<net::TcpStream> bound, const net::Endpoint& server);
  // Server, right after the first accept() and before it answers: serving a
  // class, reads the announcement and keeps the second connection for this run.
  void expect_second_connection(net::TcpStream& first);
  // Server: the second connection (serving a class, the one from the announced port).
  net::TcpListener::Accepted accept_second(net::TcpListener& listener);
  // The bytes the announcement took at the start of the first connection (0: none).
  [[nodiscard]] std::uint32_t announcement_bytes() const;
  static constexpr std::uint32_t kAnnouncementBytes = 4;

  // ---- client side
  // Where the server is: in one process, waits for announce(); with --role
  // client, --host and --port.
  [[nodiscard]] net::Endpoint server_endpoint();
  // The server's port once known (announced here, or --port for a lone client).
  [[nodiscard]] std::optional<std::uint16_t> server_port() const override;
  // --role client: the lesson's server is at `server`, not at --host/--port (a
  // class server that gives each student a listener of its own names its port
  // there). Call before run(): the capture is armed on it.
  void use_server(const net::Endpoint& server);
  // --role client of such a class server: connects to --host/--port (the
  // connect() recorded with the client's trace, the rest not: the plan is the
  // class's plumbing), reads the one JSON line the student's run sends there
  // first, the plan, and makes the port it names the lesson's server
  // (use_server). A server that says nothing, leaves, or sends something else
  // is said plainly (common notes class_plan_*).
  using LineReader = net::FrameReader<net::DelimiterCodec>;
  struct ClassPlan {
    net::TcpStream teacher;  // the connection on the class port
    LineReader reader;       // for the server's later lines (read_class_line)
    nlohmann::json plan;     // the line, an object with a "port" from 1 to 65535
  };
  // `lesson_on_connection`: the lesson goes on over that connection (demo-udp
  // --loss's bytes), so this run's capture takes the class port's packets too.
  ClassPlan join_class(bool lesson_on_connection = false);
  // The class server's next line on `teacher`, an object.
  nlohmann::json read_class_line(net::TcpStream& teacher, LineReader& reader);
  // A line of the class server the lesson cannot use: the failure that says so.
  [[nodiscard]] DemoFailure class_plan_refused(const nlohmann::json& line) const;

  // ---- observing, in a side's column
  void record_state(Side side, net::TcpState state, NoteKey note, const Values& values = {});
  void record_note(Side side, std::string args, NoteKey note, const Values& values = {});
  // The row label of a reading of a listener's accept queue ("accept queue 1/8"),
  // in the lesson's language.
  [[nodiscard]] std::string queue_label(const net::ListenQueue& q) const;
  // Attaches the lesson's note to the side's most recent call named `call`.
  void explain(Side side, std::string_view call, NoteKey note, const Values& values = {});

 private:
  void arm_capture(const net::Endpoint& server, std::optional<std::uint16_t> also_port = std::nullopt);
  [[nodiscard]] bool is_own_packet(const capture::DecodedPacket& d) const;
  void part_done(const std::string& name) override;
  friend class ServerUdp;
  // Serving a UDP class: this run's student came (their first datagram).
  void class_student_came(const net::Endpoint& student);

  std::optional<net::Endpoint> announced_;
  bool server_failed_ = false;
  Classroom* classroom_ = nullptr;
  std::optional<net::Endpoint> class_client_;
  std::optional<std::uint16_t> student_port_;  // student_listener()'s or student_udp()'s port
  bool class_connection_in_lesson_ = false;    // student_udp(..., true)
  std::optional<net::Endpoint> class_port_;    // --role client: the class port join_class() connected to
  std::optional<std::uint16_t> lesson_class_port_;  // join_class(true): its port, which the capture takes too
  std::optional<net::Endpoint> class_second_;     // the second connection's peer, once handed
  std::optional<net::Endpoint> expected_second_;  // where it comes from, as announced
  std::uint32_t announcement_bytes_ = 0;
  // Shows a connection the class's dispatcher accepted as this run's own.
  net::TcpListener::Accepted adopt(net::TcpListener::Accepted accepted, const std::vector<net::CallEvent>& calls);
};

}  // namespace socklab::demo
