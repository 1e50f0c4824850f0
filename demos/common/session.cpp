#include "session.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <thread>

#include "common_notes.hpp"
#include "render.hpp"
#include "socklab/capture/pcapng_writer.hpp"
#include "socklab/capture/timeline.hpp"
#include "server_setup.hpp"

namespace socklab::demo {

namespace {

// The side the current thread plays (set by run()), so end_capture() knows who calls.
thread_local Side tl_side = Side::none;

}  // namespace

Session::Session(CommonOptions options, std::string demo, Lesson lesson, Lesson common)
    : options_(std::move(options)), demo_(std::move(demo)), lesson_(std::move(lesson)), common_(std::move(common)) {}

Session::~Session() = default;

void Session::LiveCaptureDeleter::operator()(capture::LiveCapture* c) const noexcept {
#if SOCKLAB_HAVE_PCAP
  delete c;
#else
  (void)c;  // never made without libpcap
#endif
}

std::string Session::note(NoteKey key, const Values& values) const { return lesson_.note(key, values); }

void Session::set_variant(std::string name, std::string flags) {
  variant_ = std::move(name);
  variant_flags_ = std::move(flags);
}

bool Session::plays(Side side) const noexcept {
  switch (options_.role) {
    case Role::both: return side != Side::none;
    case Role::server: return side == Side::server;
    case Role::client: return side == Side::client;
  }
  return false;
}

net::Trace Session::trace(Side side) noexcept { return net::Trace{&recorder_, side}; }

std::chrono::milliseconds Session::patience() const noexcept { return std::chrono::seconds(10); }

std::optional<std::chrono::milliseconds> Session::accept_patience() const noexcept {
  if (options_.role == Role::server) return std::nullopt;
  return patience();
}

void Session::run(const std::function<void()>& server, const std::function<void()>& client) {
  std::exception_ptr first_failure;
  std::mutex failure_mutex;
  auto play = [&](Side side, const std::function<void()>& part) {
    tl_side = side;
    try {
      part();
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!first_failure) first_failure = std::current_exception();
    }
    side_done(side);
  };

  {
    std::lock_guard lock(mutex_);
    sides_running_ = (plays(Side::server) ? 1 : 0) + (plays(Side::client) ? 1 : 0);
  }
  // A lone client knows its server's port from the start: arm before its first SYN.
  if (options_.role == Role::client) arm_capture(options_.server_endpoint);
  // A server on a port given with --port can be reached by another process the
  // moment it listens, before announce(): arm first. (An ephemeral port is
  // known to nobody until announce() prints it, after arming.)
  if (options_.role == Role::server && options_.listen_endpoint.port() != 0) arm_capture(options_.listen_endpoint);

  if (options_.role == Role::both) {
    std::jthread server_thread(play, Side::server, std::cref(server));
    play(Side::client, client);
  } else if (options_.role == Role::server) {
    play(Side::server, server);
  } else {
    play(Side::client, client);
  }

  stop_capture();
  if (first_failure) std::rethrow_exception(first_failure);
}

void Session::side_done(Side side) {
  std::lock_guard lock(mutex_);
  if (side == Side::server && !announced_) {
    server_failed_ = true;  // a client waiting for the port must not wait forever
  }
  capture_done_[side] = true;
  changed_.notify_all();
}

std::string Session::explain_bind_failure(const net::Error& e) const {
  return demo::explain_bind_failure(e, options_.listen_endpoint, common_);
}

net::TcpListener Session::listen(net::ListenOptions opts) {
  auto listener = listen_unannounced(std::move(opts));
  announce(listener.endpoint());
  return listener;
}

net::TcpListener Session::listen_unannounced(net::ListenOptions opts) {
  opts.trace = trace(Side::server);
  auto listener = net::TcpListener::bind(options_.listen_endpoint, opts);
  if (!listener) throw DemoFailure(explain_bind_failure(listener.error()));
  return std::move(*listener);
}

