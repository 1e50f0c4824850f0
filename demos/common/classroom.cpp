#include "classroom.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <sstream>
#include <thread>

#include "common_notes.hpp"
#include "error_text.hpp"
#include "render.hpp"
#include "server_setup.hpp"
#include "socklab/capture/packet.hpp"
#include "socklab/capture/terminal.hpp"

#if SOCKLAB_HAVE_PCAP
#include "socklab/capture/live.hpp"
#endif

namespace socklab::demo {

namespace {

// One key for a student's address, from a socket's endpoint or a packet's header.
std::string client_key(int family, const void* address, std::uint16_t port) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, address, text, sizeof text);
  return fmt::format("{}|{}", text, port);
}

std::string client_key(const net::Endpoint& e) {
  std::array<std::uint8_t, 16> bytes{};
  ::inet_pton(e.family(), e.address().c_str(), bytes.data());
  return client_key(e.family(), bytes.data(), e.port());
}

// A report printed into memory, so that runs ending together never interleave.
std::string printed(const std::function<void(std::FILE*)>& print) {
  char* data = nullptr;
  std::size_t size = 0;
  std::FILE* f = ::open_memstream(&data, &size);
  if (f == nullptr) throw DemoFailure(net::system_error(errno, "open_memstream"));
  print(f);
  std::fclose(f);
  std::string out(data, size);
  std::free(data);
  return out;
}

// SIGINT and SIGTERM end the class; SIGUSR1 tells the waiting thread the class ended by itself.
sigset_t class_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  return set;
}

// A student's run on a listener of its own holds about eight descriptors while it
// lasts (demo-backlog: its handle on the class port, the student's connection there,
// its listener, six accepted connections), so 200 students at once need more than
// the usual soft limit of 1024: it goes up to the hard limit.
void raise_descriptor_limit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur >= files.rlim_max) return;
  files.rlim_cur = files.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &files);
}

}  // namespace

void Classroom::CaptureDeleter::operator()(capture::LiveCapture* c) const noexcept {
#if SOCKLAB_HAVE_PCAP
  delete c;
#else
  (void)c;
#endif
}

Classroom::Classroom(CommonOptions options, std::string demo, Lesson lesson, Lesson common, ReportStyle style, bool udp)
    : options_(std::move(options)),
      demo_(std::move(demo)),
      lesson_(std::move(lesson)),
      common_(std::move(common)),
      style_(style),
      udp_(udp) {}

Classroom::~Classroom() {
#if SOCKLAB_HAVE_PCAP
  if (capture_) (void)capture_->stop();
#endif
  if (udp_wake_ >= 0) ::close(udp_wake_);
}

bool Classroom::capturing() const noexcept { return capture_ != nullptr; }

bool Classroom::first_announce() {
  std::lock_guard lock(mutex_);
  return !std::exchange(announced_, true);
}

void Classroom::taken(const net::Endpoint& client) {
  {
    std::lock_guard lock(packets_mutex_);
    served_.erase(client_key(client));  // the same address and port again: a new connection
  }
  std::lock_guard lock(mutex_);
  waiting_ = false;
  changed_.notify_all();
}

void Classroom::route(std::int64_t ts_ns, std::uint32_t wire_len, std::vector<std::uint8_t> bytes) {
  const auto d = capture::decode(link_, bytes, wire_len, ts_ns);
  if (d.reached < capture::Layer::transport || (d.proto != capture::Proto::tcp && d.proto != capture::Proto::udp)) return;
  const std::uint16_t port = listener_.endpoint().port();
  if (student_ports_ && d.dport != port && d.sport != port) {
    route_to_student_port(d, capture::RawPacket{ts_ns, wire_len, std::move(bytes)});
    return;
  }
  const bool to_server = d.dport == port;
  const auto& ip = to_server ? d.ip.src : d.ip.dst;
  const std::string key = client_key(ip.version == 4 ? AF_INET : AF_INET6, ip.bytes.data(), to_server ? d.sport : d.dport);
  std::lock_guard lock(packets_mutex_);
  // A UDP class's datagram from a student: kept apart, for the run that reads it
  // (take_packets), also after an earlier run of that ADDR:PORT ended (UDP has no
  // teardown: it is a new student's).
  if (udp_ && to_server && d.proto == capture::Proto::udp) {
    datagrams_[key].push_back(capture::RawPacket{ts_ns, wire_len, std::move(bytes)});
    return;
  }
  // After its run ended, a student's packets (the teardown, say) are shown to nobody.
  if (served_.contains(key)) return;
  packets_[key].push_back(capture::RawPacket{ts_ns, wire_len, std::move(bytes)});
}

