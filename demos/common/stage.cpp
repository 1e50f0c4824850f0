#include "stage.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <exception>
#include <set>
#include <thread>

#include "common_notes.hpp"
#include "error_text.hpp"
#include "server_setup.hpp"
#include "socklab/capture/pcap_writer.hpp"
#include "socklab/capture/pcapng_writer.hpp"
#include "socklab/capture/timeline.hpp"

#if SOCKLAB_HAVE_PCAP
#include "socklab/lab/lab_capture.hpp"
#endif

namespace socklab::demo {

namespace {

// The participant the current thread plays (set by play()), so end_capture() knows who calls.
thread_local const std::string* tl_member = nullptr;

}  // namespace

Stage::Stage(CommonOptions options, std::string demo, Lesson lesson, Lesson common)
    : options_(std::move(options)),
      demo_(std::move(demo)),
      lesson_(std::move(lesson)),
      common_(std::move(common)),
      findings_(lesson_) {}

Stage::~Stage() {
  // The captures hold packet sockets inside the lab's namespaces: closed before they go.
  capture_.reset();
  lab_capture_.reset();
}

void Stage::CaptureDeleter::operator()(capture::LiveCapture* c) const noexcept {
#if SOCKLAB_HAVE_PCAP
  delete c;
#else
  (void)c;  // never made without libpcap
#endif
}

void Stage::CaptureDeleter::operator()(lab::LabCapture* c) const noexcept {
#if SOCKLAB_HAVE_PCAP
  delete c;
#else
  (void)c;
#endif
}

std::string Stage::note(NoteKey key, const Values& values) const { return lesson_.note(key, values); }

void Stage::set_variant(std::string name, std::string flags) {
  variant_ = std::move(name);
  variant_flags_ = std::move(flags);
}

// ---- participants

const Stage::Member& Stage::side_member(Side side) {
  const std::string_view name = net::to_string(side);
  std::lock_guard lock(mutex_);
  for (const auto& m : members_)
    if (m.name == name) return m;
  return members_.emplace_back(Member{std::string(name), side, false});
}

const Stage::Member& Stage::member(std::string_view name) {
  std::lock_guard lock(mutex_);
  for (const auto& m : members_)
    if (m.name == name) return m;
  return members_.emplace_back(Member{std::string(name), Side::none, true});
}

net::Trace Stage::trace_of(const Member& m) noexcept {
  return net::Trace{&recorder_, m.side, m.named ? std::string_view(m.name) : std::string_view{}};
}

net::Trace Stage::trace(std::string_view participant) { return trace_of(member(participant)); }

std::vector<std::string> Stage::participants() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& m : members_) names.push_back(m.name);
  return names;
}

bool Stage::named_participants() const {
  std::lock_guard lock(mutex_);
  return std::any_of(members_.begin(), members_.end(), [](const Member& m) { return m.named; });
}

void Stage::show_columns(std::vector<std::string> columns) {
  std::lock_guard lock(mutex_);
  columns_ = std::move(columns);
}

std::vector<std::string> Stage::columns() const {
  {
    std::lock_guard lock(mutex_);
    if (!columns_.empty()) return columns_;
  }
  return participants();
}

std::map<std::string, std::string> Stage::column_of() const {
  std::map<std::string, std::string> out;
  if (!lab_) return out;
  for (const auto& node : lab_->nodes()) {
    for (const auto& i : node->interfaces()) {
      out[i.mac.str()] = node->name();
      if (!i.address.empty()) out[i.address.substr(0, i.address.find('/'))] = node->name();
    }
  }
  return out;
}

std::chrono::milliseconds Stage::patience() const noexcept { return std::chrono::seconds(10); }

void Stage::play(std::vector<Part> parts) {
  play_parts(parts);
  stop_capture();
}

void Stage::play_parts(const std::vector<Part>& parts) {
  std::exception_ptr first_failure;
  std::mutex failure_mutex;
  std::vector<const Member*> who;
  for (const auto& part : parts) who.push_back(&member(part.name));
  {
    std::lock_guard lock(mutex_);
    running_ = static_cast<int>(parts.size());
  }
  auto run_one = [&](std::size_t i) {
    const Member& m = *who[i];
    tl_member = &m.name;
    try {
      Actor actor{m.name, trace_of(m), parts[i].host};
      if (parts[i].host != nullptr) {
        parts[i].host->in_namespace([&] { parts[i].play(actor); });
      } else {
        parts[i].play(actor);
      }
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!first_failure) first_failure = std::current_exception();
    }
    part_done(m.name);
    tl_member = nullptr;
  };
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) threads.emplace_back(run_one, i);
    if (!parts.empty()) run_one(parts.size() - 1);
  }
  if (first_failure) std::rethrow_exception(first_failure);
}

