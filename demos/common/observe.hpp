// Reading TCP state from the kernel for the lessons: sockets we still hold
// (TCP_INFO, via lib) and sockets we no longer hold (inet_diag), found by their ports.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "socklab/net.hpp"

namespace socklab::demo {

// The socket with this local and remote endpoint, as inet_diag sees it: also
// after close() (FIN_WAIT_2, TIME_WAIT, LAST_ACK). nullopt: there is none (any more).
std::optional<net::DiagSocket> find_socket(const net::Endpoint& local, const net::Endpoint& remote);

// Waits until that socket is in one of `states` (re-reading inet_diag at a short
// interval: the kernel sends no notification), or the timeout passes.
net::Result<net::DiagSocket> wait_for_socket(const net::Endpoint& local, const net::Endpoint& remote,
                                             std::vector<net::TcpState> states, std::chrono::milliseconds timeout);

}  // namespace socklab::demo