void Classroom::route_to_student_port(const capture::DecodedPacket& d, capture::RawPacket packet) {
  std::lock_guard lock(packets_mutex_);
  // The run's side of the packet: the port a run holds, in its protocol (a port not held: shown to nobody).
  auto held = port_packets_.find(d.dport);
  if (held == port_packets_.end() || held->second.proto != d.proto) held = port_packets_.find(d.sport);
  if (held != port_packets_.end() && held->second.proto == d.proto) held->second.packets.push_back(std::move(packet));
}

std::pair<std::uint16_t, std::uint16_t> Classroom::student_ports() const noexcept {
  const std::uint32_t first = listener_.endpoint().port() + 1U;
  const std::uint32_t last = std::min<std::uint32_t>(first + kStudentPorts - 1U, 65535U);
  if (first > 65535U) return {1, 0};
  return {static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)};
}

template <typename Socket>
std::optional<Socket> Classroom::take_student_port(capture::Proto proto,
                                                   const std::function<net::Result<Socket>(const net::Endpoint&)>& bind) {
  const auto [first, last] = student_ports();
  const std::size_t count = last >= first ? last - first + 1U : 0U;
  std::lock_guard lock(packets_mutex_);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t at = (next_student_port_ + i) % count;
    const auto port = static_cast<std::uint16_t>(first + at);
    if (port_packets_.contains(port)) continue;  // another run's
    auto bound = bind(listener_.endpoint().with_port(port));
    if (!bound) continue;  // another program's
    next_student_port_ = at + 1;
    port_packets_[port] = {proto, {}};  // held: its packets are kept from now on
    return std::move(*bound);
  }
  return std::nullopt;
}

std::optional<net::TcpListener> Classroom::student_listener(net::ListenOptions opts) {
  opts.reuse_addr = true;
  return take_student_port<net::TcpListener>(capture::Proto::tcp,
                                             [&](const net::Endpoint& at) { return net::TcpListener::bind(at, opts); });
}

std::optional<net::UdpSocket> Classroom::student_udp(net::UdpOptions opts) {
  return take_student_port<net::UdpSocket>(capture::Proto::udp,
                                           [&](const net::Endpoint& at) { return net::UdpSocket::bind(at, opts); });
}

Stage::SharedPackets Classroom::run_packets(std::vector<capture::RawPacket> raw) const {
  Stage::SharedPackets out;
  out.link = link_;
  out.raw = std::move(raw);
  // In the order they came into the stack (their timestamps: see run()), not the
  // order the capture saw them in.
  std::stable_sort(out.raw.begin(), out.raw.end(), [](const auto& a, const auto& b) { return a.ts_ns < b.ts_ns; });
  // The run shows its own packets: the class's counts come in the summary.
  out.stats = {{"captured", out.raw.size()}, {"received", out.raw.size()}, {"dropped_by_kernel", 0}, {"dropped_by_interface", 0}};
  return out;
}

Stage::SharedPackets Classroom::take_port_packets(std::uint16_t port) {
#if SOCKLAB_HAVE_PCAP
  if (capture_) (void)capture_->flush();
#endif
  std::vector<capture::RawPacket> raw;
  {
    std::lock_guard lock(packets_mutex_);
    if (auto it = port_packets_.find(port); it != port_packets_.end()) raw = std::exchange(it->second.packets, {});
  }
  return run_packets(std::move(raw));
}

