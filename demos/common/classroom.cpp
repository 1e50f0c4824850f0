#include "classroom.hpp"

#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
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

}  // namespace

void Classroom::CaptureDeleter::operator()(capture::LiveCapture* c) const noexcept {
#if SOCKLAB_HAVE_PCAP
  delete c;
#else
  (void)c;
#endif
}

Classroom::Classroom(CommonOptions options, std::string demo, Lesson lesson, Lesson common, ReportStyle style)
    : options_(std::move(options)),
      demo_(std::move(demo)),
      lesson_(std::move(lesson)),
      common_(std::move(common)),
      style_(style) {}

Classroom::~Classroom() {
#if SOCKLAB_HAVE_PCAP
  if (capture_) (void)capture_->stop();
#endif
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
  const bool to_server = d.dport == port;
  const auto& ip = to_server ? d.ip.src : d.ip.dst;
  const std::string key = client_key(ip.version == 4 ? AF_INET : AF_INET6, ip.bytes.data(), to_server ? d.sport : d.dport);
  std::lock_guard lock(packets_mutex_);
  // After its run ended, a student's packets (the teardown, say) are shown to nobody.
  if (served_.contains(key)) return;
  packets_[key].push_back(capture::RawPacket{ts_ns, wire_len, std::move(bytes)});
}

Stage::SharedPackets Classroom::take_packets(const net::Endpoint& client) {
  Stage::SharedPackets out;
  out.link = link_;
#if SOCKLAB_HAVE_PCAP
  if (capture_) (void)capture_->flush();
#endif
  const std::string key = client_key(client);
  std::lock_guard lock(packets_mutex_);
  if (auto it = packets_.find(key); it != packets_.end()) {
    out.raw = std::move(it->second);
    packets_.erase(it);
  }
  served_[key] = true;
  // The run shows its own packets: the class's counts come in the summary.
  out.stats = {{"captured", out.raw.size()}, {"received", out.raw.size()}, {"dropped_by_kernel", 0}, {"dropped_by_interface", 0}};
  return out;
}

int Classroom::run(const std::function<void(Session&)>& lesson) {
  const std::string program = "demo-" + demo_;
  // Many students at once: a queue as long as the kernel allows (net.core.somaxconn).
  auto bound = net::TcpListener::bind(options_.listen_endpoint,
                                      {.backlog = 4096, .reuse_addr = true, .trace = {&setup_calls_, Side::server}});
  if (!bound) {
    std::fprintf(stderr, "%s: %s\n", program.c_str(), explain_bind_failure(bound.error(), options_.listen_endpoint, common_, options_.lang).c_str());
    return exit_failed;
  }
  listener_ = std::move(*bound);
  if (options_.capture) {
#if SOCKLAB_HAVE_PCAP
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
    interface_ = config.interface;
    auto started = start_capture(config, common_, rerun_command(options_, "", true), options_.lang);
    if (!started) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(),
                   common_.note(CommonNote{"capture_problem"}, {{"problem", started.error().text}}).c_str());
      return started.error().not_permitted ? exit_capture_not_permitted : exit_failed;
    }
    link_ = started->link_type();
    capture_.reset(new capture::LiveCapture(std::move(*started)));
#else
    std::fprintf(stderr, "%s: %s\n", program.c_str(), no_capture_support(common_).text.c_str());
    return exit_capture_not_permitted;
#endif
  }

  // Every thread started from here inherits the mask: only `signals` takes them.
  const sigset_t set = class_signals();
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &set, &old);
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
    changed_.wait(lock, [&] { return running_ == 0; });
  }
  runs.clear();
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
  std::string report;
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
          if (line.empty()) continue;
          nlohmann::ordered_json tagged = {{"client", client->to_string()}};
          const auto object = nlohmann::ordered_json::parse(line);
          for (const auto& [k, v] : object.items()) tagged[k] = v;
          report += tagged.dump() + "\n";
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
  runs_.push_back({client->to_string(), std::move(verdicts), failure});
  if (!options_.json && !options_.no_lesson && runs_.size() == 1) {
    // The title and the goal once, above the first student (a lesson refused at once prints nothing).
    std::string intro = lesson_.title() + "\n\n";
    for (const auto& line : capture::wrap(lesson_.goal(), style_.width)) intro += line + "\n";
    std::fputs(intro.c_str(), stdout);
  }
  if (!options_.json) {
    const std::string heading = common_.note(CommonNote{"class_student"}, {{"n", std::to_string(runs_.size())}, {"client", client->to_string()}});
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
    for (const auto* r : failed) failed_json.push_back({{"client", r->client}, {"message", *r->failure}});
    out["failed"] = failed_json;
    auto points_json = nlohmann::ordered_json::array();
    for (const auto& p : points) {
      auto differed = nlohmann::ordered_json::array();
      for (std::size_t i = 0; i < p.differed.size(); ++i) {
        nlohmann::ordered_json d = {{"client", p.differed[i]->client}, {"observed", p.their[i]->observed}};
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
  std::string text = "\n" + common_.note(final ? CommonNote{"class_summary"} : CommonNote{"class_summary_so_far"},
                                          {{"clients", std::to_string(runs_.size())}, {"failed", std::to_string(failed.size())}}) + "\n";
  if (runs_.empty()) text += common_.note(CommonNote{"class_nobody"}) + "\n";
  for (const auto& p : points) {
    text += "  " + common_.note(CommonNote{"class_point"}, {{"ok", std::to_string(p.ok)}, {"of", std::to_string(p.of)}, {"text", p.text}}) + "\n";
    for (std::size_t i = 0; i < p.differed.size(); ++i) {
      const Verdict& v = *p.their[i];
      text += "      " + common_.note(v.why.empty() ? CommonNote{"class_differed"} : CommonNote{"class_differed_why"},
                                      {{"client", p.differed[i]->client}, {"observed", render_value(v.observed)}, {"why", v.why}}) + "\n";
    }
  }
  for (const auto* r : failed)
    text += "  " + common_.note(CommonNote{"class_failed"}, {{"client", r->client}, {"message", *r->failure}}) + "\n";
  if (!stats.is_null()) {
    text += common_.note(CommonNote{"class_capture"}, {{"captured", stats["captured"].dump()}, {"dropped", stats["dropped_by_kernel"].dump()}}) + "\n";
  }
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace socklab::demo
