// Running programs from tests: a child process whose stdout and stderr a thread
// of the test reads as they come, so no pipe ever fills up and blocks the child,
// and the test waits for what the child says, never for a guessed time.
//
//   auto r = socklab::test::run({"/usr/bin/tcpdump", "-nn", "-r", file});  // to its end
//   REQUIRE(r.exit_code == 0);                                              // r.out, r.err
//
//   Process server({program, "--role", "server"});       // runs beside the test
//   server.wait_for_stderr("--port ");                    // a whole line with it (or its end, or the timeout)
//   ... talk to it ...
//   auto done = server.finish();                          // pipes closed, exit code
//
// Every wait has a limit: a child that hangs is killed and its exit_code is -1
// (timed_out), so a test fails with what the child said instead of hanging.
// The destructor kills a child still running.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

extern char** environ;

namespace socklab::test {

// How long a test waits for a child by default: generous, because it bounds a
// condition (a sanitizer build on a loaded machine is slow), never a sleep.
inline constexpr std::chrono::milliseconds process_patience{60'000};

struct RunResult {
  int exit_code = -1;      // the exit status, 128 + N for signal N, -1 when killed for taking too long
  bool timed_out = false;  // it was still running at the limit, and killed
  std::string out;
  std::string err;

  // stdout as JSON lines (every non-empty line must parse).
  [[nodiscard]] std::vector<nlohmann::json> json() const {
    std::vector<nlohmann::json> lines;
    for (const auto& line : out_lines()) {
      if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
  }
  [[nodiscard]] std::vector<std::string> out_lines() const {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < out.size()) {
      const std::size_t eol = std::min(out.find('\n', pos), out.size());
      lines.push_back(out.substr(pos, eol - pos));
      pos = eol + 1;
    }
    return lines;
  }
};

struct ProcessOptions {
  // Changes to this process's environment for the child; a value "" removes the variable.
  std::map<std::string, std::string> env{};
  // Written to the child's stdin, which is then closed; nullopt: stdin is /dev/null.
  std::optional<std::string> input{};
  // Start it with SIGINT ignored, as a shell starts a background job (`prog &`).
  bool sigint_ignored = false;
  // Its stdout (or stderr) is a pipe whose reader went away before it started,
  // as in `prog | head -0`: every write there fails with EPIPE, and raises
  // SIGPIPE, at its default. Not both: the other one tells when it ended.
  bool stdout_reader_gone = false;
  bool stderr_reader_gone = false;
};

// What a child said so far, as Process::wait_until() shows it.
struct ProcessOutput {
  std::string out;
  std::string err;
  bool ended = false;  // both pipes closed: the child exited (or closed them)
};

// The environment of this process with some variables changed (value "": removed).
inline std::vector<std::string> environment_with(const std::map<std::string, std::string>& changes) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string name(entry.substr(0, entry.find('=')));
    if (!changes.contains(name)) env.emplace_back(entry);
  }
  for (const auto& [name, value] : changes) {
    if (!value.empty()) env.push_back(name + "=" + value);
  }
  return env;
}