void Classroom::return_port(std::uint16_t port) {
  std::lock_guard lock(packets_mutex_);
  port_packets_.erase(port);
}

Stage::SharedPackets Classroom::merged(std::vector<Stage::SharedPackets> parts) const {
  std::vector<capture::RawPacket> raw;
  for (auto& part : parts) std::move(part.raw.begin(), part.raw.end(), std::back_inserter(raw));
  return run_packets(std::move(raw));
}

Stage::SharedPackets Classroom::take_packets(const net::Endpoint& client) {
#if SOCKLAB_HAVE_PCAP
  if (capture_) (void)capture_->flush();
#endif
  const std::string key = client_key(client);
  // A UDP run's datagrams are those up to the last it read: a classmate on the
  // same machine who got the port after the student left sends later ones, which
  // wait in the class socket's queue behind the student's (the capture and the
  // socket see a datagram with the same timestamp).
  std::optional<std::int64_t> last_read;
  if (udp_) {
    std::lock_guard lock(mutex_);
    if (auto it = udp_students_.find(key); it != udp_students_.end()) last_read = it->second->last_ts;
  }
  std::vector<capture::RawPacket> raw;
  {
    std::lock_guard lock(packets_mutex_);
    if (auto it = packets_.find(key); it != packets_.end()) {
      raw = std::move(it->second);
      packets_.erase(it);
    }
    if (auto it = datagrams_.find(key); it != datagrams_.end()) {
      auto& queued = it->second;
      const auto later = last_read ? std::stable_partition(queued.begin(), queued.end(), [&](const auto& p) { return p.ts_ns <= *last_read; })
                                   : queued.end();
      std::move(queued.begin(), later, std::back_inserter(raw));
      queued.erase(queued.begin(), later);
      if (queued.empty()) datagrams_.erase(it);
    }
    served_[key] = true;
  }
  return run_packets(std::move(raw));
}

