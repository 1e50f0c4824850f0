// demo-chat under test: the server as a child process whose JSON lines are read
// as they come (waited for, never slept for), scripted clients fed through
// stdin, and raw protocol clients that behave as badly as a test needs.
//
//   ChatServer server({"--max-message", "100"});        // demo-chat server --json ...
//   RawChatClient alice(server.endpoint(), "alice");      // welcomed when this returns
//   alice.send_text("hi");
//   auto seen = alice.next_frame();                      // {"type":"message",...}
//   server.wait_for([](const json& e) { return e["kind"] == "leave"; });
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo_runner.hpp"
#include "socklab/net.hpp"

namespace socklab::test {

// How long a test waits for something the other side must do: a bound on a
// condition, never a sleep (a sanitizer build on a loaded machine is slow).
inline constexpr std::chrono::milliseconds chat_patience{30'000};

// `demo-chat server --json --port 0 ARGS...`, its stdout read line by line on a thread.
class ChatServerProcess {
 public:
  explicit ChatServerProcess(const std::vector<std::string>& args, const std::string& program = DEMO_CHAT) {
    std::vector<std::string> argv{program, "server", "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const auto env = environment_with({{"LANG", "C.UTF-8"}, {"LC_ALL", ""}, {"LC_MESSAGES", ""}});
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
      ::close(out_pipe[0]);
      ::close(err_pipe[0]);
      throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
    }
    reader_ = std::thread([this, out = out_pipe[0], err = err_pipe[0]] { read_pipes(out, err); });
    const auto listening = wait_for([](const nlohmann::json& e) { return e.value("kind", "") == "listening"; });
    if (!listening) throw std::runtime_error("demo-chat server did not start: " + stderr_text());
    endpoint_ = net::value_or_throw(net::Endpoint::parse((*listening)["endpoint"].get<std::string>()));
  }
  ChatServerProcess(const ChatServerProcess&) = delete;
  ChatServerProcess& operator=(const ChatServerProcess&) = delete;
  ~ChatServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
  }

  [[nodiscard]] const net::Endpoint& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // The first event from index `from` on that satisfies `match`, waiting for it.
  std::optional<nlohmann::json> wait_for(const std::function<bool(const nlohmann::json&)>& match,
                                         std::size_t from = 0,
                                         std::chrono::milliseconds patience = chat_patience) {
    std::unique_lock lock(mutex_);
    std::optional<nlohmann::json> found;
    const auto seen = [&] {
      for (std::size_t i = from; i < events_.size(); ++i) {
        if (match(events_[i])) {
          found = events_[i];
          return true;
        }
      }
      from = events_.size();
      return closed_;
    };
    changed_.wait_for(lock, patience, seen);
    return found;
  }
  // Waits for the n-th (from 1) event of a kind, e.g. the 200th "leave".
  std::optional<nlohmann::json> wait_for_count(std::string_view kind, std::size_t n,
                                               std::chrono::milliseconds patience = chat_patience) {
    std::size_t count = 0;
    return wait_for([&](const nlohmann::json& e) { return e.value("kind", "") == kind && ++count == n; }, 0, patience);
  }
  [[nodiscard]] std::vector<nlohmann::json> events(std::string_view kind = {}) const {
    std::lock_guard lock(mutex_);
    std::vector<nlohmann::json> out;
    for (const auto& e : events_)
      if (kind.empty() || e.value("kind", "") == kind) out.push_back(e);
    return out;
  }
  [[nodiscard]] std::size_t event_count() const {
    std::lock_guard lock(mutex_);
    return events_.size();
  }
  [[nodiscard]] std::string stderr_text() const {
    std::lock_guard lock(mutex_);
    return err_;
  }

  // SIGTERM (as Ctrl-C would), then the exit code once stdout closed.
  int stop() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  void read_pipes(int out, int err) {
    std::string partial;
    std::array<pollfd, 2> fds{{{out, POLLIN, 0}, {err, POLLIN, 0}}};
    std::array<char, 65536> buf{};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
        if (n <= 0) {
          if (n < 0 && errno == EINTR) continue;
          ::close(fds[i].fd);
          fds[i].fd = -1;
          continue;
        }
        std::lock_guard lock(mutex_);
        if (i == 1) {
          err_.append(buf.data(), static_cast<std::size_t>(n));
          continue;
        }
        partial.append(buf.data(), static_cast<std::size_t>(n));
        std::size_t pos = 0;
        for (std::size_t eol; (eol = partial.find('\n', pos)) != std::string::npos; pos = eol + 1) {
          events_.push_back(nlohmann::json::parse(partial.substr(pos, eol - pos), nullptr, false));
        }
        partial.erase(0, pos);
        changed_.notify_all();
      }
    }
    std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }

  pid_t pid_ = -1;
  net::Endpoint endpoint_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<nlohmann::json> events_;
  std::string err_;
  bool closed_ = false;
};