// A started program; a thread reads its stdout and stderr (and writes its input).
class Process {
 public:
  explicit Process(std::vector<std::string> argv, ProcessOptions options = {}) {
    if (argv.empty()) throw std::invalid_argument("Process: no program given");
    if (options.stdout_reader_gone && options.stderr_reader_gone)
      throw std::invalid_argument("Process: stdout or stderr may lose its reader, not both");
    if (options.sigint_ignored) {
      // posix_spawn can reset a signal to its default but not ignore it; the
      // shell can (`trap '' INT`), and exec keeps an ignored signal ignored.
      argv.insert(argv.begin(), {"/bin/sh", "-c", "trap '' INT; exec \"$0\" \"$@\""});
    }
    std::array<int, 2> in{-1, -1}, out{-1, -1}, err{-1, -1};
    if (::pipe2(out.data(), O_CLOEXEC) != 0 || ::pipe2(err.data(), O_CLOEXEC) != 0 ||
        (options.input && ::pipe2(in.data(), O_CLOEXEC) != 0)) {
      const int e = errno;
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) {
        if (fd >= 0) ::close(fd);
      }
      throw std::runtime_error(std::string("pipe: ") + std::strerror(e));
    }
    // Closed before the child starts, so even its first write finds no reader.
    for (auto [gone, pipe] : {std::pair{options.stdout_reader_gone, &out}, std::pair{options.stderr_reader_gone, &err}}) {
      if (!gone) continue;
      ::close((*pipe)[0]);
      (*pipe)[0] = -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (options.input) {
      posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    } else {
      posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    // The child starts with SIGPIPE at its default and no signal blocked, whatever the test did.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults, none;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    auto env = environment_with(options.env);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, args[0], &actions, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int fd : {in[0], out[1], err[1]}) {
      if (fd >= 0) ::close(fd);
    }
    if (rc != 0) {
      for (int fd : {in[1], out[0], err[0]}) {
        if (fd >= 0) ::close(fd);
      }
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    if (::pipe2(wake_.data(), O_CLOEXEC) != 0) wake_ = {-1, -1};  // then only EOF ends the reader
    reader_ = std::thread([this, in_fd = in[1], out_fd = out[0], err_fd = err[0], input = std::move(options.input)] {
      pump(in_fd, out_fd, err_fd, input.value_or(""));
    });
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    stop_reader();
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // Sends a signal while the child runs (SIGTERM, SIGINT, ...).
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // Waits until `done` holds for the output so far, or the output ended, or the
  // timeout passed; returns `done`'s last answer. `done` runs with the reader
  // paused: keep it short.
  bool wait_until(const std::function<bool(const ProcessOutput&)>& done,
                  std::chrono::milliseconds timeout = process_patience) {
    std::unique_lock lock(mutex_);
    bool answer = false;
    changed_.wait_for(lock, timeout, [&] {
      answer = done(output_);
      return answer || output_.ended;
    });
    return answer;
  }
  // Reads the output so far under the reader's lock (for a caller that keeps its own view of it).
  void inspect(const std::function<void(const ProcessOutput&)>& look) const {
    std::lock_guard lock(mutex_);
    look(output_);
  }

  // Waits until a whole line of stderr contains `text` (the child writes it
  // when it is ready), or stderr ended, or the timeout passed. Returns stderr so far.
  std::string wait_for_stderr(std::string_view text, std::chrono::milliseconds timeout = process_patience) {
    wait_until(
        [&](const ProcessOutput& o) {
          const auto at = o.err.find(text);
          return at != std::string::npos && o.err.find('\n', at) != std::string::npos;
        },
        timeout);
    return err();
  }
  [[nodiscard]] std::string out() const {
    std::lock_guard lock(mutex_);
    return output_.out;
  }
  [[nodiscard]] std::string err() const {
    std::lock_guard lock(mutex_);
    return output_.err;
  }

  // Waits for both pipes to close and for the exit. A child still running
  // after `limit` is killed: exit_code -1, timed_out. Once only.
  RunResult finish(std::chrono::milliseconds limit = process_patience) {
    if (pid_ <= 0) throw std::logic_error("Process::finish: called twice");
    RunResult r;
    const bool ended = wait_until([](const ProcessOutput& o) { return o.ended; }, limit);
    if (!ended) {
      ::kill(pid_, SIGKILL);
      r.timed_out = true;
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    stop_reader();  // a grandchild may still hold the pipes: stop reading anyway
    r.exit_code = r.timed_out ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::lock_guard lock(mutex_);
    r.out = output_.out;
    r.err = output_.err;
    if (r.timed_out) r.err += "\n[the test killed it: still running after " + std::to_string(limit.count()) + " ms]\n";
    return r;
  }

 private:
  // The reader: writes `input` to stdin (then closes it), appends stdout and
  // stderr to output_, until both close or stop_reader() wakes it.
  void pump(int in_fd, int out_fd, int err_fd, const std::string& input) {
    std::size_t written = 0;
    if (in_fd >= 0) {
      ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
      // A child that exits without reading its input makes write() fail with
      // EPIPE; the SIGPIPE that comes with it stays blocked on this thread
      // (and goes with it), so it cannot end the test.
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    }
    std::array<char, 65536> buf{};
    for (;;) {
      if (in_fd >= 0 && written == input.size()) {
        ::close(in_fd);  // all written: the child reads EOF after it
        in_fd = -1;
      }
      if (out_fd < 0 && err_fd < 0) break;
      std::array<pollfd, 4> fds{{{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}, {wake_[0], POLLIN, 0}}};
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[3].revents != 0) break;  // stop_reader()
      if (fds[2].revents != 0) {
        const ssize_t n = ::write(in_fd, input.data() + written, input.size() - written);
        if (n > 0) {
          written += static_cast<std::size_t>(n);
        } else if (errno != EINTR && errno != EAGAIN) {
          written = input.size();  // the child closed its stdin (EPIPE): the rest is not wanted
        }
      }
      for (std::size_t i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        std::lock_guard lock(mutex_);
        if (n > 0) {
          (i == 0 ? output_.out : output_.err).append(buf.data(), static_cast<std::size_t>(n));
        } else {
          ::close(fds[i].fd);
          (i == 0 ? out_fd : err_fd) = -1;
        }
        changed_.notify_all();
      }
    }
    for (int fd : {in_fd, out_fd, err_fd}) {
      if (fd >= 0) ::close(fd);
    }
    std::lock_guard lock(mutex_);
    output_.ended = true;
    changed_.notify_all();
  }

  void stop_reader() {
    if (reader_.joinable()) {
      if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
      reader_.join();
    }
    for (int& fd : wake_) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }

  pid_t pid_ = -1;
  std::array<int, 2> wake_{-1, -1};  // written by stop_reader() to end the reader
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  ProcessOutput output_;
  std::thread reader_;
};

// Runs a program to its end: its exit code, stdout and stderr (killed after `limit`).
inline RunResult run(std::vector<std::string> argv, ProcessOptions options = {},
                     std::chrono::milliseconds limit = process_patience) {
  return Process(std::move(argv), std::move(options)).finish(limit);
}

}  // namespace socklab::test