int Classroom::run(const std::function<void(Session&)>& lesson) {
  const std::string program = "demo-" + demo_;
  // Many students at once: a queue as long as the kernel allows (net.core.somaxconn).
  const net::ListenOptions listen_options{.backlog = 4096, .reuse_addr = true, .trace = {&setup_calls_, Side::server}};
  if (udp_) {
    // The students' own sockets share the port with the class's: SO_REUSEADDR on every one.
    auto both = bind_udp_and_tcp(options_.listen_endpoint, {.reuse_addr = true, .trace = {&udp_setup_calls_, Side::server}},
                                 listen_options);
    if (!both) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(), explain_bind_failure(both.error(), options_.listen_endpoint, common_, options_.lang).c_str());
      return exit_failed;
    }
    udp_socket_ = std::move(both->udp);
    udp_socket_.set_trace({});  // each run reads and answers through a share with its own trace
    listener_ = std::move(both->tcp);
    // Room for a whole class's datagrams sent at once, beyond net.core.rmem_max where privileged.
    const int room = 8 << 20;
    if (::setsockopt(udp_socket_.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof room) != 0) {
      (void)::setsockopt(udp_socket_.fd(), SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
    }
    // Each datagram's time, the same the capture gives its packet: a run's packets are its datagrams' (take_packets).
    const int on = 1;
    udp_wake_ = ::eventfd(0, EFD_CLOEXEC);
    if (::setsockopt(udp_socket_.fd(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0 || udp_wake_ < 0) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(), error_text(net::system_error(errno, "SO_TIMESTAMPNS/eventfd"), common_, options_.lang).c_str());
      return exit_failed;
    }
    // The student's TCP connection is taken by port number, whenever it came.
    dispatching_ = true;
  } else {
    auto bound = net::TcpListener::bind(options_.listen_endpoint, listen_options);
    if (!bound) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(), explain_bind_failure(bound.error(), options_.listen_endpoint, common_, options_.lang).c_str());
      return exit_failed;
    }
    listener_ = std::move(*bound);
  }
  if (student_ports_) raise_descriptor_limit();
  // Every thread started from here (the capture's too) inherits the mask: only
  // `signals` below takes them. A thread started before it would take SIGINT
  // with its default action, and the class would end without its summary.
  const sigset_t set = class_signals();
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &set, &old);
  if (options_.capture) {
#if SOCKLAB_HAVE_PCAP
    // Packets stamped as they enter the stack (SO_TIMESTAMPNS on any socket turns
    // the kernel's receive timestamps on): a student's packets then carry the
    // order they were sent in, also when the kernel took them in on two CPUs and
    // the capture saw them the other way round. Each run sorts its packets by it.
    const int on = 1;
    (void)::setsockopt(listener_.fd(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    auto config = capture_config_for(listener_.endpoint(), "");
    // Students on other machines come in through the network interfaces, not lo.
    config.interface = is_loopback_address(listener_.endpoint()) ? "lo" : "any";
    // The packets go to their students' runs as they come; none is kept twice.
    config.keep_packets = false;
    // Each slot of the ring is as large as the snapshot length: with the headers
    // and the first 2 KiB of each packet (its preview and lengths are what the
    // ladder shows; no file is written) 32 MiB holds a class's packets many times.
    config.snaplen = 2048;
    config.buffer_bytes = 32 << 20;
    config.sink = [this](const capture::RawPacket& p) { route(p.ts_ns, p.wire_len, p.bytes); };
    if (student_ports_) {
      const auto [first, last] = student_ports();
      if (last >= first) config.filter = fmt::format("({}) or (portrange {}-{})", config.filter, first, last);
    }
    interface_ = config.interface;
    auto started = start_capture(config, common_, rerun_command(options_, "", true), options_.lang);
    if (!started) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      std::fprintf(stderr, "%s: %s\n", program.c_str(),
                   common_.note(CommonNote{"capture_problem"}, {{"problem", started.error().text}}).c_str());
      return started.error().not_permitted ? exit_capture_not_permitted : exit_failed;
    }
    link_ = started->link_type();
    capture_.reset(new capture::LiveCapture(std::move(*started)));
#else
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    std::fprintf(stderr, "%s: %s\n", program.c_str(), no_capture_support(common_).text.c_str());
    return exit_capture_not_permitted;
#endif
  }

  std::thread signals([this, set] {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGUSR1) return;
    std::lock_guard lock(mutex_);
    stopping_ = true;
    // A listening socket shut down wakes the run waiting in accept() or poll().
    ::shutdown(listener_.fd(), SHUT_RD);
    changed_.notify_all();
  });

  std::jthread datagrams;
  if (udp_) datagrams = std::jthread([this] { dispatch_datagrams(); });
  // A UDP class, or two connections per student: one thread accepts them all (see classroom.hpp).
  std::thread dispatcher;
  if (dispatching_) dispatcher = std::thread([this] { dispatch(); });

  std::vector<std::jthread> runs;
  std::size_t admitted = 0;
  for (;;) {
    std::unique_lock lock(mutex_);
    if (stopping_ || no_student_ || (options_.serve != 0 && admitted >= options_.serve)) break;
    waiting_ = true;
    ++running_;
    runs.emplace_back([this, &lesson] { serve_one(lesson); });
    changed_.wait(lock, [&] { return !waiting_ || stopping_; });
    if (!waiting_ && !no_student_) ++admitted;
  }
  {
    std::unique_lock lock(mutex_);
    udp_closed_ = true;  // a new sender now has no run to take them
    changed_.notify_all();
    changed_.wait(lock, [&] { return running_ == 0; });
    udp_done_ = true;
    changed_.notify_all();
  }
  runs.clear();
  if (udp_) {
    const std::uint64_t one = 1;
    (void)!::write(udp_wake_, &one, sizeof one);
    datagrams.join();
  }
  if (dispatcher.joinable()) {
    {
      std::lock_guard lock(mutex_);
      dispatch_ended_ = true;  // the accept() that fails next is the end, not an error
    }
    ::shutdown(listener_.fd(), SHUT_RD);
    dispatcher.join();
  }
  pthread_kill(signals.native_handle(), SIGUSR1);
  signals.join();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  if (no_student_) {
    try {
      std::rethrow_exception(no_student_);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "%s: %s\n%s\n", program.c_str(), e.what(),
                   common_.note(CommonNote{"usage_hint"}, {{"program", program}}).c_str());
      return exit_usage;
    } catch (const std::exception& e) {
      if (!stopping_) {
        std::fprintf(stderr, "%s: %s\n", program.c_str(),
                     common_.note(CommonNote{"failed"}, {{"message", failure_text(e, common_, options_.lang)}}).c_str());
        return exit_failed;
      }
    }
  }
  print_summary(true);
  return exit_ok;
}