void Stage::part_done(const std::string& name) {
  std::lock_guard lock(mutex_);
  capture_done_[name] = true;
  changed_.notify_all();
}

lab::Lab& Stage::lab() {
  if (lab_) return *lab_;
  if (!lab::has_lab_privilege()) {
    throw LabUnavailable(common_.note(CommonNote{"lab_missing_privilege"},
                                      {{"command", rerun_command(options_, "", true)}, {"program", own_program_file()}}));
  }
  lab_.emplace(lab::Lab::create());
  return *lab_;
}

// ---- observing

void Stage::record_state(std::string_view participant, net::TcpState state, NoteKey note, const Values& values) {
  record_event(participant, "state", std::string(net::to_string(state)), lesson_.note(note, values));
}

void Stage::record_note(std::string_view participant, std::string args, NoteKey note, const Values& values) {
  record_event(participant, "note", std::move(args), lesson_.note(note, values));
}

void Stage::record_event(std::string_view participant, std::string call, std::string args, std::string note_text) {
  record_event(member(participant), std::move(call), std::move(args), std::move(note_text));
}

void Stage::record_event(const Member& m, std::string call, std::string args, std::string note_text) {
  net::CallEvent ev;
  ev.t_ns = net::realtime_ns();
  ev.side = m.side;
  if (m.named) ev.participant = m.name;
  ev.call = std::move(call);
  ev.args = std::move(args);
  {
    std::lock_guard lock(mutex_);
    call_notes_[{m.name, ev.t_ns}] = std::move(note_text);
  }
  recorder_.record(std::move(ev));
}

std::string Stage::who(const net::CallEvent& e) const {
  return e.participant.empty() ? std::string(net::to_string(e.side)) : e.participant;
}

void Stage::explain(std::string_view participant, std::string_view call, NoteKey note, const Values& values) {
  if (!explain_latest(participant, call, lesson_.note(note, values))) {
    throw std::logic_error(
        fmt::format("explain: no \"{}\" call of {} to attach note \"{}\" to", call, participant, note.name()));
  }
}

void Stage::explain_text(std::string_view participant, std::string_view call, std::string text) {
  if (!explain_latest(participant, call, std::move(text))) {
    throw std::logic_error(fmt::format("explain: no \"{}\" call of {} to attach a note to", call, participant));
  }
}

bool Stage::explain_latest(std::string_view participant, std::string_view call, std::string text) {
  const auto events = recorder_.snapshot();
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    if (who(*it) == participant && it->call == call) {
      std::lock_guard lock(mutex_);
      call_notes_[{who(*it), it->t_ns}] = std::move(text);
      return true;
    }
  }
  return false;
}

void Stage::explain_packets(std::function<std::optional<std::string>(const capture::PacketRecord&)> notes) {
  packet_notes_ = std::move(notes);
}

void Stage::fold_packets(const std::function<std::optional<std::string>(const capture::PacketRecord&)>& group,
                         std::size_t shown) {
  std::map<std::string, std::vector<std::size_t>> floods;  // each group's packets, in order
  for (std::size_t i = 0; i < packets_.size(); ++i) {
    if (auto g = group(packets_[i])) floods[*g].push_back(i);
  }
  hidden_.assign(packets_.size(), false);
  left_out_.assign(packets_.size(), 0);
  for (const auto& [name, at] : floods) {
    if (at.size() <= shown + 1) continue;
    for (std::size_t k = shown; k + 1 < at.size(); ++k) hidden_[at[k]] = true;
    left_out_[at.back()] = at.size() - shown - 1;
  }
}

bool Stage::drawn(const capture::PacketRecord& p) const {
  return p.n == 0 || p.n > hidden_.size() || !hidden_[p.n - 1];
}

std::size_t Stage::left_out_before(const capture::PacketRecord& p) const {
  return p.n == 0 || p.n > left_out_.size() ? 0 : left_out_[p.n - 1];
}

// ---- the capture

bool Stage::capture(const CaptureSpec& spec) { return arm(spec).has_value(); }

void Stage::keep_own_packets(std::function<bool(const capture::DecodedPacket&)> own) { own_packet_ = std::move(own); }

void Stage::use_shared_capture(std::string interface, std::function<SharedPackets()> take) {
  shared_interface_ = std::move(interface);
  shared_take_ = std::move(take);
}

