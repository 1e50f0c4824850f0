// Who listens where, as `ss -ltnp` shows it: the listening TCP sockets from the
// kernel (inet_diag, through lib), each with the process that holds it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "socklab/net.hpp"

namespace socklab::demo {

struct Listener {
  net::Endpoint local;
  std::uint32_t inode = 0;       // the socket's inode, as in /proc/PID/fd/N -> socket:[inode]
  std::optional<int> pid{};      // the process holding it; none when /proc does not show it to us
  std::optional<int> fd{};       // its descriptor number in that process
  std::string process;           // /proc/PID/comm ("demo-ports")
};

// Every listening TCP socket of this network namespace, IPv4 then IPv6, or only
// those on `port`. The owner is found as ss finds it: the socket's inode among
// the links in /proc/*/fd (a process we may not look into keeps pid empty).
// Throws DemoFailure when inet_diag cannot be asked.
std::vector<Listener> tcp_listeners(std::optional<std::uint16_t> port = {});

// One row as `ss -ltnp` prints its local address and process:
// 127.0.0.1:8000 users:(("demo-ports",pid=123,fd=3))
std::string ss_row(const Listener& l);

}  // namespace socklab::demo
