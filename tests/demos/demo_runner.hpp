// Runs the built demo programs the way a user does, and reads their JSON lines.
//
//   auto r = run_demo({DEMO_TEARDOWN, "--json", "--merged"});
//   REQUIRE(r.exit_code == 0);
//   auto v = verdicts(r.json());           // name -> {"expected","observed","ok",...}
//
// Programs are started with posix_spawn, stdout and stderr read through pipes
// until both close (poll, so neither pipe can fill up and block the child).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

extern char** environ;

namespace socklab::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;

  // stdout as JSON lines (every non-empty line must parse).
  [[nodiscard]] std::vector<nlohmann::json> json() const {
    std::vector<nlohmann::json> lines;
    std::size_t pos = 0;
    while (pos < out.size()) {
      const std::size_t eol = std::min(out.find('\n', pos), out.size());
      if (eol > pos) lines.push_back(nlohmann::json::parse(out.substr(pos, eol - pos)));
      pos = eol + 1;
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

// A started program whose stdout and stderr we read.
class Process {
 public:
  explicit Process(const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env_changes = {{"LANG", "C.UTF-8"},
                                                                            {"LC_ALL", ""},
                                                                            {"LC_MESSAGES", ""},
                                                                            {"NO_COLOR", ""}}) {
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const auto env = environment_with(env_changes);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    if (rc != 0) {
      close_pipes();
      throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    close_pipes();
  }

  // Reads stderr until a whole line contains `text` (or both pipes close). The
  // child writes it when it is ready: this waits for that, never for a guessed time.
  std::string wait_for_stderr(std::string_view text) {
    auto complete = [&] {
      const auto at = result_.err.find(text);
      return at != std::string::npos && result_.err.find('\n', at) != std::string::npos;
    };
    while (!complete() && pump()) {
    }
    return result_.err;
  }

  // Reads both pipes to the end and waits for the exit.
  RunResult finish() {
    while (pump()) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    result_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result_;
  }

 private:
  // One poll round; false once both pipes are closed.
  bool pump() {
    std::array<pollfd, 2> fds{{{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}}};
    if (out_fd_ < 0 && err_fd_ < 0) return false;
    if (::poll(fds.data(), fds.size(), -1) < 0) return errno == EINTR;
    std::array<char, 4096> buf{};
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
      if (n > 0) {
        (i == 0 ? result_.out : result_.err).append(buf.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        (i == 0 ? out_fd_ : err_fd_) = -1;
      }
    }
    return true;
  }
  void close_pipes() {
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
    out_fd_ = err_fd_ = -1;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  RunResult result_;
};

inline RunResult run_demo(const std::vector<std::string>& args) { return Process(args).finish(); }
inline RunResult run_demo(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  return Process(args, env).finish();
}

// The objects of one kind ("verdict", "packet", "call", "fact", ...).
inline std::vector<nlohmann::json> of_kind(const std::vector<nlohmann::json>& lines, std::string_view kind) {
  std::vector<nlohmann::json> out;
  for (const auto& l : lines) {
    if (l.value("kind", "") == kind) out.push_back(l);
  }
  return out;
}

// Verdicts by name.
inline std::map<std::string, nlohmann::json> verdicts(const std::vector<nlohmann::json>& lines) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& v : of_kind(lines, "verdict")) out[v.at("name").get<std::string>()] = v;
  return out;
}

// The TCP flags of the packets of one connection (tcp.stream), in order.
inline std::vector<std::string> flags_of_stream(const std::vector<nlohmann::json>& lines, int stream) {
  std::vector<std::string> out;
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.value("proto", "") == "tcp" && p.value("stream", -1) == stream) out.push_back(p.at("flags").get<std::string>());
  }
  return out;
}

// The port in "... --port 40123 ..." of the server's "start the client with" line.
inline std::optional<std::string> announced_port(const std::string& err) {
  const auto at = err.find("--port ");
  if (at == std::string::npos) return std::nullopt;
  const auto start = at + 7;
  auto end = start;
  while (end < err.size() && err[end] >= '0' && err[end] <= '9') ++end;
  if (end == start) return std::nullopt;
  return err.substr(start, end - start);
}

}  // namespace socklab::test