// A client speaking the chat protocol directly ('!I' frames unless told otherwise).
class RawChatClient {
 public:
  // Connects and, with a name, sends it and waits for the welcome.
  explicit RawChatClient(const net::Endpoint& server, std::optional<std::string> name = std::nullopt,
                         net::LengthPrefix prefix = net::LengthPrefix::network_uint32())
      : stream_(net::value_or_throw(net::TcpStream::connect(server, {.timeout = chat_patience}))),
        codec_(prefix, 1 << 20) {
    if (name) {
      send_text(*name);
      auto w = next_frame();
      if (!w || w->value("type", "") != "welcome") throw std::runtime_error("no welcome for " + *name);
      name_ = (*w)["name"].get<std::string>();
    }
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] net::TcpStream& stream() noexcept { return stream_; }

  void send_text(std::string_view text) {
    net::value_or_throw(net::write_frame(stream_, codec_, std::as_bytes(std::span(text.data(), text.size()))));
  }
  void send_bytes(std::span<const std::byte> raw) { net::value_or_throw(stream_.send_all(raw)); }

  // The next frame from the server as JSON; nullopt at EOF (or a reset).
  std::optional<nlohmann::json> next_frame(std::chrono::milliseconds patience = chat_patience) {
    for (;;) {
      if (!frames_.empty()) {
        auto f = std::move(frames_.front());
        frames_.erase(frames_.begin());
        return f;
      }
      if (eof_) return std::nullopt;
      if (auto ready = stream_.wait_readable(patience); !ready) throw std::runtime_error(ready.error().message());
      std::array<std::byte, 65536> buf{};
      auto got = stream_.recv_some(buf);
      if (!got || *got == 0) {
        eof_ = true;
        reset_ = !got && got.error().errno_value() == ECONNRESET;
        continue;
      }
      auto fed = net::feed(codec_, std::span<const std::byte>(buf).first(*got), [&](const net::Frame& f) {
        frames_.push_back(nlohmann::json::parse(f.text()));
      });
      if (!fed) throw std::runtime_error(fed.error().message());
    }
  }
  // Frames until one satisfies `match` (returned), or EOF (nullopt).
  std::optional<nlohmann::json> frame_where(const std::function<bool(const nlohmann::json&)>& match) {
    while (auto f = next_frame())
      if (match(*f)) return f;
    return std::nullopt;
  }
  // Everything up to the server's close: the frames, and whether it ended in a reset.
  std::vector<nlohmann::json> frames_until_closed() {
    std::vector<nlohmann::json> all;
    while (auto f = next_frame()) all.push_back(std::move(*f));
    return all;
  }
  [[nodiscard]] bool was_reset() const noexcept { return reset_; }

 private:
  net::TcpStream stream_;
  net::LengthPrefixCodec codec_;
  std::string name_;
  std::vector<nlohmann::json> frames_;
  bool eof_ = false;
  bool reset_ = false;
};

// `demo-chat client ARGS...` with `script` on its stdin (a pipe: scripted mode).
inline RunResult run_chat_client(const std::vector<std::string>& args, const std::string& script,
                                 const std::string& program = DEMO_CHAT) {
  std::vector<std::string> argv{program, "client"};
  argv.insert(argv.end(), args.begin(), args.end());
  // A client that exits early (bad usage, nobody listening) must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const auto env = environment_with({{"LANG", "C.UTF-8"}, {"LC_ALL", ""}, {"LC_MESSAGES", ""}, {"NO_COLOR", ""}});
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) throw std::runtime_error("cannot start " + program + ": " + std::strerror(rc));
  // The script is small (a pipe holds 64 KiB): write it whole, then EOF.
  (void)!::write(in_pipe[1], script.data(), script.size());
  ::close(in_pipe[1]);
  RunResult r;
  std::array<pollfd, 2> fds{{{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}}};
  std::array<char, 4096> buf{};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace socklab::test
