// demo-udp — Lesson 4: UDP, datagrams without a connection.
//
// Default: the client sends "hello", "hai" and "hahaha" with three sendto()
// calls and the server's three recvfrom() calls return exactly those three
// datagrams, each with the sender's address; then the same three messages over
// TCP arrive glued. No handshake on the wire for UDP. Variants: --truncate (a
// datagram larger than the buffer: the rest is lost, MSG_TRUNC tells the real
// size), --loss (a full receive buffer drops datagrams; the kernel counts
// them; TCP delivers the same bytes whole), --unreachable (ICMP port
// unreachable, and ECONNREFUSED on the next recv()), --max (the largest
// datagram, and one byte more), --echo (the classic course's exchange: the
// server answers each datagram with sendto() to the address its recvfrom()
// returned, the client waits for each answer; it speaks with the course's
// Python peers, tests/interop/classic_udp_*.py).
//
// With --role server it serves a class: the default lesson, --truncate and
// --echo on one class socket; --loss and --max each student's run on a UDP
// socket of its own (see "a class of --loss and --max" below).
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "classroom.hpp"
#include "demo.hpp"
#include "error_text.hpp"
#include "report.hpp"

namespace {

using namespace socklab;
using capture::PacketRecord;
using capture::Phase;
using capture::Proto;
using demo::must;
using demo::Session;
using demo::Side;
using demo::bytes_of;
using demo::text_of;

constexpr std::array<std::string_view, 73> kNoteKeys{
    // the timeline
    "bind_udp", "listen_tcp", "bind_same_port", "tcp_same_port", "nodelay", "sendto", "recvfrom", "connect", "accept", "send", "server_queued", "recv_glued",
    "all_acked", "truncated_recv", "next_recv", "short_first_recv", "small_buffer", "sendto_more", "tcp_send_all", "tcp_recv_all",
    "drained", "port_closed", "udp_connect", "udp_send", "udp_recv_refused", "send_max", "send_too_big",
    "recv_max",
    // the summary
    "verdict_boundaries", "verdict_sender", "verdict_tcp_glued", "verdict_no_handshake", "fact_tcp_handshake",
    "verdict_truncated", "verdict_rest_lost", "verdict_rest_lost_reordered", "fact_reordered", "verdict_lost", "fact_arrived", "verdict_drops_counted",
    "verdict_kernel_counter", "why_counter_missing", "verdict_tcp_whole", "fact_rcvbuf", "verdict_send_ok",
    "verdict_refused", "verdict_icmp", "why_someone_listens", "verdict_max", "verdict_max_received", "verdict_one_more", "fact_limit_v4",
    "fact_limit_v6",
    "fact_max_wire", "why_no_fragments_seen", "word_none",
    "label_drained", "label_port_closed",
    // --echo
    "echo_reply", "echo_got_reply", "verdict_echo_answered", "verdict_echo_replies",
    // a class of --loss and --max: the student's own UDP socket, named over the class port
    "class_listen", "class_student", "class_plan", "class_bytes_here",
    // failures, in the run's language
    "fail_no_port", "fail_tcp_ended", "fail_not_acked", "fail_no_answer", "fail_unaccounted", "fail_no_port_pair",
    // bad usage, in the run's language
    "usage_unreachable_server"};
using Note = demo::Key<kNoteKeys>;

constexpr std::array<std::string_view, 3> kMessages{"hello", "hai", "hahaha"};
constexpr std::size_t kRecvSize = 1024;           // recvfrom(1024), as the classic course reads
constexpr std::size_t kSmallBuffer = 16;          // --truncate: the receiver's buffer
constexpr std::string_view kLong = "This datagram has 48 bytes; the buffer holds 16.";
constexpr std::string_view kNext = "next";
constexpr int kLossCount = 20;                    // --loss: datagrams sent
constexpr std::size_t kLossSize = 1000;           // --loss: bytes in each
constexpr int kLossRcvbuf = 4096;                 // --loss: SO_RCVBUF asked for (the kernel doubles it)
constexpr int kShownSends = 3;                    // --loss: sendto() calls shown before a summary


// The largest UDP payload: a 16-bit length field (65535) less the headers that
// count in it (IPv4: its 20-byte header and UDP's 8; IPv6 does not count its
// own 40-byte header, so only UDP's 8).
std::size_t max_payload(bool v6) { return v6 ? 65535 - 8 : 65535 - 20 - 8; }

// The server's UDP socket and a TCP listener on the same port number: UDP's
// ports and TCP's are two separate sets, so one number can serve both (and one
// capture filter sees both).
std::pair<demo::ServerUdp, net::TcpListener> bind_udp_and_tcp(Session& s, net::UdpOptions udp_options = {}) {
  auto both = s.bind_udp_and_tcp(udp_options, [&] { s.explain(Side::server, "bind", Note{"bind_udp"}); });
  s.explain(Side::server, "listen", Note{"listen_tcp"});
  return both;
}

demo::ServerUdp bind_udp(Session& s, net::UdpOptions options = {}) {
  auto udp = s.bind_udp(options);
  s.explain(Side::server, "bind", Note{"bind_udp"});
  return udp;
}

net::UdpSocket open_client(Session& s, const net::Endpoint& server) {
  return must(net::UdpSocket::open(server.family(), {.trace = s.trace(Side::client)}));
}

// A server that serves a class takes the student's TCP connection by the port
// number of their datagrams (UDP's ports and TCP's are separate sets, so one
// number can be both; classroom.hpp). With --role client the datagrams' socket
// is bound to a port that TCP has free too (a listener bound there for a moment
// says so), and the TCP connection comes from it. Alone, the port is the kernel's.
constexpr int kPortTries = 64;

net::UdpSocket open_client_for_tcp_too(Session& s, const net::Endpoint& server) {
  if (s.options().role != demo::Role::client) return open_client(s, server);
  const net::Endpoint any = server.family() == AF_INET6 ? net::Endpoint::any_v6() : net::Endpoint::any_v4();
  for (int i = 0; i < kPortTries; ++i) {
    auto udp = must(net::UdpSocket::bind(any));
    const std::uint16_t port = must(udp.local_endpoint()).port();
    // No SO_REUSEADDR: a port whose earlier connection waits out its TIME_WAIT
    // counts as taken (connecting from it to the same server would fail).
    if (!net::TcpListener::bind(any.with_port(port), {.backlog = 1})) continue;
    udp.set_trace(s.trace(Side::client));
    s.record_note(Side::client, fmt::format("bind :{}", port), Note{"bind_same_port"}, {{"port", std::to_string(port)}});
    return udp;
  }
  throw demo::DemoFailure(s.note(Note{"fail_no_port_pair"}, {{"tries", std::to_string(kPortTries)}}));
}

void wait_all_acked(Session& s, Side side, const net::TcpStream& conn) {
  if (!demo::wait_until_acknowledged(conn, s.patience())) {
    throw demo::DemoFailure(s.note(Note{"fail_not_acked"}));
  }
  s.record_note(side, "SIOCOUTQ 0", Note{"all_acked"});
}

// ---------------------------------------------------------------- default: boundaries kept

void datagrams(Session& s) {
  std::vector<std::string> received;
  std::vector<std::string> senders;
  nlohmann::json sender_ports = nlohmann::json::array();
  std::optional<std::uint16_t> client_port;
  std::optional<std::string> tcp_read;
  s.run(
      [&] {  // the server: three recvfrom(), then the same messages over TCP
        auto [udp, listener] = bind_udp_and_tcp(s);
        s.announce(must(udp.local_endpoint()));
        std::array<std::byte, kRecvSize> buf{};
        for (std::size_t i = 0; i < kMessages.size(); ++i) {
          const auto d = must(udp.recv_from(buf, s.accept_patience()));
          received.push_back(text_of(std::span(buf).first(d.size)));
          senders.push_back(d.from.to_string());
          sender_ports.push_back(d.from.port());
          s.explain(Side::server, "recvfrom", Note{"recvfrom"},
                    {{"bytes", std::to_string(d.size)}, {"from", d.from.to_string()}});
        }
        // Serving a class, the connection of this run's student: the one from their datagrams' port number.
        auto conn = s.accept(listener).stream;
        s.explain(Side::server, "accept", Note{"accept"});
        const int total = static_cast<int>(kMessages[0].size() + kMessages[1].size() + kMessages[2].size());
        const int queued = must(conn.wait_for_bytes(total, s.patience()));
        s.record_note(Side::server, fmt::format("SIOCINQ {}", queued), Note{"server_queued"},
                      {{"bytes", std::to_string(queued)}});
        const std::size_t n = must(conn.recv_some(buf));
        tcp_read = text_of(std::span(buf).first(n));
        s.explain(Side::server, "recv", Note{"recv_glued"}, {{"bytes", std::to_string(n)}});
        s.end_capture();
      },
      [&] {  // the client: three sendto(), no connection; then TCP
        const auto server = s.server_endpoint();
        auto udp = open_client_for_tcp_too(s, server);
        for (auto m : kMessages) {
          must(udp.send_to(bytes_of(m), server));
          s.explain(Side::client, "sendto", Note{"sendto"}, {{"bytes", std::to_string(m.size())}});
        }
        const net::Endpoint udp_at = must(udp.local_endpoint());  // alone: the kernel picked the port at the first sendto()
        client_port = udp_at.port();
        net::ConnectOptions how{.trace = s.trace(Side::client)};
        if (s.options().role == demo::Role::client) {
          // From the datagrams' port number, for a class server (open_client_for_tcp_too).
          how.bind = udp_at;
        }
        auto conn = must(net::TcpStream::connect(server, how));
        if (how.bind) s.explain(Side::client, "bind", Note{"tcp_same_port"}, {{"port", std::to_string(udp_at.port())}});
        s.explain(Side::client, "connect", Note{"connect"});
        must(conn.set_nodelay(true));
        s.explain(Side::client, "setsockopt", Note{"nodelay"});
        for (auto m : kMessages) {
          must(conn.send_all(m));
          s.explain(Side::client, "send", Note{"send"}, {{"bytes", std::to_string(m.size())}});
        }
        wait_all_acked(s, Side::client, conn);
        s.end_capture();
      });

  if (s.plays(Side::server)) {
    // Each recvfrom() one whole datagram. Their order is not UDP's promise: two
    // datagrams taken in by the kernel on two CPUs can reach the socket the other
    // way round (seen in a class), and then the run says so.
    const std::vector<std::string> sent(kMessages.begin(), kMessages.end());
    const bool whole = std::ranges::is_permutation(received, sent);
    s.verdict("datagrams_kept", sent, received, whole, Note{"verdict_boundaries"});
    if (whole && received != sent) {
      s.fact("arrival_order", received, Note{"fact_reordered"}, {{"order", demo::render_value(received)}});
    }
    if (client_port) {
      const std::vector<std::uint16_t> expected(kMessages.size(), *client_port);
      s.verdict("sender_port", expected, sender_ports, Note{"verdict_sender"},
                {{"address", senders.empty() ? "-" : senders.front()}});
    }
    s.verdict("tcp_glued", "hellohaihahaha", tcp_read.value_or(""), Note{"verdict_tcp_glued"});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    // UDP: the first packet already carries data. TCP: three segments before its first byte.
    nlohmann::json udp_lengths = nlohmann::json::array();
    std::string first_proto;
    int tcp_before_data = 0;
    bool tcp_data_seen = false;
    for (const auto& p : s.packets()) {
      if (first_proto.empty()) first_proto = std::string(capture::to_string(p.proto));
      if (p.proto == Proto::udp) udp_lengths.push_back(p.len);
      if (p.is_tcp && !tcp_data_seen) {
        tcp_data_seen = p.len > 0;
        if (!tcp_data_seen) ++tcp_before_data;
      }
    }
    const nlohmann::json expected = {{"first_packet", "udp"}, {"datagrams", {5, 3, 6}}};
    const nlohmann::json observed = {{"first_packet", first_proto}, {"datagrams", udp_lengths}};
    s.verdict("no_handshake", expected, observed, Note{"verdict_no_handshake"},
              {{"datagrams", demo::render_value(udp_lengths)}});
    s.fact("tcp_segments_before_data", tcp_before_data, Note{"fact_tcp_handshake"},
           {{"count", std::to_string(tcp_before_data)}});
  }
}

// ---------------------------------------------------------------- --echo: the classic exchange

// The classic course's UDP server answers in capitals: so does ours, so that the
// answer is visibly the server's and not the message seen twice.
std::string upper(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

void echo(Session& s) {
  s.set_variant("echo", "--echo");
  std::vector<std::string> answered_to;   // server: where each answer went (recvfrom's address)
  std::vector<std::string> asked_from;    // server: the addresses recvfrom() returned
  std::vector<std::string> replies;       // client: the answers' text
  std::vector<std::string> reply_sources; // client: the addresses the answers came from
  std::optional<net::Endpoint> server_at;
  s.run(
      [&] {  // the server: recvfrom(), then sendto() the address it returned
        auto udp = bind_udp(s);
        s.announce(must(udp.local_endpoint()));
        std::array<std::byte, kRecvSize> buf{};
        for (std::size_t i = 0; i < kMessages.size(); ++i) {
          const auto d = must(udp.recv_from(buf, s.accept_patience()));
          asked_from.push_back(d.from.to_string());
          s.explain(Side::server, "recvfrom", Note{"recvfrom"},
                    {{"bytes", std::to_string(d.size)}, {"from", d.from.to_string()}});
          const std::string answer = upper(text_of(std::span(buf).first(d.size)));
          must(udp.send_to(bytes_of(answer), d.from));
          answered_to.push_back(d.from.to_string());
          s.explain(Side::server, "sendto", Note{"echo_reply"}, {{"to", d.from.to_string()}});
        }
        s.end_capture();
      },
      [&] {  // the client: sendto(), then recvfrom() the answer, three times
        server_at = s.server_endpoint();
        auto udp = open_client(s, *server_at);
        std::array<std::byte, kRecvSize> buf{};
        for (auto m : kMessages) {
          must(udp.send_to(bytes_of(m), *server_at));
          s.explain(Side::client, "sendto", Note{"sendto"}, {{"bytes", std::to_string(m.size())}});
          auto d = udp.recv_from(buf, s.patience());
          if (!d) {
            throw demo::DemoFailure(s.note(Note{"fail_no_answer"}, {{"server", server_at->to_string()},
                                                                    {"message", std::string(m)},
                                                                    {"error", demo::error_text(d.error(), s.common(), s.options().lang)}}));
          }
          replies.push_back(text_of(std::span(buf).first(d->size)));
          reply_sources.push_back(d->from.to_string());
          s.explain(Side::client, "recvfrom", Note{"echo_got_reply"},
                    {{"bytes", std::to_string(d->size)}, {"from", d->from.to_string()}});
        }
        s.end_capture();
      });
  if (s.plays(Side::server)) {
    s.verdict("answered_to_sender", asked_from, answered_to, Note{"verdict_echo_answered"},
              {{"count", std::to_string(answered_to.size())}});
  }
  if (s.plays(Side::client) && server_at) {
    const std::vector<std::string> expected(kMessages.size(), server_at->to_string());
    s.verdict("replies_from_server", expected, reply_sources, Note{"verdict_echo_replies"},
              {{"count", std::to_string(replies.size())}, {"replies", demo::render_value(replies)}});
  }
  if (s.capturing()) demo::explain_wire(s);
}

// ---------------------------------------------------------------- --truncate

void truncated_datagram(Session& s) {
  s.set_variant("truncate", "--truncate");
  std::vector<net::UdpSocket::Datagram> reads;
  std::vector<std::string> texts;
  s.run(
      [&] {  // the server reads with a 16-byte buffer, twice
        auto udp = bind_udp(s);
        s.announce(must(udp.local_endpoint()));
        std::array<std::byte, kSmallBuffer> buf{};
        for (int i = 0; i < 2; ++i) {
          const auto d = must(udp.recv_from(buf, i == 0 ? s.accept_patience() : s.patience()));
          reads.push_back(d);
          texts.push_back(text_of(std::span(buf).first(d.size)));
          // UDP keeps each datagram whole, not their order: the short one may come first.
          if (d.truncated) {
            s.explain(Side::server, "recvfrom", Note{"truncated_recv"},
                      {{"copied", std::to_string(d.size)}, {"size", std::to_string(d.full_size)}});
          } else {
            s.explain(Side::server, "recvfrom", i == 0 ? Note{"short_first_recv"} : Note{"next_recv"}, {{"text", texts.back()}});
          }
        }
        s.end_capture();
      },
      [&] {  // the client: a long datagram, then a short one
        const auto server = s.server_endpoint();
        auto udp = open_client(s, server);
        for (auto m : {kLong, kNext}) {
          must(udp.send_to(bytes_of(m), server));
          s.explain(Side::client, "sendto", Note{"sendto"}, {{"bytes", std::to_string(m.size())}});
        }
        s.end_capture();
      });

  if (s.plays(Side::server)) {
    // The long datagram's read, and the other one's text, in whichever order they came.
    const auto long_one = std::ranges::find_if(reads, [](const auto& d) { return d.full_size == kLong.size(); });
    const bool reordered = long_one != reads.end() && long_one != reads.begin();
    const auto* first = long_one != reads.end() ? &*long_one : (reads.empty() ? nullptr : &reads.front());
    std::optional<std::string> other;
    for (std::size_t i = 0; i < reads.size(); ++i) {
      if (&reads[i] != first) other = texts[i];
    }
    const nlohmann::json expected = {{"copied", kSmallBuffer}, {"size", kLong.size()}, {"truncated", true}};
    nlohmann::json observed = nullptr;
    if (first) observed = {{"copied", first->size}, {"size", first->full_size}, {"truncated", first->truncated}};
    s.verdict("truncated", expected, observed, Note{"verdict_truncated"},
              {{"copied", first ? std::to_string(first->size) : "-"}, {"size", first ? std::to_string(first->full_size) : "-"}});
    s.verdict("rest_lost", kNext, other.value_or(""), reordered ? Note{"verdict_rest_lost_reordered"} : Note{"verdict_rest_lost"});
  }
  if (s.capturing()) demo::explain_wire(s);
}

// ---------------------------------------------------------------- a class of --loss and --max

// --loss and --max are about one socket's own receive buffer, which classmates
// must not share: serving a class, each student's run gets a UDP socket of its
// own on a port of the range after the class port (Session::student_udp). The
// student's client first connects to the class port; the run there sends one
// JSON line, the plan ({"port":N}), and the lesson's datagrams go to port N.
// --loss's TCP bytes then come over that same connection.
struct Receiver {
  demo::ServerUdp udp;
  // Serving a class: the class's listener, closed after the lesson, so the ladder
  // does not show it go. Alone, with `with_tcp`: the lesson's TCP listener.
  net::TcpListener hall;
  std::optional<net::TcpStream> student;  // serving a class: the student's connection on the class port
};

// The lesson's UDP socket (`options`): alone, on --listen/--port; serving a class,
// this run's own, once its student connected to the class port. `with_tcp`: the
// lesson sends over TCP too; alone, on a listener on the UDP socket's port number;
// serving a class, over the student's connection (its packets then go in the ladder).
Receiver open_receiver(Session& s, net::UdpOptions options, bool with_tcp) {
  if (!s.serves_class()) {
    if (!with_tcp) return Receiver{bind_udp(s, options), {}, {}};
    auto [udp, tcp] = bind_udp_and_tcp(s, options);
    return Receiver{std::move(udp), std::move(tcp), {}};
  }
  Receiver r;
  r.hall = s.listen();
  s.explain(Side::server, "listen", Note{"class_listen"});
  auto came = s.accept(r.hall);
  auto own = s.student_udp(options, with_tcp);
  if (!own) {
    throw demo::DemoFailure(s.note(Note{"fail_no_port"}, {{"first", std::to_string(r.hall.endpoint().port() + 1)},
                                                           {"count", std::to_string(demo::Classroom::kStudentPorts)}}));
  }
  r.udp = std::move(*own);
  s.explain(Side::server, "accept", Note{"class_student"}, {{"port", std::to_string(must(r.udp.local_endpoint()).port())}});
  s.explain(Side::server, "bind", Note{"bind_udp"});
  r.student = std::move(came.stream);
  return r;
}

// The socket is ready for the datagrams: alone, the client may start; serving a
// class, the plan tells the student its port (untraced: the class's plumbing).
void open_to_student(Session& s, Receiver& r) {
  const net::Endpoint at = must(r.udp.local_endpoint());
  if (!r.student) return s.announce(at);
  const net::Trace lesson = s.trace(Side::server);
  r.student->set_trace({});
  must(r.student->send_all(nlohmann::json{{"port", at.port()}}.dump() + "\n"));
  r.student->set_trace(lesson);
}

// --role client (a class server's student): the plan first, over the class port;
// the lesson's datagrams then go to the port it names. Alone: nothing to ask.
std::optional<Session::ClassPlan> join_class(Session& s, bool lesson_on_connection) {
  if (s.options().role != demo::Role::client) return std::nullopt;
  auto joined = s.join_class(lesson_on_connection);
  s.explain(Side::client, "connect", Note{"class_plan"}, {{"port", std::to_string(s.options().server_endpoint.port())}});
  return joined;
}

// ---------------------------------------------------------------- --loss

std::string loss_datagram(int i) {
  std::string d = fmt::format("datagram {:02} of {}", i, kLossCount);
  d.resize(kLossSize, '.');
  return d;
}

// The number in "datagram 07 of 20...", or nullopt for a datagram that is not the lesson's.
std::optional<int> loss_number(std::string_view d) {
  constexpr std::string_view prefix = "datagram ";
  if (!d.starts_with(prefix) || d.size() < prefix.size() + 2) return std::nullopt;
  int n = 0;
  const char* begin = d.data() + prefix.size();
  const auto [end, ec] = std::from_chars(begin, begin + 2, n);
  if (ec != std::errc{} || end != begin + 2 || n < 1 || n > kLossCount) return std::nullopt;
  return n;
}

void loss(Session& s) {
  s.set_variant("loss", "--loss");
  std::vector<int> arrived;
  std::optional<std::uint32_t> drops;
  std::optional<int> rcvbuf;
  std::optional<std::uint64_t> counter_before, counter_after;
  std::optional<std::size_t> tcp_bytes;
  const std::string counter_group = s.options().ipv6 ? "Udp6" : "Udp";
  auto teacher = join_class(s, true);  // --loss's bytes go over that connection: its packets are the lesson's
  s.run(
      [&] {  // the server: a small receive buffer, not read until the sender is done
        // Alone: the UDP socket and a TCP listener on its port number; a class: the
        // student's own UDP socket, and their connection on the class port for TCP.
        auto r = open_receiver(s, {.recv_buffer = kLossRcvbuf}, true);
        auto& udp = r.udp;
        rcvbuf = must(udp.recv_buffer());
        s.explain(Side::server, "setsockopt", Note{"small_buffer"}, {{"bytes", std::to_string(*rcvbuf)}});
        counter_before = demo::kernel_counter(counter_group, "RcvbufErrors");
        open_to_student(s, r);

        // The client sends over TCP once every datagram is sent: only then do we read.
        if (!r.student) {
          r.student = s.accept(r.hall).stream;
          s.explain(Side::server, "accept", Note{"accept"});
        }
        auto& conn = *r.student;
        std::vector<std::byte> all(kLossCount * kLossSize);
        tcp_bytes = must(conn.recv_exact(all));
        // The connection ended first: the client stopped (or is another variant's), and sends nothing more.
        if (*tcp_bytes < all.size()) {
          throw demo::DemoFailure(s.note(Note{"fail_tcp_ended"}, {{"bytes", std::to_string(*tcp_bytes)}, {"expected", std::to_string(all.size())}}));
        }
        s.explain(Side::server, "recv", Note{"tcp_recv_all"}, {{"bytes", std::to_string(*tcp_bytes)}});

        // Every datagram is now read or dropped; one still on its way is waited for.
        std::vector<std::byte> buf(kLossSize);
        const bool accounted = demo::wait_until(
            [&] {
              for (;;) {
                auto d = udp.recv_from(buf, std::chrono::milliseconds(0));
                if (!d && d.error().code == net::errc::timed_out) break;  // nothing more queued
                const std::string text = text_of(std::span(buf).first(must(std::move(d)).size));
                if (auto n = loss_number(text)) arrived.push_back(*n);  // another sender's datagram is not counted
              }
              drops = must(udp.drops());
              return static_cast<int>(arrived.size() + *drops) >= kLossCount;
            },
            s.patience());
        if (!accounted) throw demo::DemoFailure(s.note(Note{"fail_unaccounted"}));
        counter_after = demo::kernel_counter(counter_group, "RcvbufErrors");
        s.record_note(Side::server,
                      s.note(Note{"label_drained"}, {{"arrived", std::to_string(arrived.size())}, {"drops", std::to_string(*drops)}}),
                      Note{"drained"},
                      {{"arrived", std::to_string(arrived.size())}, {"drops", std::to_string(*drops)}});
        s.end_capture();
      },
      [&] {  // the client: every datagram, then the same bytes over TCP
        const auto server = s.server_endpoint();
        auto udp = open_client(s, server);
        std::string all;
        for (int i = 1; i <= kLossCount; ++i) {
          if (i == kShownSends + 1) udp.set_trace({});
          const std::string d = loss_datagram(i);
          must(udp.send_to(bytes_of(d), server));
          all += d;
          if (i <= kShownSends) s.explain(Side::client, "sendto", Note{"sendto"}, {{"bytes", std::to_string(d.size())}});
        }
        s.record_note(Side::client, fmt::format("+{} sendto()", kLossCount - kShownSends), Note{"sendto_more"},
                      {{"count", std::to_string(kLossCount - kShownSends)}});
        // A class server's student has a connection already: the one the plan came over.
        std::optional<net::TcpStream> conn;
        if (teacher) {
          conn = std::move(teacher->teacher);
          conn->set_trace(s.trace(Side::client));
        } else {
          conn = must(net::TcpStream::connect(server, {.trace = s.trace(Side::client)}));
          s.explain(Side::client, "connect", Note{"connect"});
        }
        must(conn->send_all(all));
        s.explain(Side::client, "send", teacher ? Note{"class_bytes_here"} : Note{"tcp_send_all"}, {{"bytes", std::to_string(all.size())}});
        wait_all_acked(s, Side::client, *conn);
        s.end_capture();
      });

  if (s.plays(Side::server)) {
    if (rcvbuf) s.fact("rcvbuf", *rcvbuf, Note{"fact_rcvbuf"}, {{"bytes", std::to_string(*rcvbuf)}, {"asked", std::to_string(kLossRcvbuf)}});
    const int got = static_cast<int>(arrived.size());
    s.verdict("udp_loses_datagrams", {{"sent", kLossCount}, {"all_arrived", false}},
              {{"sent", kLossCount}, {"all_arrived", got == kLossCount}}, Note{"verdict_lost"},
              {{"arrived", std::to_string(got)}, {"sent", std::to_string(kLossCount)}});
    s.fact("arrived", arrived, Note{"fact_arrived"}, {{"which", demo::render_value(arrived)}});
    s.verdict("drops_counted", kLossCount - got, drops ? nlohmann::json(*drops) : nlohmann::json(nullptr),
              Note{"verdict_drops_counted"}, {{"drops", drops ? std::to_string(*drops) : "-"}});
    if (counter_before && counter_after && drops) {
      // The counter is the whole machine's: other programs may add to it, never subtract.
      const std::uint64_t delta = *counter_after - *counter_before;
      s.verdict("kernel_counter", {{"at_least", *drops}}, {{"at_least", delta}}, delta >= *drops,
                Note{"verdict_kernel_counter"},
                {{"counter", counter_group + "RcvbufErrors"}, {"delta", std::to_string(delta)},
                 {"drops", std::to_string(*drops)}});
    } else {
      s.fact("kernel_counter", nullptr, Note{"why_counter_missing"}, {{"counter", counter_group + "RcvbufErrors"}});
    }
    s.verdict("tcp_whole", kLossCount * kLossSize, tcp_bytes.value_or(0), Note{"verdict_tcp_whole"});
  }
  if (s.capturing()) demo::explain_wire(s);
}

// ---------------------------------------------------------------- --unreachable

void unreachable(Session& s) {
  s.set_variant("unreachable", "--unreachable");
  std::optional<std::string> send_result, recv_result;
  s.run(
      [&] {  // the "server": a port number where no socket receives
        // The demo holds the port (so no other program takes it meanwhile) with a
        // socket connected to itself: such a socket accepts datagrams from its
        // peer only, so the client's datagram finds no socket, as on a free port.
        auto holder = must(net::UdpSocket::bind(s.options().listen_endpoint));
        const net::Endpoint at = must(holder.local_endpoint());
        must(holder.connect(at));
        // Said before announce() releases the client: the port has had no receiver
        // since the connect above, so the note stands before any datagram, every run.
        s.record_note(Side::server, s.note(Note{"label_port_closed"}, {{"port", std::to_string(at.port())}}), Note{"port_closed"},
                      {{"port", std::to_string(at.port())}});
        s.announce(at);
        s.end_capture();  // until the client has had its answer
      },
      [&] {  // the client
        const auto server = s.server_endpoint();
        auto udp = open_client(s, server);
        must(udp.connect(server));
        s.explain(Side::client, "connect", Note{"udp_connect"});
        auto sent = udp.send(bytes_of("anyone there?"));
        send_result = sent ? "ok" : demo::errno_name(sent.error().errno_value());
        s.explain(Side::client, "send", Note{"udp_send"});
        std::array<std::byte, kRecvSize> buf{};
        auto got = udp.recv(buf, s.patience());
        recv_result = got ? "data" : demo::errno_name(got.error().errno_value());
        if (!got && recv_result->empty()) throw demo::DemoFailure(got.error());
        s.explain(Side::client, "recv", Note{"udp_recv_refused"});
        s.end_capture();  // the ICMP error has arrived: recv() reported it
      });

  if (s.plays(Side::client)) {
    s.verdict("send_succeeds", "ok", send_result.value_or("-"), Note{"verdict_send_ok"});
    s.verdict("recv_refused", "ECONNREFUSED", recv_result.value_or("-"), Note{"verdict_refused"});
    if (recv_result == "data") s.why(Note{"why_someone_listens"});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    nlohmann::json observed = nlohmann::json::array();
    for (const auto& p : s.packets()) observed.push_back(p.phase == Phase::unreachable ? "unreachable" : std::string(capture::to_string(p.proto)));
    s.verdict("icmp_port_unreachable", {"udp", "unreachable"}, observed, Note{"verdict_icmp"},
              {{"icmp", s.options().ipv6 ? "ICMPv6" : "ICMP"}});
  }
}

// ---------------------------------------------------------------- --max

void largest(Session& s) {
  s.set_variant("max", "--max");
  const bool v6 = s.options().ipv6;
  const std::size_t max = max_payload(v6);
  std::optional<std::string> max_sent, one_more;
  std::optional<std::size_t> received;
  const auto teacher = join_class(s, false);  // a class server's plan; its connection stays open for the lesson
  s.run(
      [&] {  // the server reads with room for any datagram
        // Serving a class: a socket of this run's own, whose buffer (net.core.rmem_default)
        // holds the one largest datagram this run's student sends.
        auto r = open_receiver(s, {}, false);
        open_to_student(s, r);
        std::vector<std::byte> buf(65536);
        // A class's student is here already (they asked for the plan): as long as the lesson's patience.
        const auto d = must(r.udp.recv_from(buf, r.student ? std::optional(s.patience()) : s.accept_patience()));
        received = d.full_size;
        s.explain(Side::server, "recvfrom", Note{"recv_max"}, {{"bytes", std::to_string(d.full_size)}});
        s.end_capture();
      },
      [&] {  // the client: the largest datagram, then one byte more (to the student's own port, serving a class)
        const auto server = s.server_endpoint();
        auto udp = open_client(s, server);
        const std::vector<std::byte> payload(max + 1, std::byte{'x'});
        auto sent = udp.send_to(std::span(payload).first(max), server);
        max_sent = sent ? "ok" : demo::errno_name(sent.error().errno_value());
        s.explain(Side::client, "sendto", Note{"send_max"}, {{"bytes", std::to_string(max)}});
        auto more = udp.send_to(payload, server);
        one_more = more ? "ok" : demo::errno_name(more.error().errno_value());
        s.explain(Side::client, "sendto", Note{"send_too_big"}, {{"bytes", std::to_string(max + 1)}});
        s.end_capture();
      });

  s.fact("limit", max, v6 ? Note{"fact_limit_v6"} : Note{"fact_limit_v4"}, {{"max", std::to_string(max)}});
  if (s.plays(Side::client)) {
    s.verdict("largest_datagram_sent", "ok", max_sent.value_or("-"), Note{"verdict_max"}, {{"bytes", std::to_string(max)}});
    s.verdict("one_more_fails", "EMSGSIZE", one_more.value_or("-"), Note{"verdict_one_more"},
              {{"bytes", std::to_string(max + 1)}});
  }
  if (s.plays(Side::server)) {
    s.verdict("largest_datagram_received", max, received ? nlohmann::json(*received) : nlohmann::json(nullptr),
              Note{"verdict_max_received"});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    nlohmann::json lengths = nlohmann::json::array();
    for (const auto& p : s.packets()) {
      if (p.proto == Proto::udp) lengths.push_back(p.len);
    }
    s.fact("max_on_wire", lengths, Note{"fact_max_wire"},
           {{"datagrams", lengths.empty() ? s.note(Note{"word_none"}) : demo::render_value(lengths)}});
    if (v6 && lengths.empty()) s.fact("ipv6_fragments", nullptr, Note{"why_no_fragments_seen"});
  }
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"udp", "demo-udp: Lesson 4, UDP: datagrams keep their boundaries, without a connection", kNoteKeys});
  bool truncate_variant = false, loss_variant = false, unreachable_variant = false, max_variant = false,
       echo_variant = false;
  auto* group = app.cli().add_option_group("Variants", "Pick at most one");
  group->add_flag("--truncate", truncate_variant,
                  "A datagram larger than recvfrom()'s buffer: the rest is lost (MSG_TRUNC shows the real size)");
  group->add_flag("--loss", loss_variant,
                  "A receiver with a small buffer that does not read: datagrams dropped and counted; TCP loses nothing");
  group->add_flag("--unreachable", unreachable_variant,
                  "Send to a port where nobody listens: ICMP port unreachable, then ECONNREFUSED");
  group->add_flag("--max", max_variant, "The largest datagram (65,507 bytes over IPv4), and one byte more: EMSGSIZE");
  group->add_flag("--echo", echo_variant,
                  "The classic course's exchange: the server answers each datagram to the address recvfrom() "
                  "returned, the client waits for each answer (works with the course's Python peers)");
  group->require_option(0, 1);
  // Serving a class (classroom.hpp): the default lesson, --echo and --truncate
  // share the class's one UDP socket. --loss and --max each get a socket of the
  // run's own (see "a class" above): --loss's lesson is one receive buffer that
  // one sender fills, whose drops a shared socket could not count apart, and a
  // class's 64 KiB --max datagrams sent at once would overflow a shared socket's
  // buffer (net.core.rmem_max). --unreachable has no server.
  app.serve_udp_classes([&] { return !unreachable_variant; }, [&] { return loss_variant || max_variant; });
  return app.run(argc, argv, [&](Session& s) {
    if (unreachable_variant) {
      if (s.options().role == demo::Role::server) {
        throw demo::UsageError(s.note(Note{"usage_unreachable_server"}));
      }
      return unreachable(s);
    }
    if (truncate_variant) return truncated_datagram(s);
    if (loss_variant) return loss(s);
    if (max_variant) return largest(s);
    if (echo_variant) return echo(s);
    datagrams(s);
  });
}