void Classroom::serve_one(const std::function<void(Session&)>& lesson) {
  CommonOptions options = options_;
  options.no_lesson = true;  // the title and the goal were printed once, for the class
  std::optional<std::string> failure;
  std::exception_ptr error;
  std::optional<net::Endpoint> client;
  std::vector<Verdict> verdicts;
  std::string report;                         // the text report
  std::vector<nlohmann::ordered_json> objects;  // or the JSON one, tagged when printed
  {
    Session s(options, demo_, lesson_, common_, *this);
    try {
      lesson(s);
    } catch (const std::exception& e) {
      failure = failure_text(e, common_, options_.lang);
      error = std::current_exception();
    }
    client = s.class_client();
    if (client) {
      if (options_.json) {
        const std::string lines = printed([&](std::FILE* f) { print_json_report(f, s, failure); });
        std::istringstream in(lines);
        for (std::string line; std::getline(in, line);) {
          if (!line.empty()) objects.push_back(nlohmann::ordered_json::parse(line));
        }
      } else {
        report = printed([&](std::FILE* f) { print_text_report(f, s, common_, style_, failure); });
      }
    }
    std::lock_guard lock(mutex_);
    if (!client) {
      // The class ended while this run waited, or the lesson could not start at all.
      if (waiting_ && !stopping_) no_student_ = error;
      waiting_ = false;
      --running_;
      changed_.notify_all();
      return;
    }
    verdicts = s.verdicts();
  }
  // One lock from the record to the print: the student's number and the
  // summaries' counts are those of this run.
  std::lock_guard lock(mutex_);
  const std::size_t number = runs_.size() + 1;
  runs_.push_back({number, client->to_string(), std::move(verdicts), failure});
  // Each object says whose run it is: the student's address, and their number
  // (an address and port can come back: a classmate on the same machine may get
  // the port of a student who left).
  for (const auto& object : objects) {
    nlohmann::ordered_json tagged = {{"client", client->to_string()}, {"student", number}};
    for (const auto& [k, v] : object.items()) tagged[k] = v;
    report += tagged.dump() + "\n";
  }
  if (!options_.json && !options_.no_lesson && runs_.size() == 1) {
    // The title and the goal once, above the first student (a lesson refused at once prints nothing).
    std::string intro = lesson_.title() + "\n\n";
    for (const auto& line : capture::wrap(lesson_.goal(), style_.width)) intro += line + "\n";
    std::fputs(intro.c_str(), stdout);
  }
  if (!options_.json) {
    const std::string heading = common_.note(CommonNote{"class_student"}, {{"n", std::to_string(number)}, {"client", client->to_string()}});
    const char* rule = style_.ascii ? "==" : "━━";
    std::fprintf(stdout, "\n%s %s %s\n\n", rule, heading.c_str(), rule);
  }
  std::fputs(report.c_str(), stdout);
  if (failure && !options_.json) {
    std::fprintf(stdout, "%s\n", common_.note(CommonNote{"failed"}, {{"message", *failure}}).c_str());
  }
  if (options_.summary_every != 0 && runs_.size() % options_.summary_every == 0) print_summary(false);
  std::fflush(stdout);
  --running_;
  changed_.notify_all();
}

