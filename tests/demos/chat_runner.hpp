// demo-chat under test: the server as a child process whose JSON lines are read
// as they come (waited for, never slept for), scripted clients fed through
// stdin, and raw protocol clients that behave as badly as a test needs.
//
//   ChatServerProcess server({"--max-message", "100"}); // demo-chat server --json ...
//   RawChatClient alice(server.endpoint(), "alice");      // welcomed when this returns
//   alice.send_text("hi");
//   auto seen = alice.next_frame();                      // {"type":"message",...}
//   server.wait_for([](const json& e) { return e["kind"] == "leave"; });
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo_runner.hpp"
#include "process.hpp"
#include "socklab/net.hpp"

namespace socklab::test {

// How long a test waits for something the other side must do: a bound on a
// condition, never a sleep (a sanitizer build on a loaded machine is slow).
inline constexpr std::chrono::milliseconds chat_patience{30'000};

// `demo-chat server --json --port 0 ARGS...`, its stdout read line by line as it comes.
class ChatServerProcess {
 public:
  // `wrapper`: a command the server runs under, e.g. {"/bin/sh", "-c", "ulimit -n 64 && exec \"$0\" \"$@\""}.
  explicit ChatServerProcess(const std::vector<std::string>& args, const std::string& program = DEMO_CHAT,
                             const std::vector<std::string>& wrapper = {})
      : process_(server_command(wrapper, program, args), {.env = demo_environment()}) {
    const auto listening = wait_for([](const nlohmann::json& e) { return e.value("kind", "") == "listening"; });
    if (!listening) throw std::runtime_error("demo-chat server did not start: " + stderr_text());
    endpoint_ = net::value_or_throw(net::Endpoint::parse((*listening)["endpoint"].get<std::string>()));
  }

  [[nodiscard]] const net::Endpoint& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] pid_t pid() const noexcept { return process_.pid(); }

  // The first event from index `from` on that satisfies `match`, waiting for it.
  std::optional<nlohmann::json> wait_for(const std::function<bool(const nlohmann::json&)>& match,
                                         std::size_t from = 0,
                                         std::chrono::milliseconds patience = chat_patience) {
    std::optional<nlohmann::json> found;
    process_.wait_until(
        [&](const ProcessOutput& o) {
          parse_new_lines(o);
          for (; from < events_.size(); ++from) {
            if (match(events_[from])) {
              found = events_[from];
              return true;
            }
          }
          return false;
        },
        patience);
    return found;
  }
  // Waits for the n-th (from 1) event of a kind, e.g. the 200th "leave".
  std::optional<nlohmann::json> wait_for_count(std::string_view kind, std::size_t n,
                                               std::chrono::milliseconds patience = chat_patience) {
    std::size_t count = 0;
    return wait_for([&](const nlohmann::json& e) { return e.value("kind", "") == kind && ++count == n; }, 0, patience);
  }
  [[nodiscard]] std::vector<nlohmann::json> events(std::string_view kind = {}) const {
    std::vector<nlohmann::json> out;
    process_.inspect([&](const ProcessOutput& o) {
      parse_new_lines(o);
      for (const auto& e : events_)
        if (kind.empty() || e.value("kind", "") == kind) out.push_back(e);
    });
    return out;
  }
  [[nodiscard]] std::size_t event_count() const {
    std::size_t n = 0;
    process_.inspect([&](const ProcessOutput& o) {
      parse_new_lines(o);
      n = events_.size();
    });
    return n;
  }
  [[nodiscard]] std::string stderr_text() const { return process_.err(); }

  // SIGTERM (as Ctrl-C would), then the exit code once stdout closed.
  int stop() {
    process_.signal(SIGTERM);
    return process_.finish().exit_code;
  }

 private:
  static std::vector<std::string> server_command(const std::vector<std::string>& wrapper, const std::string& program,
                                                 const std::vector<std::string>& args) {
    std::vector<std::string> argv = wrapper;
    argv.insert(argv.end(), {program, "server", "--json"});
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  // Each whole stdout line becomes one event, parsed once (the load test has
  // tens of thousands). Called under the process's lock: events_ needs no other.
  void parse_new_lines(const ProcessOutput& o) const {
    for (std::size_t eol; (eol = o.out.find('\n', parsed_to_)) != std::string::npos; parsed_to_ = eol + 1) {
      events_.push_back(nlohmann::json::parse(o.out.substr(parsed_to_, eol - parsed_to_), nullptr, false));
    }
  }

  Process process_;
  net::Endpoint endpoint_;
  mutable std::vector<nlohmann::json> events_;
  mutable std::size_t parsed_to_ = 0;  // bytes of stdout already parsed into events_
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
  // Frames up to the first that satisfies `match` (the last one returned), or up to the close.
  std::vector<nlohmann::json> frames_until_closed_or(const std::function<bool(const nlohmann::json&)>& match) {
    std::vector<nlohmann::json> all;
    while (auto f = next_frame()) {
      all.push_back(std::move(*f));
      if (match(all.back())) break;
    }
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

// A child whose stdin and stdout are pipes the test holds and uses as it
// likes: stdin written and kept open (a user who has not left yet), stdout
// read only when the test says so (or never: a log nobody reads). stderr is
// read by a thread so that it never blocks the child.
class HeldPipesChild {
 public:
  explicit HeldPipesChild(std::vector<std::string> argv) {
    std::array<int, 2> in{-1, -1}, out{-1, -1};
    if (::pipe2(in.data(), O_CLOEXEC) != 0 || ::pipe2(out.data(), O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    stdin_ = in[1];
    stdout_ = out[0];
    // The pipes reach the child under numbers above 2 (Process gives it stdin
    // /dev/null and reads its stdout), and bash puts them in place before exec.
    const int in_child = ::fcntl(in[0], F_DUPFD, 3), out_child = ::fcntl(out[1], F_DUPFD, 3);
    ::close(in[0]);
    ::close(out[1]);
    fds_for_child_ = {in_child, out_child};
    const std::string a = std::to_string(in_child), b = std::to_string(out_child);
    std::vector<std::string> command{"/bin/bash", "-c",
                                     "exec 0<&" + a + " 1>&" + b + " " + a + "<&- " + b + ">&-; exec \"$0\" \"$@\""};
    command.insert(command.end(), argv.begin(), argv.end());
    process_.emplace(command, ProcessOptions{.env = demo_environment()});
    for (int fd : fds_for_child_) ::close(fd);
  }
  HeldPipesChild(const HeldPipesChild&) = delete;
  HeldPipesChild& operator=(const HeldPipesChild&) = delete;
  ~HeldPipesChild() {
    close_stdin();
    close_stdout();
  }

  [[nodiscard]] Process& process() noexcept { return *process_; }
  void write_stdin(std::string_view text) {
    while (!text.empty()) {
      const ssize_t n = ::write(stdin_, text.data(), text.size());
      if (n <= 0) throw std::runtime_error("writing to the child's stdin failed");
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  void close_stdout() {
    if (stdout_ >= 0) ::close(stdout_);
    stdout_ = -1;
  }
  // Reads stdout until `done` holds for what was read (true), its end, or the patience ran out.
  bool read_stdout_until(const std::function<bool(const std::string&)>& done,
                         std::chrono::milliseconds patience = chat_patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!done(out_)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      std::array<char, 65536> buf{};
      const ssize_t n = ::read(stdout_, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return done(out_);
      out_.append(buf.data(), static_cast<std::size_t>(n));
    }
    return true;
  }
  [[nodiscard]] const std::string& out() const noexcept { return out_; }

 private:
  int stdin_ = -1;
  int stdout_ = -1;
  std::array<int, 2> fds_for_child_{-1, -1};
  std::string out_;
  std::optional<Process> process_;
};

// Sends `lines` from `client` in one send() each (Nagle off: a segment each)
// while the server process is stopped (SIGSTOP, as Ctrl-Z would), waits until
// the server's kernel has acknowledged every byte, so that all of them wait in
// its receive queue, then lets it go on (SIGCONT): its next recv() meets them
// all. The glue of an unframed chat, made certain by a condition, not a delay.
inline void send_while_server_stopped(pid_t server, net::TcpStream& client, const std::vector<std::string>& lines) {
  const auto stopped = [&] {
    std::ifstream stat("/proc/" + std::to_string(server) + "/stat");
    std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const auto end = all.rfind(')');  // after "pid (comm) ": the state
    return end != std::string::npos && end + 2 < all.size() && all[end + 2] == 'T';
  };
  const auto wait = [](const std::function<bool()>& condition, const char* what) {
    const auto deadline = std::chrono::steady_clock::now() + chat_patience;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error(std::string("no ") + what);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polls the condition
    }
  };
  if (::kill(server, SIGSTOP) != 0) throw std::runtime_error("SIGSTOP failed");
  wait(stopped, "stopped server");
  net::value_or_throw(client.set_nodelay(true));
  for (const auto& line : lines) net::value_or_throw(client.send_all(line));
  wait([&] { return net::value_or_throw(client.bytes_in_send_queue()) == 0; }, "acknowledgement of the lines");
  if (::kill(server, SIGCONT) != 0) throw std::runtime_error("SIGCONT failed");
}

// `demo-chat client ARGS...` with `script` on its stdin (a pipe: scripted mode).
inline RunResult run_chat_client(const std::vector<std::string>& args, const std::string& script,
                                 const std::string& program = DEMO_CHAT) {
  std::vector<std::string> argv{program, "client"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {.env = demo_environment(), .input = script});
}

}  // namespace socklab::test