std::optional<double> Stage::arm(const CaptureSpec& spec) {
  if (!options_.capture || capture_ || lab_capture_ || capture_problem_) return std::nullopt;
  if (shared_take_) {
    if (captured_) return std::nullopt;
    captured_ = true;
    capture_interface_ = shared_interface_;
    return 0.0;
  }
#if SOCKLAB_HAVE_PCAP
  const std::int64_t t0 = net::realtime_ns();
  if (spec.kind == CaptureSpec::Kind::lab) {
    capture::LiveCaptureConfig base{.filter = spec.filter, .snaplen = 2048, .buffer_bytes = 1 << 20};
    auto started = lab::LabCapture::start(spec.places, base);
    if (!started) {
      capture_problem_ = error_text(started.error(), common_, options_.lang);
      return std::nullopt;
    }
    lab_capture_.reset(new lab::LabCapture(std::move(*started)));
    capture_interface_ = "lab";
  } else {
    auto config = capture_config_for(spec.server, options_.pcap_path);
    if (spec.also_port) config.filter = fmt::format("({}) or ({})", config.filter, capture::port_filter(*spec.also_port));
    if (options_.pcapng) config.write_to.clear();  // written after the lesson, with its notes
    capture_interface_ = config.interface;
    auto started = start_capture(config, common_, rerun_command(options_, "", true), options_.lang);
    if (!started) {
      capture_problem_ = std::move(started.error().text);
      capture_not_permitted_ = started.error().not_permitted;
      return std::nullopt;
    }
    capture_.reset(new capture::LiveCapture(std::move(*started)));
  }
  captured_ = true;
  return static_cast<double>(net::realtime_ns() - t0) / 1e6;
#else
  (void)spec;
  CaptureProblem problem = no_capture_support(common_);
  capture_problem_ = std::move(problem.text);
  capture_not_permitted_ = problem.not_permitted;
  return std::nullopt;
#endif
}

void Stage::end_capture() {
  const std::string name = tl_member != nullptr ? *tl_member : std::string{};
  std::unique_lock lock(mutex_);
  capture_done_[name] = true;
  changed_.notify_all();
  changed_.wait(lock, [&] {
    const auto done = std::count_if(capture_done_.begin(), capture_done_.end(), [](const auto& kv) { return kv.second; });
    return capture_stopped_ || done >= running_;
  });
  if (!capture_stopped_) {
    lock.unlock();
    stop_capture();
  }
}

bool Stage::wait_for_frame(std::string_view place, std::function<bool(const capture::RawPacket&)> match,
                           std::chrono::milliseconds timeout) {
#if SOCKLAB_HAVE_PCAP
  // Only before this participant's end_capture(): the capture cannot stop meanwhile.
  if (lab_capture_) return lab_capture_->wait_for(place, std::move(match), timeout);
#else
  (void)place, (void)match, (void)timeout;
#endif
  return false;
}

void Stage::stop_capture() {
  std::unique_lock lock(mutex_);
  if (capture_stopped_) return;
  capture_stopped_ = true;
  end_ns_ = net::realtime_ns();
  if (shared_take_ && captured_) {
    lock.unlock();  // the take waits for the capture thread
    auto shared = shared_take_();
    lock.lock();
    capture_link_ = shared.link;
    capture_stats_ = std::move(shared.stats);
    capture::RecordBuilder records(capture_link_);
    for (const auto& p : shared.raw) packets_.push_back(records.next(p));
    if (keep_raw_) raw_packets_ = std::move(shared.raw);
  }
#if SOCKLAB_HAVE_PCAP
  const bool keep = keep_raw_ || !options_.html_path.empty() || options_.pcapng ||
                    (lab_capture_ && !options_.pcap_path.empty());
  if (capture_) {
    auto stats = capture_->stop();
    if (!stats) {
      capture_problem_ = error_text(stats.error(), common_, options_.lang);
    } else {
      capture_stats_ = {{"captured", stats->captured},
                        {"received", stats->received},
                        {"dropped_by_kernel", stats->dropped_by_kernel},
                        {"dropped_by_interface", stats->dropped_by_interface}};
      if (!options_.pcap_path.empty() && !options_.pcapng) capture_stats_["pcap"] = options_.pcap_path;
    }
    const auto link = capture_->link_type();
    auto raw = capture_->take_packets();
    if (own_packet_) {
      std::erase_if(raw, [&](const capture::RawPacket& p) {
        return !own_packet_(capture::decode(link, p.bytes, p.wire_len, p.ts_ns));
      });
    }
    capture_link_ = link;
    if (keep) raw_packets_ = raw;
    capture::RecordBuilder records(link);
    packets_.reserve(raw.size());
    for (const auto& p : raw) packets_.push_back(records.next(p));
    capture_.reset();
  }
  if (lab_capture_) {
    const std::uint64_t sightings = lab_capture_->captured();
    auto events = lab_capture_->stop();
    if (!events) {
      capture_problem_ = error_text(events.error(), common_, options_.lang);
    } else {
      capture_stats_ = {{"captured", events->size()}, {"sightings", sightings}, {"dropped_by_kernel", 0}};
      capture_link_ = events->empty() ? capture::LinkType::ethernet : events->front().link;
      capture::RecordBuilder records(capture_link_);
      for (const auto& e : *events) {
        packets_.push_back(records.next(e.frame));
        std::vector<std::string> seen;
        for (const auto& s : e.seen) seen.push_back(s.place);
        places_.push_back(std::move(seen));
        if (keep) raw_packets_.push_back(e.frame);
      }
    }
    lab_capture_.reset();
  }
#endif
  changed_.notify_all();
}

