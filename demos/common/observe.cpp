#include "observe.hpp"

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

std::optional<net::DiagSocket> find_socket(const net::Endpoint& local, const net::Endpoint& remote) {
  auto found = net::find_tcp_sockets(query(local, remote, {}));
  if (!found || found->empty()) return std::nullopt;
  return found->front();
}

net::Result<net::DiagSocket> wait_for_socket(const net::Endpoint& local, const net::Endpoint& remote,
                                             std::vector<net::TcpState> states, std::chrono::milliseconds timeout) {
  return net::wait_for_tcp_socket(query(local, remote, std::move(states)), timeout);
}

}  // namespace socklab::demo
