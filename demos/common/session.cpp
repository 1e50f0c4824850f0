#include "session.hpp"

#include <fmt/format.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <stdexcept>

#include "classroom.hpp"
#include "common_notes.hpp"
#include "server_setup.hpp"

namespace socklab::demo {

Session::Session(CommonOptions options, std::string demo, Lesson lesson, Lesson common)
    : Stage(std::move(options), std::move(demo), std::move(lesson), std::move(common)) {}

Session::Session(CommonOptions options, std::string demo, Lesson lesson, Lesson common, Classroom& classroom)
    : Stage(std::move(options), std::move(demo), std::move(lesson), std::move(common)), classroom_(&classroom) {
  if (classroom.capturing()) {
    use_shared_capture(classroom.capture_interface(), [this] {
      std::lock_guard lock(mutex_);
      // A run that never had its student (the class ended first) has no packets of its own.
      if (!class_client_) return SharedPackets{};
      if (student_port_) {
        // The connection on the class port named the student's own port: the lesson is
        // there (and on that connection too, for a lesson that sends over it).
        auto connection = classroom_->take_packets(*class_client_);
        auto own = classroom_->take_port_packets(*student_port_);
        if (!class_connection_in_lesson_) return own;
        std::vector<SharedPackets> parts;
        parts.push_back(std::move(connection));
        parts.push_back(std::move(own));
        return classroom_->merged(std::move(parts));
      }
      if (class_second_) return classroom_->take_packets(std::vector{*class_client_, *class_second_});
      return classroom_->take_packets(*class_client_);
    });
  }
}

Session::~Session() {
  if (classroom_ && student_port_) classroom_->return_port(*student_port_);
}

bool Session::plays(Side side) const noexcept {
  switch (options_.role) {
    case Role::both: return side != Side::none;
    case Role::server: return side == Side::server;
    case Role::client: return side == Side::client;
  }
  return false;
}

net::Trace Session::trace(Side side) noexcept { return trace_of(side_member(side)); }

std::optional<std::chrono::milliseconds> Session::accept_patience() const noexcept {
  if (options_.role == Role::server) return std::nullopt;
  return patience();
}

void Session::run(const std::function<void()>& server, const std::function<void()>& client) {
  std::vector<Part> parts;
  // The client plays on the calling thread (the last part), the server on its own.
  if (plays(Side::server)) parts.push_back({side_member(Side::server).name, [&server](Actor&) { server(); }});
  if (plays(Side::client)) parts.push_back({side_member(Side::client).name, [&client](Actor&) { client(); }});
  // A lone client knows its server's port from the start: arm before its first SYN.
  if (options_.role == Role::client) {
    // Classmates on this machine may talk to the same server port: keep this run's connections.
    keep_own_packets([this](const capture::DecodedPacket& d) { return is_own_packet(d); });
    arm_capture(options_.server_endpoint, lesson_class_port_);
  }
  // A server on a port given with --port can be reached by another process the
  // moment it listens, before announce(): arm first. (An ephemeral port is
  // known to nobody until announce() prints it, after arming.)
  if (options_.role == Role::server && options_.listen_endpoint.port() != 0) arm_capture(options_.listen_endpoint);
  play(std::move(parts));
}

bool Session::is_own_packet(const capture::DecodedPacket& d) const {
  if (d.reached < capture::Layer::transport || (d.proto != capture::Proto::tcp && d.proto != capture::Proto::udp)) return true;
  const std::uint16_t server = options_.server_endpoint.port();
  const bool to_server = d.dport == server || d.dport == lesson_class_port_;
  const std::uint16_t mine = to_server ? d.sport : d.dport;
  // The local ports this run's sockets had, as their calls recorded them.
  bool any_known = false;
  for (const auto& c : recorder_.snapshot()) {
    const auto colon = c.local.rfind(':');
    if (colon == std::string::npos) continue;
    any_known = true;
    if (c.local.substr(colon + 1) == std::to_string(mine)) return true;
  }
  return !any_known;  // nothing to tell them apart by: keep everything, as before
}

void Session::part_done(const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    // A client waiting for the port must not wait forever.
    if (name == net::to_string(Side::server) && !announced_) server_failed_ = true;
  }
  Stage::part_done(name);
}

std::string Session::explain_bind_failure(const net::Error& e) const {
  return demo::explain_bind_failure(e, options_.listen_endpoint, common_, options_.lang);
}