const std::vector<std::string>& Stage::places_of(const capture::PacketRecord& p) const {
  static const std::vector<std::string> none;
  if (p.n == 0 || p.n > places_.size()) return none;
  return places_[p.n - 1];
}

void Stage::write_capture_file() {
  const bool lab_file = !places_.empty() && !options_.pcap_path.empty() && !options_.pcapng;
  if (!captured_ || capture_file_written_ || (!options_.pcapng && !lab_file)) return;
  capture_file_written_ = true;
  if (lab_file) {
    // A lab's captures are merged after the lesson: the file too is written then.
    auto writer = capture::PcapWriter::create(options_.pcap_path, capture_link_);
    if (!writer) {
      capture_problem_ = error_text(writer.error(), common_, options_.lang);
      return;
    }
    for (const auto& raw : raw_packets_)
      if (!writer->write(raw)) break;  // commit() says what was kept
    if (auto done = writer->commit(); !done) {
      capture_problem_ = error_text(done.error(), common_, options_.lang);
      return;
    }
    capture_stats_["pcap"] = options_.pcap_path;
    return;
  }
  const std::string program = "demo-" + demo_;
  auto writer = capture::PcapngWriter::create(
      options_.pcap_path,
      {.comment = common_.note(CommonNote{"pcapng_section"}, {{"program", program}, {"title", lesson_.title()}}),
       .application = program});
  if (!writer) {
    capture_problem_ = error_text(writer.error(), common_, options_.lang);
    return;
  }
  auto interface = writer->add_interface({.name = capture_interface_, .link = capture_link_});
  if (!interface) {
    capture_problem_ = error_text(interface.error(), common_, options_.lang);
    return;
  }
  // The calls between two packets, in the ladder's order: merge_timeline places them.
  std::vector<std::string> calls_since;
  for (const auto& entry : capture::merge_timeline(calls(), packets_)) {
    if (const auto* call = std::get_if<net::CallEvent>(&entry.event)) {
      if (!call->participant.empty()) {
        calls_since.push_back(common_.note(CommonNote{"pcapng_participant"},
                                           {{"participant", call->participant}, {"call", capture::call_label(*call)}}));
      } else {
        calls_since.push_back(common_.note(call->side == Side::server ? CommonNote{"pcapng_server"} : CommonNote{"pcapng_client"},
                                           {{"call", capture::call_label(*call)}}));
      }
      continue;
    }
    const auto& p = std::get<capture::PacketRecord>(entry.event);
    if (p.n == 0 || p.n > raw_packets_.size()) continue;
    std::vector<std::string> parts;
    if (const auto& seen = places_of(p); !seen.empty()) parts.push_back(fmt::format("{}", fmt::join(seen, " ")));
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
    capture_problem_ = error_text(done.error(), common_, options_.lang);
    return;
  }
  capture_stats_["pcap"] = options_.pcap_path;
}

std::vector<net::CallEvent> Stage::calls() const {
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

std::optional<std::string> Stage::call_note(const net::CallEvent& e) const {
  std::lock_guard lock(mutex_);
  const auto it = call_notes_.find({who(e), e.t_ns});
  if (it == call_notes_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Stage::packet_note(const capture::PacketRecord& p) const {
  if (!packet_notes_) return std::nullopt;
  return packet_notes_(p);
}

// ---- findings

Verdict& Stage::verdict(std::string name, nlohmann::json expected, nlohmann::json observed, NoteKey text,
                        const Values& values) {
  return findings_.verdict(std::move(name), std::move(expected), std::move(observed), text, values);
}

Verdict& Stage::verdict(std::string name, nlohmann::json expected, nlohmann::json observed, bool ok, NoteKey text,
                        const Values& values) {
  return findings_.verdict(std::move(name), std::move(expected), std::move(observed), ok, text, values);
}

void Stage::why(NoteKey reason, const Values& values) { findings_.why(reason, values); }

void Stage::fact(std::string name, nlohmann::json value, NoteKey text, const Values& values) {
  findings_.fact(std::move(name), std::move(value), text, values);
}

}  // namespace socklab::demo