net::Socket Session::reserve_port() {
  const net::Trace t = trace(Side::server);
  const net::Endpoint at = options_.listen_endpoint;
  const int fd = ::socket(at.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw DemoFailure(net::system_error(errno, "socket").message());
  net::Socket owner(fd, t);
  const std::int64_t t0 = t.start();
  const int rc = ::bind(fd, at.data(), at.size());
  const int err = rc != 0 ? errno : 0;
  auto bound = owner.local_endpoint();
  net::CallEvent ev;
  ev.call = "bind";
  ev.args = bound ? bound->to_string() : at.to_string();
  ev.result = rc;
  ev.err = err;
  ev.local = ev.args;
  t.finish(t0, std::move(ev));
  if (rc != 0) throw DemoFailure(explain_bind_failure(net::system_error(err, "bind " + at.to_string())));
  announce(must(std::move(bound)));
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
  if (options_.role == Role::server) {
    const auto command = [&](const std::string& host) {
      std::string c = fmt::format("demo-{} --role client --host {} --port {}", demo_, host, bound.port());
      if (!variant_flags_.empty()) c += " " + variant_flags_;
      if (options_.lang == Lang::zh) c += " --lang zh";
      return c;
    };
    std::fprintf(stderr, "%s\n", server_ready_text(bound, common_, command).c_str());
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
  record_event(side, "state", std::string(net::to_string(state)), lesson_.note(note, values));
}

void Session::record_note(Side side, std::string args, NoteKey note, const Values& values) {
  record_event(side, "note", std::move(args), lesson_.note(note, values));
}

std::string Session::queue_label(const net::ListenQueue& q) const {
  return common_.note(CommonNote{"accept_queue_row"}, {{"length", std::to_string(q.length)}, {"limit", std::to_string(q.limit)}});
}

void Session::record_event(Side side, std::string call, std::string args, std::string note_text) {
  net::CallEvent ev;
  ev.t_ns = net::realtime_ns();
  ev.side = side;
  ev.call = std::move(call);
  ev.args = std::move(args);
  {
    std::lock_guard lock(mutex_);
    call_notes_[{side, ev.t_ns}] = std::move(note_text);
  }
  recorder_.record(std::move(ev));
}

void Session::explain(Side side, std::string_view call, NoteKey note, const Values& values) {
  const auto events = recorder_.snapshot();
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    if (it->side == side && it->call == call) {
      const std::string text = lesson_.note(note, values);
      std::lock_guard lock(mutex_);
      call_notes_[{side, it->t_ns}] = text;
      return;
    }
  }
  throw std::logic_error(fmt::format("explain: no \"{}\" call on the {} side to attach note \"{}\" to", call,
                                     net::to_string(side), note.name()));
}

void Session::explain_packets(std::function<std::optional<std::string>(const capture::PacketRecord&)> notes) {
  packet_notes_ = std::move(notes);
}

bool Session::capturing() const noexcept { return captured_; }

void Session::arm_capture(const net::Endpoint& server) {
  if (!options_.capture || capture_ || capture_problem_) return;
#if SOCKLAB_HAVE_PCAP
  auto config = capture_config_for(server, options_.pcap_path);
  if (options_.pcapng) config.write_to.clear();  // written after the lesson, with its notes
  capture_interface_ = config.interface;
  // Notes and states of our own are not calls: a server may say what its port is first.
  const auto so_far = recorder_.snapshot();
  const bool before_any_call = std::none_of(so_far.begin(), so_far.end(), [](const net::CallEvent& e) {
    return e.call != "note" && e.call != "state";
  });
  const std::int64_t t0 = net::realtime_ns();
  auto started = start_capture(config, common_, rerun_command(options_, "", true));
  if (started) {
    capture_.reset(new capture::LiveCapture(std::move(*started)));
    captured_ = true;
    // Mapping the capture ring takes milliseconds, far longer than the calls
    // around it: say so in the timeline, or the gap looks like the network's.
    const std::int64_t took_us = (net::realtime_ns() - t0) / 1000;
    record_event(Side::server, "note", common_.note(CommonNote{"capture_row"}, {{"interface", config.interface}}),
                 common_.note(before_any_call ? CommonNote{"capture_armed_first"} : CommonNote{"capture_armed"},
                              {{"interface", config.interface},
                               {"port", std::to_string(server.port())},
                               {"ms", fmt::format("{:.1f}", static_cast<double>(took_us) / 1000.0)}}));
    return;
  }
  CaptureProblem problem = std::move(started.error());
#else
  (void)server;
  CaptureProblem problem = no_capture_support(common_);
#endif
  capture_problem_ = std::move(problem.text);
  capture_not_permitted_ = problem.not_permitted;
}

void Session::end_capture() {
  const Side side = tl_side;
  std::unique_lock lock(mutex_);
  capture_done_[side] = true;
  changed_.notify_all();
  changed_.wait(lock, [&] {
    const auto done = std::count_if(capture_done_.begin(), capture_done_.end(), [](const auto& kv) { return kv.second; });
    return capture_stopped_ || done >= sides_running_;
  });
  if (!capture_stopped_) {
    lock.unlock();
    stop_capture();
  }
}

void Session::stop_capture() {
  std::unique_lock lock(mutex_);
  if (capture_stopped_) return;
  capture_stopped_ = true;
  end_ns_ = net::realtime_ns();
#if SOCKLAB_HAVE_PCAP
  if (capture_) {
    auto stats = capture_->stop();
    if (!stats) {
      capture_problem_ = stats.error().message();
    } else {
      capture_stats_ = {{"captured", stats->captured},
                        {"received", stats->received},
                        {"dropped_by_kernel", stats->dropped_by_kernel},
                        {"dropped_by_interface", stats->dropped_by_interface}};
      if (!options_.pcap_path.empty() && !options_.pcapng) capture_stats_["pcap"] = options_.pcap_path;
    }
    const auto link = capture_->link_type();
    const auto raw = capture_->take_packets();
    capture_link_ = link;
    if (options_.pcapng || !options_.html_path.empty()) raw_packets_ = raw;
    capture::RecordBuilder records(link);
    packets_.reserve(raw.size());
    for (const auto& p : raw) packets_.push_back(records.next(p));
    capture_.reset();
  }
#endif
  changed_.notify_all();
}

void Session::write_capture_file() {
  if (!options_.pcapng || !captured_ || capture_file_written_) return;
  capture_file_written_ = true;
  const std::string program = "demo-" + demo_;
  auto writer = capture::PcapngWriter::create(
      options_.pcap_path,
      {.comment = common_.note(CommonNote{"pcapng_section"}, {{"program", program}, {"title", lesson_.title()}}),
       .application = program});
  if (!writer) {
    capture_problem_ = writer.error().message();
    return;
  }
  auto interface = writer->add_interface({.name = capture_interface_, .link = capture_link_});
  if (!interface) {
    capture_problem_ = interface.error().message();
    return;
  }
  // The calls between two packets, in the ladder's order: merge_timeline places them.
  std::vector<std::string> calls_since;
  for (const auto& entry : capture::merge_timeline(calls(), packets_)) {
    if (const auto* call = std::get_if<net::CallEvent>(&entry.event)) {
      calls_since.push_back(common_.note(call->side == Side::server ? CommonNote{"pcapng_server"} : CommonNote{"pcapng_client"},
                                         {{"call", capture::call_label(*call)}}));
      continue;
    }
    const auto& p = std::get<capture::PacketRecord>(entry.event);
    if (p.n == 0 || p.n > raw_packets_.size()) continue;
    std::vector<std::string> parts;
    if (const auto phase = capture::to_string(p.phase); !phase.empty())
      parts.push_back(common_.note(CommonNote{"pcapng_phase"}, {{"phase", std::string(phase)}}));
    if (p.analysis != 0)
      parts.push_back(common_.note(CommonNote{"pcapng_analysis"},
                                   {{"flags", fmt::format("{}", fmt::join(capture::analysis_names(p.analysis), ", "))}}));
    if (auto note = packet_note(p)) parts.push_back(*note);
    if (!calls_since.empty())
      parts.push_back(common_.note(CommonNote{"pcapng_calls"}, {{"calls", fmt::format("{}", fmt::join(calls_since, "; "))}}));
    calls_since.clear();
    const auto& raw = raw_packets_[p.n - 1];
    if (auto w = writer->write(*interface, raw.ts_ns, raw.bytes, raw.wire_len, fmt::format("{}", fmt::join(parts, " | "))); !w)
      break;  // commit() says what was kept
  }
  if (auto done = writer->commit(); !done) {
    capture_problem_ = done.error().message();
    return;
  }
  capture_stats_["pcap"] = options_.pcap_path;
}

std::vector<net::CallEvent> Session::calls() const {
  auto events = recorder_.snapshot();
  std::lock_guard lock(mutex_);
  if (end_ns_ != 0) {
    std::erase_if(events, [&](const net::CallEvent& e) { return e.t_ns > end_ns_; });
  }
  // Recorded when each call ended; shown in the order they started.
  std::stable_sort(events.begin(), events.end(),
                   [](const net::CallEvent& a, const net::CallEvent& b) { return a.t_ns < b.t_ns; });
  return events;
}

std::optional<std::string> Session::call_note(const net::CallEvent& e) const {
  std::lock_guard lock(mutex_);
  const auto it = call_notes_.find({e.side, e.t_ns});
  if (it == call_notes_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Session::packet_note(const capture::PacketRecord& p) const {
  if (!packet_notes_) return std::nullopt;
  return packet_notes_(p);
}

Verdict& Session::verdict(std::string name, nlohmann::json expected, nlohmann::json observed, NoteKey text,
                          const Values& values) {
  const bool ok = expected == observed;
  return verdict(std::move(name), std::move(expected), std::move(observed), ok, text, values);
}

Verdict& Session::verdict(std::string name, nlohmann::json expected, nlohmann::json observed, bool ok,
                          NoteKey text, const Values& values) {
  Values all = values;
  all.emplace_back("expected", render_value(expected));
  all.emplace_back("observed", render_value(observed));
  Verdict v{std::move(name), std::move(expected), std::move(observed), ok, lesson_.note(text, all), {}};
  order_.push_back({true, verdicts_.size()});
  verdicts_.push_back(std::move(v));
  return verdicts_.back();
}

void Session::why(NoteKey reason, const Values& values) {
  if (verdicts_.empty()) throw std::logic_error("why() before any verdict()");
  verdicts_.back().why = lesson_.note(reason, values);
}

void Session::fact(std::string name, nlohmann::json value, NoteKey text, const Values& values) {
  Values all = values;
  all.emplace_back("value", render_value(value));
  order_.push_back({false, facts_.size()});
  facts_.push_back(Fact{std::move(name), std::move(value), lesson_.note(text, all)});
}

}  // namespace socklab::demo
