#include "live_log.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include <fmt/format.h>

#include "common_notes.hpp"
#include "error_text.hpp"
#include "socklab/capture/terminal.hpp"
#include "socklab/net/call_recorder.hpp"

namespace socklab::demo {

namespace {

void write_all(int fd, std::string_view text, bool& broken) {
  while (!text.empty() && !broken) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      broken = true;  // EPIPE (nobody reads any more), EIO: the rest of the log has nowhere to go
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

SystemFailure::SystemFailure(int err, std::string call)
    : std::runtime_error(call), error(net::system_error(err, std::move(call))) {}

LiveLog::LiveLog(Style style, const Lesson& lesson, const Lesson& common, Lang lang)
    : style_(style), lesson_(lesson), common_(common), lang_(lang),
      width_(static_cast<std::size_t>(std::max(capture::terminal_width(STDOUT_FILENO), 40))),
      start_ns_(net::realtime_ns()) {
  if (!style_.never_block) return;
  idle_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (idle_fd_ < 0) throw SystemFailure(errno, "eventfd");
  writer_ = std::thread([this] { write_queued(); });
}

LiveLog::~LiveLog() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    writer_.join();
  }
  if (idle_fd_ >= 0) ::close(idle_fd_);
}

std::string LiveLog::error(const net::Error& e) const { return error_text(e, common_, lang_); }

double LiveLog::seconds_since_start(std::optional<std::int64_t> at_ns) const {
  return static_cast<double>(at_ns.value_or(net::realtime_ns()) - start_ns_) / 1e9;
}

void LiveLog::event(std::string_view kind, nlohmann::json fields, const std::string& text,
                    std::optional<std::int64_t> at_ns) {
  put(STDOUT_FILENO, make_line(kind, std::move(fields), text, at_ns));
}

void LiveLog::tell(const std::string& text) { put(STDERR_FILENO, wrapped(text, "")); }

void LiveLog::lesson_header(std::string_view demo, std::string_view role, bool capturing, bool no_lesson) {
  if (style_.json) {
    event("lesson", {{"demo", demo}, {"role", role}, {"lang", to_string(lang_)}, {"title", lesson_.title()},
                     {"capture", capturing}}, "");
  } else if (!no_lesson) {
    put(STDOUT_FILENO, wrapped(lesson_.title(), "") + "\n" + wrapped(lesson_.goal(), "") + "\n");
  }
}

std::uint64_t LiveLog::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_total_;
}

void LiveLog::stop_dropping() {
  std::lock_guard lock(mutex_);
  unbounded_ = true;
}

bool LiveLog::drain(int signal_fd) {
  if (!style_.never_block) return true;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty() && !writing_) return true;
    }
    std::array<pollfd, 2> fds{{{idle_fd_, POLLIN, 0}, {signal_fd, POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return false;
    if (fds[1].revents != 0) return false;
    std::uint64_t count = 0;
    if (fds[0].revents != 0) (void)!::read(idle_fd_, &count, sizeof count);
  }
}

std::string LiveLog::make_line(std::string_view kind, nlohmann::json fields, const std::string& text,
                               std::optional<std::int64_t> at_ns) const {
  const double t = seconds_since_start(at_ns);
  if (style_.json) {
    fields["kind"] = kind;
    fields["t"] = std::round(t * 1e6) / 1e6;
    return fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return wrapped(text, style_.timestamps ? fmt::format("{:12.6f}  ", t) : "");
}

// `text` after `first`, wrapped to the terminal's width (80 when not a terminal)
// as every demo wraps; later lines are indented under the text.
std::string LiveLog::wrapped(std::string_view text, std::string_view first) const {
  std::string out;
  const auto lines = capture::wrap(text, width_ - first.size());
  for (std::size_t i = 0; i < lines.size(); ++i)
    out += (i == 0 ? std::string(first) : std::string(first.size(), ' ')) + lines[i] + "\n";
  return out;
}

void LiveLog::put(int fd, std::string text) {
  std::unique_lock lock(mutex_);
  if (!style_.never_block) {
    write_all(fd, text, broken_[fd == STDERR_FILENO ? 1 : 0]);
    return;
  }
  if (queued_bytes_ + text.size() > kLogQueueBytes && !unbounded_) {
    ++dropped_total_;
    if (!queue_.empty() && queue_.back().dropped > 0) ++queue_.back().dropped;
    else queue_.push_back({fd, {}, 1});
    return;
  }
  queued_bytes_ += text.size();
  queue_.push_back({fd, std::move(text), 0});
  lock.unlock();
  wake_.notify_one();
}

void LiveLog::write_queued() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= p.text.size();
    writing_ = true;
    lock.unlock();
    if (p.dropped > 0) {
      p.text = make_line("log_dropped", {{"lines", p.dropped}},
                         common_.note(CommonNote{"log_dropped"}, {{"lines", std::to_string(p.dropped)}}), {});
    }
    write_all(p.fd, p.text, broken_[p.fd == STDERR_FILENO ? 1 : 0]);
    lock.lock();
    writing_ = false;
    if (queue_.empty()) {
      const std::uint64_t one = 1;
      (void)!::write(idle_fd_, &one, sizeof one);
    }
  }
}

}  // namespace socklab::demo