net::TcpListener Session::listen(net::ListenOptions opts) {
  auto listener = listen_unannounced(std::move(opts));
  announce(listener.endpoint());
  return listener;
}

net::TcpListener Session::listen_unannounced(net::ListenOptions opts) {
  opts.trace = trace(Side::server);
  if (classroom_) {
    for (auto e : classroom_->setup_calls()) recorder_.record(std::move(e));
    return must(classroom_->listener().share(opts.trace));
  }
  auto listener = net::TcpListener::bind(options_.listen_endpoint, opts);
  if (!listener) throw DemoFailure(explain_bind_failure(listener.error()));
  return std::move(*listener);
}

ServerUdp Session::bind_udp(net::UdpOptions opts) {
  opts.trace = trace(Side::server);
  if (classroom_ && classroom_->serves_udp()) {
    for (auto e : classroom_->udp_setup_calls()) recorder_.record(std::move(e));
    return ServerUdp(*this, *classroom_);
  }
  auto udp = net::UdpSocket::bind(options_.listen_endpoint, opts);
  if (!udp) throw DemoFailure(explain_bind_failure(udp.error()));
  return ServerUdp(std::move(*udp));
}

std::pair<ServerUdp, net::TcpListener> Session::bind_udp_and_tcp(net::UdpOptions udp_options,
                                                                const std::function<void()>& udp_bound) {
  if (classroom_ && classroom_->serves_udp()) {
    auto udp = bind_udp(udp_options);
    udp_bound();
    return {std::move(udp), listen_unannounced()};
  }
  udp_options.trace = trace(Side::server);
  auto both = demo::bind_udp_and_tcp(options_.listen_endpoint, udp_options, {.trace = trace(Side::server)}, udp_bound);
  if (!both) throw DemoFailure(explain_bind_failure(both.error()));
  return {ServerUdp(std::move(both->udp)), std::move(both->tcp)};
}

void Session::class_student_came(const net::Endpoint& student) {
  {
    std::lock_guard lock(mutex_);
    class_client_ = student;
  }
  classroom_->taken(student);
}

ServerUdp::~ServerUdp() {
  if (student_) classroom_->udp_release(*student_);
}

net::Result<net::UdpSocket::Datagram> ServerUdp::recv_from(std::span<std::byte> buf,
                                                           std::optional<std::chrono::milliseconds> timeout) {
  if (!classroom_) return own_.recv_from(buf, timeout);
  if (!student_) {
    // The class lets one run at a time wait here: the next new sender is its student.
    student_ = classroom_->next_udp_student(session_->trace(Side::server));
    if (!student_) return std::unexpected(net::make_error(net::errc::timed_out, "recvfrom", "the class ended"));
    session_->class_student_came(student_->peer);
  }
  return classroom_->udp_recv(*student_, buf, timeout);
}

net::Result<std::size_t> ServerUdp::send_to(std::span<const std::byte> data, const net::Endpoint& to) {
  if (!classroom_) return own_.send_to(data, to);
  if (!student_) return std::unexpected(net::make_error(net::errc::not_supported, "sendto", "no student yet"));
  return student_->socket.send_to(data, to);
}

net::Result<net::Endpoint> ServerUdp::local_endpoint() const {
  if (!classroom_) return own_.local_endpoint();
  return classroom_->udp_endpoint();
}

const net::UdpSocket& ServerUdp::socket() const { return student_ ? student_->socket : own_; }
net::Result<int> ServerUdp::recv_buffer() const { return socket().recv_buffer(); }
net::Result<std::uint32_t> ServerUdp::drops() const { return socket().drops(); }

