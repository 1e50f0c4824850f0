#include "observe.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

#include "session.hpp"

namespace socklab::demo {

namespace {
net::DiagQuery query(const net::Endpoint& local, const net::Endpoint& remote, std::vector<net::TcpState> states) {
  net::DiagQuery q;
  q.family = local.family();
  q.local_port = local.port();
  q.remote_port = remote.port();
  q.states = std::move(states);
  return q;
}
}  // namespace

ConnectionEnds ends_of(const net::TcpStream& s) {
  return {must(s.local_endpoint()), must(s.peer_endpoint())};
}

std::optional<net::DiagSocket> find_socket(const net::Endpoint& local, const net::Endpoint& remote) {
  auto found = net::find_tcp_sockets(query(local, remote, {}));
  if (!found || found->empty()) return std::nullopt;
  return found->front();
}

net::Result<net::DiagSocket> wait_for_socket(const net::Endpoint& local, const net::Endpoint& remote,
                                             std::vector<net::TcpState> states, std::chrono::milliseconds timeout) {
  return net::wait_for_tcp_socket(query(local, remote, std::move(states)), timeout);
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool wait_until_acknowledged(const net::TcpStream& conn, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        auto queued = conn.bytes_in_send_queue();
        return !queued || *queued == 0;  // an error: the connection is gone, nothing is pending
      },
      timeout);
}

std::optional<std::string> read_sysctl(std::string_view name) {
  std::string path = "/proc/sys/" + std::string(name);
  std::replace(path.begin() + 10, path.end(), '.', '/');
  std::ifstream in(path);
  std::string value;
  if (!std::getline(in, value)) return std::nullopt;
  return value;
}

namespace {

std::optional<std::uint64_t> parse_counter(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// /proc/net/snmp and /proc/net/netstat: a line of names, then a line of values,
// both starting with "Group:".
std::optional<std::uint64_t> counter_in_table(const char* path, std::string_view group, std::string_view name) {
  std::ifstream in(path);
  const std::string tag = std::string(group) + ":";
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    std::istringstream n(names), v(values);
    std::string key, value;
    n >> key;
    v >> value;
    if (key != tag || value != tag) continue;
    while (n >> key && v >> value) {
      if (key == name) return parse_counter(value);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> kernel_counter(std::string_view group, std::string_view name) {
  if (group.ends_with('6')) {
    // /proc/net/snmp6: one "Udp6RcvbufErrors  12" per line.
    std::ifstream in("/proc/net/snmp6");
    const std::string wanted = std::string(group) + std::string(name);
    std::string key, value;
    while (in >> key >> value) {
      if (key == wanted) return parse_counter(value);
    }
    return std::nullopt;
  }
  if (auto v = counter_in_table("/proc/net/snmp", group, name)) return v;
  return counter_in_table("/proc/net/netstat", group, name);
}

}  // namespace socklab::demo