void Classroom::dispatch_datagrams() {
  const int fd = udp_socket_.fd();
  for (;;) {
    std::unique_lock lock(mutex_);
    if (udp_done_) return;
    // Whose is the next datagram? Peeked, not read: its run reads it.
    sockaddr_storage from{};
    std::byte first{};
    iovec iov{&first, 1};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(timespec))> control{};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    if (::recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT) < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return;
      lock.unlock();
      std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {udp_wake_, POLLIN, 0}}};
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
      continue;
    }
    std::int64_t arrived_ns = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
        arrived_ns = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
      }
    }
    auto sender = net::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&from), msg.msg_namelen);
    const std::string key = sender ? client_key(*sender) : std::string();
    if (auto it = udp_students_.find(key); sender && it != udp_students_.end()) {
      // Theirs: their run reads it, with its own buffer (a truncation is the kernel's).
      const auto student = it->second;
      student->head = true;
      student->head_ts = arrived_ns;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !student->head || !udp_students_.contains(key) || udp_done_; });
      continue;  // read; or its run ended without reading it: a new run's then
    }
    // A new sender: the student of the run that waits for one.
    changed_.wait(lock, [&] { return udp_wanted_ || udp_closed_ || stopping_ || udp_done_; });
    std::optional<net::UdpSocket> shared;
    if (sender && udp_wanted_) {
      if (auto s = udp_socket_.share({})) shared = std::move(*s);
    }
    if (!shared) {
      // No run takes a new student any more: the datagram goes unread.
      (void)::recv(fd, &first, 1, MSG_DONTWAIT);
      continue;
    }
    auto student = std::make_shared<UdpStudent>();
    student->peer = *sender;
    student->key = key;
    student->socket = std::move(*shared);
    udp_students_[key] = student;
    udp_offer_ = std::move(student);
    udp_wanted_ = false;
    changed_.notify_all();
    // The next turn hands the datagram to their run.
  }
}

std::shared_ptr<UdpStudent> Classroom::next_udp_student(net::Trace trace) {
  std::unique_lock lock(mutex_);
  udp_wanted_ = true;
  changed_.notify_all();
  changed_.wait(lock, [&] { return udp_offer_ != nullptr || stopping_; });
  udp_wanted_ = false;
  if (!udp_offer_) return nullptr;
  udp_offer_->socket.set_trace(trace);
  return std::exchange(udp_offer_, nullptr);
}

net::Result<net::UdpSocket::Datagram> Classroom::udp_recv(UdpStudent& student, std::span<std::byte> buf,
                                                          std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock lock(mutex_);
  const auto ready = [&] { return student.head || stopping_; };
  if (!timeout) {
    changed_.wait(lock, ready);
  } else if (!changed_.wait_for(lock, *timeout, ready)) {
    return std::unexpected(net::make_error(net::errc::timed_out, "recvfrom",
                                           "no datagram within " + std::to_string(timeout->count()) + " ms"));
  }
  if (!student.head) throw DemoFailure(common_.note(CommonNote{"class_ended_datagram"}));
  // At the head of the class socket's queue (peeked): recvfrom() returns at once.
  auto d = student.socket.recv_from(buf);
  student.last_ts = std::max(student.last_ts, student.head_ts);
  student.head = false;
  changed_.notify_all();
  return d;
}

void Classroom::udp_release(UdpStudent& student) {
  std::lock_guard lock(mutex_);
  if (auto it = udp_students_.find(student.key); it != udp_students_.end() && it->second.get() == &student) {
    udp_students_.erase(it);
  }
  // The run's share of the class socket closes now, untraced: the class socket
  // stays, and the run's trace ends with the run (the datagrams thread may hold
  // the student a moment longer).
  student.socket.set_trace({});
  student.socket = net::UdpSocket{};
  changed_.notify_all();
}