net::TcpListener::Accepted Session::accept(net::TcpListener& listener) {
  if (!classroom_) return must(listener.accept(accept_patience()));
  if (classroom_->serves_udp()) {
    // A UDP class: the connection from the port number of this run's student's datagrams.
    const auto student = class_client();
    if (!student) throw std::logic_error("Session::accept: a UDP class run takes its connection after a datagram");
    auto taken = classroom_->take_connection(*student, patience());
    if (!taken) {
      throw DemoFailure(common_.note(CommonNote{"class_no_connection_from_port"},
                                     {{"client", student->to_string()}, {"seconds", std::to_string(patience().count() / 1000)}}));
    }
    return adopt(std::move(taken->accepted), taken->calls);
  }
  {
    std::lock_guard lock(mutex_);
    // A run's second connection is its student's only when announced (accept_second).
    if (class_client_) throw std::logic_error("Session::accept: a class run takes one connection");
  }
  if (classroom_->dispatches()) {
    auto handed = classroom_->next_student();
    auto accepted = adopt(std::move(handed.accepted), handed.calls);
    {
      std::lock_guard lock(mutex_);
      class_client_ = accepted.peer;
    }
    classroom_->taken(accepted.peer);
    return accepted;
  }
  // The class lets one run at a time wait here: the connection is the next student's.
  auto accepted = must(listener.accept());
  {
    std::lock_guard lock(mutex_);
    class_client_ = accepted.peer;
  }
  classroom_->taken(accepted.peer);
  return accepted;
}

std::optional<net::TcpListener> Session::student_listener(net::ListenOptions opts) {
  if (!classroom_ || !class_client()) throw std::logic_error("Session::student_listener: a class run's, after accept()");
  opts.trace = trace(Side::server);
  auto listener = classroom_->student_listener(std::move(opts));
  if (!listener) return std::nullopt;
  std::lock_guard lock(mutex_);
  student_port_ = listener->endpoint().port();
  return listener;
}

std::optional<ServerUdp> Session::student_udp(net::UdpOptions opts, bool lesson_on_class_connection) {
  if (!classroom_ || !class_client()) throw std::logic_error("Session::student_udp: a class run's, after accept()");
  opts.trace = trace(Side::server);
  auto udp = classroom_->student_udp(std::move(opts));
  if (!udp) return std::nullopt;
  const std::uint16_t port = must(udp->local_endpoint()).port();
  std::lock_guard lock(mutex_);
  student_port_ = port;
  class_connection_in_lesson_ = lesson_on_class_connection;
  return ServerUdp(std::move(*udp));
}

void Session::use_server(const net::Endpoint& server) {
  if (options_.role != Role::client) throw std::logic_error("Session::use_server: --role client only");
  options_.server_endpoint = server;
}

Session::ClassPlan Session::join_class(bool lesson_on_connection) {
  if (options_.role != Role::client) throw std::logic_error("Session::join_class: --role client only");
  auto teacher = must(net::TcpStream::connect(options_.server_endpoint, {.timeout = patience(), .trace = trace(Side::client)}));
  teacher.set_trace({});  // the plan is the class's plumbing, not the lesson's calls
  ClassPlan joined{std::move(teacher), LineReader(must(net::DelimiterCodec::create("\n", 1024))), {}};
  class_port_ = options_.server_endpoint;
  if (lesson_on_connection) lesson_class_port_ = class_port_->port();
  joined.plan = read_class_line(joined.teacher, joined.reader);
  const auto port = joined.plan.find("port");
  if (port == joined.plan.end() || !port->is_number_integer() || port->get<std::int64_t>() < 1 || port->get<std::int64_t>() > 65535) {
    throw class_plan_refused(joined.plan);
  }
  use_server(options_.server_endpoint.with_port(static_cast<std::uint16_t>(port->get<std::int64_t>())));
  return joined;
}

nlohmann::json Session::read_class_line(net::TcpStream& teacher, LineReader& reader) {
  const Values server{{"endpoint", class_port_.value_or(options_.server_endpoint).to_string()}, {"seconds", std::to_string(patience().count() / 1000)}};
  auto line = reader.next(teacher, patience());
  if (!line) {
    if (line.error().code == net::errc::timed_out) throw DemoFailure(common_.note(CommonNote{"class_plan_silent"}, server));
    throw DemoFailure(line.error());
  }
  if (!*line) throw DemoFailure(common_.note(CommonNote{"class_plan_left"}, server));
  const std::string text((*line)->text());
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object()) throw class_plan_refused(text);
  return json;
}

DemoFailure Session::class_plan_refused(const nlohmann::json& line) const {
  const std::string text = line.is_string() ? line.get<std::string>() : line.dump();
  std::string command = "demo-" + demo_ + " --role server";
  if (!variant_flags_.empty()) command += " " + variant_flags_;
  return DemoFailure(common_.note(CommonNote{"class_plan_message"}, {{"endpoint", class_port_.value_or(options_.server_endpoint).to_string()},
                                                                      {"text", text.substr(0, 80)},
                                                                      {"command", command}}));
}