void Classroom::dispatch() {
  // Each accept() is recorded apart, for the run that takes the connection.
  net::CallRecorder accepts;
  auto handle = listener_.share({&accepts, Side::server, net::to_string(Side::server)});
  for (;;) {
    net::Result<net::TcpListener::Accepted> got = handle ? handle->accept() : std::unexpected(handle.error());
    std::vector<net::CallEvent> calls = accepts.snapshot();
    accepts.clear();
    std::lock_guard lock(mutex_);
    if (!got) {
      // A connection reset while it waited in the queue: nobody's loss.
      if (got.error().errno_value() == ECONNABORTED) continue;
      if (!dispatch_ended_ && !stopping_) dispatch_error_ = std::make_exception_ptr(DemoFailure(got.error()));
      dispatch_ended_ = true;
      changed_.notify_all();
      return;
    }
    got->stream.set_trace({});
    Handed handed{std::move(*got), std::move(calls)};
    const std::string key = client_key(handed.accepted.peer);
    if (auto it = expected_.find(key); it != expected_.end() && !it->second) {
      it->second = std::move(handed);
    } else if (udp_) {
      parked_.insert_or_assign(key, std::move(handed));  // one left from an earlier connection of that port: closed
    } else {
      newcomers_.push_back(std::move(handed));
    }
    changed_.notify_all();
  }
}

std::optional<Classroom::Handed> Classroom::take_connection(const net::Endpoint& student, std::chrono::milliseconds patience) {
  const std::string key = client_key(student);
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, patience, [&] { return parked_.contains(key) || dispatch_ended_ || stopping_; });
  auto it = parked_.find(key);
  if (it == parked_.end()) {
    if (stopping_ || dispatch_ended_) throw DemoFailure(common_.note(CommonNote{"class_ended"}));
    return std::nullopt;
  }
  Handed c = std::move(it->second);
  parked_.erase(it);
  return c;
}

Classroom::Handed Classroom::next_student() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !newcomers_.empty() || dispatch_ended_ || stopping_; });
  if (newcomers_.empty()) {
    if (dispatch_error_) std::rethrow_exception(dispatch_error_);
    throw DemoFailure(common_.note(CommonNote{"class_ended"}));
  }
  Handed out = std::move(newcomers_.front());
  newcomers_.erase(newcomers_.begin());
  return out;
}

bool Classroom::expect(const net::Endpoint& from) {
  const std::string key = client_key(from);
  {
    std::lock_guard lock(packets_mutex_);
    served_.erase(key);  // an earlier run's connection from there: this one's SYN is not that one's
  }
  std::lock_guard lock(mutex_);
  return expected_.try_emplace(key).second;
}

std::optional<Classroom::Handed> Classroom::second_connection(const net::Endpoint& from, std::chrono::milliseconds patience) {
  const std::string key = client_key(from);
  std::unique_lock lock(mutex_);
  auto& slot = expected_[key];
  changed_.wait_for(lock, patience, [&] { return slot.has_value() || dispatch_ended_ || stopping_; });
  std::optional<Handed> out = std::move(slot);
  expected_.erase(key);  // came or not, this run waits no more: a late one is nobody's
  if (!out && (stopping_ || dispatch_ended_)) throw DemoFailure(common_.note(CommonNote{"class_ended"}));
  return out;
}

Stage::SharedPackets Classroom::take_packets(const std::vector<net::Endpoint>& connections) {
  std::vector<Stage::SharedPackets> parts;
  for (const auto& c : connections) parts.push_back(take_packets(c));
  return merged(std::move(parts));
}

void Classroom::print_summary(bool final) {
  // Each lesson point in the order the runs made them, with the students who saw otherwise.
  struct Point {
    std::string name, text;
    std::size_t ok = 0, of = 0;
    std::vector<const ClientRun*> differed;
    std::vector<const Verdict*> their;
  };
  std::vector<Point> points;
  std::vector<const ClientRun*> failed;
  for (const auto& run : runs_) {
    if (run.failure) failed.push_back(&run);
    for (const auto& v : run.verdicts) {
      auto it = std::find_if(points.begin(), points.end(), [&](const Point& p) { return p.name == v.name; });
      if (it == points.end()) it = points.insert(points.end(), Point{.name = v.name, .text = {}, .differed = {}, .their = {}});
      ++it->of;
      if (v.ok) {
        ++it->ok;
        if (it->text.empty()) it->text = v.text;
      } else {
        it->differed.push_back(&run);
        it->their.push_back(&v);
      }
    }
  }
  for (auto& p : points)
    if (p.text.empty() && !p.their.empty()) p.text = p.their.front()->text;
  nlohmann::json stats = nullptr;
#if SOCKLAB_HAVE_PCAP
  // The kernel's counts so far: drops mean some student's ladder misses packets.
  if (final && capture_) {
    if (auto st = capture_->stop()) {
      stats = {{"captured", st->captured}, {"received", st->received}, {"dropped_by_kernel", st->dropped_by_kernel},
               {"dropped_by_interface", st->dropped_by_interface}};
    }
  }
#endif
  if (options_.json) {
    nlohmann::ordered_json out = {{"kind", "class_summary"}, {"final", final}, {"clients", runs_.size()}};
    auto failed_json = nlohmann::ordered_json::array();
    for (const auto* r : failed) failed_json.push_back({{"client", r->client}, {"student", r->number}, {"message", *r->failure}});
    out["failed"] = failed_json;
    auto points_json = nlohmann::ordered_json::array();
    for (const auto& p : points) {
      auto differed = nlohmann::ordered_json::array();
      for (std::size_t i = 0; i < p.differed.size(); ++i) {
        nlohmann::ordered_json d = {{"client", p.differed[i]->client}, {"student", p.differed[i]->number}, {"observed", p.their[i]->observed}};
        if (!p.their[i]->why.empty()) d["why"] = p.their[i]->why;
        differed.push_back(d);
      }
      points_json.push_back({{"name", p.name}, {"ok", p.ok}, {"of", p.of}, {"differed", differed}});
    }
    out["points"] = points_json;
    if (!stats.is_null()) out["capture"] = stats;
    std::fprintf(stdout, "%s\n", out.dump().c_str());
    std::fflush(stdout);
    return;
  }
  // Each line wrapped to the terminal's width, its continuation indented two more.
  std::string text = "\n";
  const auto add = [&](std::size_t indent, const std::string& line) {
    const std::size_t room = style_.width > indent + 2 + 20 ? style_.width - indent - 2 : 20;
    const auto lines = capture::wrap(line, room);
    for (std::size_t i = 0; i < lines.size(); ++i) text += std::string(indent + (i == 0 ? 0 : 2), ' ') + lines[i] + "\n";
  };
  add(0, common_.note(final ? CommonNote{"class_summary"} : CommonNote{"class_summary_so_far"},
                      {{"clients", std::to_string(runs_.size())}, {"failed", std::to_string(failed.size())}}));
  if (runs_.empty()) add(0, common_.note(CommonNote{"class_nobody"}));
  for (const auto& p : points) {
    add(2, common_.note(CommonNote{"class_point"}, {{"ok", std::to_string(p.ok)}, {"of", std::to_string(p.of)}, {"text", p.text}}));
    for (std::size_t i = 0; i < p.differed.size(); ++i) {
      const Verdict& v = *p.their[i];
      add(6, common_.note(v.why.empty() ? CommonNote{"class_differed"} : CommonNote{"class_differed_why"},
                          {{"client", p.differed[i]->client}, {"observed", render_value(v.observed)}, {"why", v.why}}));
    }
  }
  for (const auto* r : failed) add(2, common_.note(CommonNote{"class_failed"}, {{"client", r->client}, {"message", *r->failure}}));
  if (!stats.is_null()) {
    add(0, common_.note(CommonNote{"class_capture"}, {{"captured", stats["captured"].dump()}, {"dropped", stats["dropped_by_kernel"].dump()}}));
  }
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace socklab::demo