net::TcpListener::Accepted Session::adopt(net::TcpListener::Accepted accepted, const std::vector<net::CallEvent>& calls) {
  for (auto e : calls) recorder_.record(std::move(e));
  accepted.stream.set_trace(trace(Side::server));
  return accepted;
}

namespace {

std::array<std::byte, Session::kAnnouncementBytes> announcement(std::uint16_t first, std::uint16_t second) {
  const auto byte = [](unsigned v) { return static_cast<std::byte>(v & 0xff); };
  return {byte(first >> 8), byte(first), byte(second >> 8), byte(second)};
}

}  // namespace

std::optional<net::TcpStream> Session::announce_second_connection(net::TcpStream& first) {
  if (options_.role != Role::client) return std::nullopt;
  // From the first connection's address, so that the server sees both from one.
  const net::Endpoint me = must(first.local_endpoint());
  auto second = must(net::TcpStream::bound(me.with_port(0), trace(Side::client)));
  const std::uint16_t port = must(second.local_endpoint()).port();
  const Values ports{{"first", std::to_string(me.port())}, {"second", std::to_string(port)}};
  explain_text(net::to_string(Side::client), "bind", common_.note(CommonNote{"second_bind"}, ports));
  must(first.send_all(announcement(me.port(), port)));
  explain_text(net::to_string(Side::client), "send", common_.note(CommonNote{"second_announce"}, ports));
  std::lock_guard lock(mutex_);
  announcement_bytes_ = kAnnouncementBytes;
  return second;
}

net::TcpStream Session::connect_second(std::optional<net::TcpStream> bound, const net::Endpoint& server) {
  if (!bound) return must(net::TcpStream::connect(server, {.trace = trace(Side::client)}));
  must(bound->connect_to(server));
  return std::move(*bound);
}

void Session::expect_second_connection(net::TcpStream& first) {
  if (!classroom_ || !classroom_->dispatches()) return;
  const net::Endpoint seen = class_client().value();
  // A client of another variant (or none of ours) may send nothing, or something else.
  const auto queued = first.wait_for_bytes(static_cast<int>(kAnnouncementBytes), patience());
  if (!queued || *queued < static_cast<int>(kAnnouncementBytes)) {
    throw DemoFailure(common_.note(CommonNote{"second_no_announcement"},
                                   {{"bytes", std::to_string(kAnnouncementBytes)}, {"seconds", std::to_string(patience().count() / 1000)}}));
  }
  std::array<std::byte, kAnnouncementBytes> got{};
  must(first.recv_exact(got));
  const auto port_at = [&](std::size_t i) {
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(got[i]) << 8) | std::to_integer<unsigned>(got[i + 1]));
  };
  const std::uint16_t announced_first = port_at(0), second = port_at(2);
  const Values ports{{"first", std::to_string(announced_first)}, {"second", std::to_string(second)},
                     {"seen", std::to_string(seen.port())}, {"address", seen.address()}};
  // Another port than the one we see: a NAT rewrote it (and would the second's), or not an announcement.
  if (announced_first != seen.port()) throw DemoFailure(common_.note(CommonNote{"second_ports_differ"}, ports));
  const net::Endpoint from = seen.with_port(second);
  if (second == 0 || !classroom_->expect(from)) throw DemoFailure(common_.note(CommonNote{"second_port_taken"}, ports));
  explain_text(net::to_string(Side::server), "recv", common_.note(CommonNote{"second_announced"}, ports));
  std::lock_guard lock(mutex_);
  expected_second_ = from;
  announcement_bytes_ = kAnnouncementBytes;
}

net::TcpListener::Accepted Session::accept_second(net::TcpListener& listener) {
  if (!classroom_) return must(listener.accept(patience()));
  std::optional<net::Endpoint> from;
  {
    std::lock_guard lock(mutex_);
    from = expected_second_;
  }
  if (!classroom_->dispatches() || !from) throw std::logic_error("Session::accept_second: no second connection announced");
  auto handed = classroom_->second_connection(*from, patience());
  if (!handed) {
    throw DemoFailure(common_.note(CommonNote{"second_not_come"},
                                   {{"client", from->to_string()}, {"seconds", std::to_string(patience().count() / 1000)}}));
  }
  auto accepted = adopt(std::move(handed->accepted), handed->calls);
  std::lock_guard lock(mutex_);
  class_second_ = accepted.peer;
  return accepted;
}

std::uint32_t Session::announcement_bytes() const {
  std::lock_guard lock(mutex_);
  return announcement_bytes_;
}

std::optional<net::Endpoint> Session::class_client() const {
  std::lock_guard lock(mutex_);
  return class_client_;
}

net::Socket Session::reserve_port() {
  const net::Endpoint at = options_.listen_endpoint;
  const net::Trace t = trace(Side::server);
  // socket() unrecorded, as the lesson has always shown it: the port is the point.
  const int fd = ::socket(at.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw DemoFailure(net::system_error(errno, "socket"));
  net::Socket owner(fd, t);
  if (auto bound = owner.bind_to(at); !bound) throw DemoFailure(explain_bind_failure(bound.error()));
  announce(must(owner.local_endpoint()));
  return owner;
}

void Session::announce(const net::Endpoint& bound) {
  arm_capture(bound);
  // A server on 0.0.0.0 or :: is reached through loopback from this machine.
  net::Endpoint reach = bound;
  if (is_unspecified(bound)) {
    reach = bound.is_v6() ? net::Endpoint::loopback_v6(bound.port()) : net::Endpoint::loopback_v4(bound.port());
  }
  {
    std::lock_guard lock(mutex_);
    announced_ = reach;
  }
  changed_.notify_all();
  if (options_.role == Role::server && (!classroom_ || classroom_->first_announce())) {  // a class: once
    const auto command = [&](const std::string& host) {
      std::string c = fmt::format("demo-{} --role client --host {} --port {}", demo_, host, bound.port());
      if (!variant_flags_.empty()) c += " " + variant_flags_;
      if (options_.lang == Lang::zh) c += " --lang zh";
      return c;
    };
    std::fprintf(stderr, "%s\n", server_ready_text(bound, common_, command).c_str());
    if (classroom_) std::fprintf(stderr, "%s\n", common_.note(CommonNote{"class_serving"}).c_str());
    std::fflush(stderr);
  }
}

net::Endpoint Session::server_endpoint() {
  if (options_.role == Role::client) return options_.server_endpoint;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return announced_.has_value() || server_failed_; });
  if (!announced_) throw DemoFailure(common_.note(CommonNote{"server_failed"}));
  return *announced_;
}

std::optional<std::uint16_t> Session::server_port() const {
  if (options_.role == Role::client) return options_.server_endpoint.port();
  std::lock_guard lock(mutex_);
  if (announced_) return announced_->port();
  return std::nullopt;
}

void Session::record_state(Side side, net::TcpState state, NoteKey note, const Values& values) {
  record_event(side_member(side), "state", std::string(net::to_string(state)), lesson_.note(note, values));
}

void Session::record_note(Side side, std::string args, NoteKey note, const Values& values) {
  record_event(side_member(side), "note", std::move(args), lesson_.note(note, values));
}

void Session::explain(Side side, std::string_view call, NoteKey note, const Values& values) {
  Stage::explain(side_member(side).name, call, note, values);
}

std::string Session::queue_label(const net::ListenQueue& q) const {
  return common_.note(CommonNote{"accept_queue_row"}, {{"length", std::to_string(q.length)}, {"limit", std::to_string(q.limit)}});
}

void Session::arm_capture(const net::Endpoint& server, std::optional<std::uint16_t> also_port) {
  // Notes and states of our own are not calls: a server may say what its port is first.
  const auto so_far = recorder_.snapshot();
  const bool before_any_call = std::none_of(so_far.begin(), so_far.end(), [](const net::CallEvent& e) {
    return e.call != "note" && e.call != "state";
  });
  auto spec = CaptureSpec::on_port(server);
  spec.also_port = also_port;
  const auto took_ms = arm(spec);
  if (!took_ms || classroom_) return;  // a class's capture was armed once, before any student
  // Mapping the capture ring takes milliseconds, far longer than the calls
  // around it: say so in the timeline, or the gap looks like the network's.
  const std::string& interface = capture_interface();
  record_event(side_member(Side::server), "note", common_.note(CommonNote{"capture_row"}, {{"interface", interface}}),
               common_.note(before_any_call ? CommonNote{"capture_armed_first"} : CommonNote{"capture_armed"},
                            {{"interface", interface},
                             {"port", std::to_string(server.port())},
                             {"ms", fmt::format("{:.1f}", *took_ms)}}));
}

}  // namespace socklab::demo
