// demo-ports — IP + port identify an application.
//
// The default run binds one port several ways: a second TCP server on the same
// address and port (EADDRINUSE), the same port on 127.0.0.2 (works: the address
// is part of the key), the same number for UDP (works: its own space); it lists
// who listens there as `ss -ltnp` does (inet_diag, the owner from /proc), then
// clients connect to both TCP servers and send a datagram, and the ports the
// kernel picked for them are read against ip_local_port_range.
// --reuseport: two listeners with SO_REUSEPORT share one port; the kernel
// spreads the connections between them (counted from the run).
// --privileged: a port below ip_unprivileged_port_start needs
// CAP_NET_BIND_SERVICE; as root the server thread drops it (capabilities are
// per thread on Linux) to show the failure, then takes it back.
//
// Every server listens on loopback only; both ends run in this one process, so
// --role, --host, --listen and -6 are refused.
#include <linux/capability.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "demo.hpp"
#include "listeners.hpp"

namespace {

using namespace socklab;
using demo::Session;
using demo::Side;
using demo::must;

constexpr std::array<std::string_view, 53> kNoteKeys{
    // the timeline
    "first_listen", "second_bind", "other_address", "udp_bind", "ss_row", "client_connect",
    "client_connect_other", "client_udp", "server_accept", "server_accept_other", "server_recvfrom",
    "range_read", "wire_syn", "wire_other", "reuse_first", "reuse_second", "reuse_without", "reuse_accept",
    "priv_start", "priv_drop", "priv_bind_denied", "priv_raise", "priv_bind_ok", "priv_bind_in_use",
    "priv_bind_free",
    // the summary
    "verdict_second_server", "verdict_other_address", "verdict_udp", "verdict_ephemeral", "verdict_listeners",
    "fact_range", "fact_server_port_kernel", "fact_server_port_chosen", "fact_iana", "fact_listening",
    "verdict_reuse_shared", "verdict_reuse_without", "verdict_reuse_all", "fact_reuse_split",
    "verdict_priv_denied", "verdict_priv_allowed", "fact_priv_start", "fact_priv_no_cap",
    "fact_no_capture",
    // refusals and words
    "role_one_process", "no_ipv6", "no_listen", "priv_no_capture", "priv_bad_port", "iana_well_known", "iana_registered", "iana_dynamic",
    // a step that did not happen (the lesson stops)
    "failed_proc_read"};
using Note = demo::Key<kNoteKeys>;

// Connections the default run makes to 127.0.0.1 (their ports show the range),
// and --reuseport makes to the shared port (enough that an even split is likely
// to be visible, though any split can happen).
constexpr int kClients = 3;
constexpr int kReuseClients = 8;

struct PortRange {
  int low = 0;
  int high = 0;
};

// /proc/sys/net/ipv4/ip_local_port_range: "32768\t60999".
PortRange local_port_range(const Session& s) {
  const auto text = demo::read_sysctl("net.ipv4.ip_local_port_range");
  PortRange r;
  if (!text || std::sscanf(text->c_str(), "%d %d", &r.low, &r.high) != 2) {
    throw demo::DemoFailure(s.note(Note{"failed_proc_read"}, {{"path", "/proc/sys/net/ipv4/ip_local_port_range"}}));
  }
  return r;
}

int unprivileged_port_start(const Session& s) {
  const auto text = demo::read_sysctl("net.ipv4.ip_unprivileged_port_start");
  int v = 0;
  if (!text || std::sscanf(text->c_str(), "%d", &v) != 1) {
    throw demo::DemoFailure(s.note(Note{"failed_proc_read"}, {{"path", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}}));
  }
  return v;
}

// IANA's range a port falls in (RFC 6335): its id in --json, and its name in the lesson.
std::string_view iana_id(int port) {
  if (port <= 1023) return "well_known";
  if (port <= 49151) return "registered";
  return "dynamic";
}
Note iana_range(int port) {
  if (port <= 1023) return Note{"iana_well_known"};
  if (port <= 49151) return Note{"iana_registered"};
  return Note{"iana_dynamic"};
}

net::Endpoint at(std::string_view address, std::uint16_t port) {
  return must(net::Endpoint::from_host_port(address, port, AF_INET));
}

std::string ports_text(const std::vector<int>& ports) { return fmt::format("{}", fmt::join(ports, ", ")); }

// ---------------------------------------------------------------- capabilities

// CAP_NET_BIND_SERVICE of the calling thread, with raw capget/capset: the kernel
// keeps capabilities per thread, so a change here leaves the other threads as
// they are (glibc has no wrapper, and libcap would be a new dependency).
struct BindCapability {
  bool effective = false;
  bool permitted = false;
};

bool capability_call(long call, __user_cap_data_struct (&data)[_LINUX_CAPABILITY_U32S_3]) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};  // pid 0: this thread
  return ::syscall(call, &header, data) == 0;
}

BindCapability bind_capability() {
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (!capability_call(SYS_capget, data)) return {};
  const std::uint32_t bit = CAP_TO_MASK(CAP_NET_BIND_SERVICE);
  const auto& word = data[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)];
  return {(word.effective & bit) != 0, (word.permitted & bit) != 0};
}

// Turns the capability on or off in this thread's effective set (it stays
// permitted, so it can be turned on again).
void set_bind_capability(bool on) {
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (!capability_call(SYS_capget, data)) throw demo::DemoFailure(net::system_error(errno, "capget"));
  auto& word = data[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)];
  const std::uint32_t bit = CAP_TO_MASK(CAP_NET_BIND_SERVICE);
  word.effective = on ? (word.effective | bit) : (word.effective & ~bit);
  if (!capability_call(SYS_capset, data)) throw demo::DemoFailure(net::system_error(errno, "capset"));
}

// ---------------------------------------------------------------- the key: address, port, protocol

struct Observed {
  int second_errno = 0;                     // the second server on the same address and port
  bool other_bound = false, other_connected = false;
  bool udp_bound = false, udp_received = false;
  std::vector<int> client_ports;            // the kernel's picks, as the clients read them
  std::vector<int> accepted_ports;          // the same, as the server saw them
  int udp_client_port = 0;
  std::vector<demo::Listener> listeners;    // on the lesson's port, during the run
};

void key(Session& s) {
  Observed seen;
  const PortRange range = local_port_range(s);
  std::uint16_t port = 0;

  s.run(
      [&] {  // the servers
        const auto server = s.trace(Side::server);
        auto first = s.listen_unannounced();
        port = first.endpoint().port();
        s.explain(Side::server, "listen", Note{"first_listen"}, {{"endpoint", first.endpoint().to_string()}});

        auto second = net::TcpListener::bind(first.endpoint(), {.trace = server});
        seen.second_errno = second ? 0 : second.error().errno_value();
        s.explain(Side::server, "bind", Note{"second_bind"}, {{"error", demo::errno_name(seen.second_errno)}});

        auto other = must(net::TcpListener::bind(at("127.0.0.2", port), {.trace = server}));
        seen.other_bound = true;
        s.explain(Side::server, "listen", Note{"other_address"}, {{"endpoint", other.endpoint().to_string()}});

        auto udp = must(net::UdpSocket::bind(at("127.0.0.1", port), {.trace = server}));
        seen.udp_bound = true;
        s.explain(Side::server, "bind", Note{"udp_bind"}, {{"port", std::to_string(port)}});

        // Who listens on the port now, from the kernel: both TCP servers, held by us.
        seen.listeners = demo::tcp_listeners(port);
        for (const auto& l : seen.listeners) {
          s.record_note(Side::server, "ss -ltnp", Note{"ss_row"}, {{"row", demo::ss_row(l)}});
        }
        s.announce(first.endpoint());

        std::vector<net::TcpStream> conns;  // held to the end, as the clients hold theirs
        for (int i = 0; i < kClients; ++i) {
          auto conn = must(first.accept(s.patience()));
          seen.accepted_ports.push_back(conn.peer.port());
          s.explain(Side::server, "accept", Note{"server_accept"}, {{"peer", conn.peer.to_string()}});
          conns.push_back(std::move(conn.stream));
        }
        auto conn = must(other.accept(s.patience()));
        seen.other_connected = true;
        s.explain(Side::server, "accept", Note{"server_accept_other"}, {{"peer", conn.peer.to_string()}});
        std::array<std::byte, 16> buf{};
        const auto d = must(udp.recv_from(buf, s.patience()));
        seen.udp_received = true;
        s.explain(Side::server, "recvfrom", Note{"server_recvfrom"}, {{"peer", d.from.to_string()}});
        s.end_capture();
        // The clients close first, so each connection's TIME_WAIT stays with its
        // client (on 127.0.0.1 and an ephemeral port). One left on this port of
        // 127.0.0.2 would fail a later run's bind there (EADDRINUSE) whenever the
        // kernel picks the same number on 127.0.0.1, which such a TIME_WAIT does not hold.
        conns.push_back(std::move(conn.stream));
        for (auto& c : conns) {
          c.set_trace({});  // not the lesson: after its capture
          std::array<std::byte, 1> none{};
          if (!c.wait_readable(s.patience()) || !c.recv_some(none)) break;
        }
      },
      [&] {  // the clients
        const auto server = s.server_endpoint();
        const auto client = s.trace(Side::client);
        s.record_note(Side::client, "ip_local_port_range", Note{"range_read"},
                      {{"low", std::to_string(range.low)}, {"high", std::to_string(range.high)}});
        // Kept open to the end: each connection holds its port, so every pick is a new one.
        std::vector<net::TcpStream> streams;
        for (int i = 0; i < kClients; ++i) {
          streams.push_back(must(net::TcpStream::connect(server, {.trace = client})));
          const int mine = must(streams.back().local_endpoint()).port();
          seen.client_ports.push_back(mine);
          s.explain(Side::client, "connect", Note{"client_connect"}, {{"port", std::to_string(mine)}});
        }
        streams.push_back(must(net::TcpStream::connect(at("127.0.0.2", server.port()), {.trace = client})));
        s.explain(Side::client, "connect", Note{"client_connect_other"},
                  {{"endpoint", at("127.0.0.2", server.port()).to_string()}});
        auto udp = must(net::UdpSocket::open(AF_INET, {.trace = client}));
        must(udp.send_to(std::as_bytes(std::span(std::string_view("ping"))), at("127.0.0.1", server.port())));
        seen.udp_client_port = must(udp.local_endpoint()).port();
        s.explain(Side::client, "sendto", Note{"client_udp"}, {{"port", std::to_string(seen.udp_client_port)}});
        s.end_capture();
      });

  // ---- what the run showed
  if (s.capturing()) {
    s.explain_packets([&s](const capture::PacketRecord& p) -> std::optional<std::string> {
      if (p.flags == "S") return s.note(Note{"wire_syn"}, {{"port", std::to_string(p.sport)}});
      return s.note(Note{"wire_other"}, {{"from", std::to_string(p.sport)}, {"to", std::to_string(p.dport)}});
    });
  }
  s.verdict("second_server_eaddrinuse", "EADDRINUSE", demo::errno_name(seen.second_errno),
            Note{"verdict_second_server"});
  s.verdict("same_port_other_address", {{"bound", true}, {"connected", true}},
            {{"bound", seen.other_bound}, {"connected", seen.other_connected}}, Note{"verdict_other_address"},
            {{"port", std::to_string(port)}});
  s.verdict("same_number_udp", {{"bound", true}, {"received", true}},
            {{"bound", seen.udp_bound}, {"received", seen.udp_received}}, Note{"verdict_udp"},
            {{"port", std::to_string(port)}});

  // The lesson's listeners as inet_diag listed them, with their owner.
  auto listed = nlohmann::json::object();
  for (const auto& l : seen.listeners) {
    listed[l.local.to_string()] = l.pid ? nlohmann::json(*l.pid) : nlohmann::json(nullptr);
  }
  s.verdict("listeners_from_kernel",
            {{at("127.0.0.1", port).to_string(), ::getpid()}, {at("127.0.0.2", port).to_string(), ::getpid()}},
            listed, Note{"verdict_listeners"}, {{"port", std::to_string(port)}, {"pid", std::to_string(::getpid())}});

  std::vector<int> picked = seen.client_ports;
  picked.push_back(seen.udp_client_port);
  const bool in_range = std::all_of(picked.begin(), picked.end(),
                                    [&](int p) { return p >= range.low && p <= range.high; });
  s.verdict("client_ports_ephemeral", true, in_range, Note{"verdict_ephemeral"},
            {{"ports", ports_text(picked)}, {"low", std::to_string(range.low)}, {"high", std::to_string(range.high)}});
  s.fact("ephemeral_range", {{"low", range.low}, {"high", range.high}, {"tcp", seen.client_ports},
                             {"udp", seen.udp_client_port}, {"accepted", seen.accepted_ports}},
         Note{"fact_range"}, {{"low", std::to_string(range.low)}, {"high", std::to_string(range.high)}});

  const bool kernel_picked = s.options().port == 0;
  s.fact("server_port", {{"port", port}, {"picked_by_kernel", kernel_picked}},
         kernel_picked ? Note{"fact_server_port_kernel"} : Note{"fact_server_port_chosen"},
         {{"port", std::to_string(port)}, {"range", s.note(iana_range(port))}});
  s.fact("iana_range", {{"server", iana_id(port)}, {"client", iana_id(picked.front())}},
         Note{"fact_iana"},
         {{"port", std::to_string(port)},
          {"server", s.note(iana_range(port))},
          {"client", std::to_string(picked.front())},
          {"clients", s.note(iana_range(picked.front()))}});

  // Every listener of the machine (this network namespace), as `ss -ltnp` lists them.
  const auto all = demo::tcp_listeners();
  auto rows = nlohmann::json::array();
  for (const auto& l : all) rows.push_back(demo::ss_row(l));
  s.fact("listening_sockets", rows, Note{"fact_listening"}, {{"count", std::to_string(all.size())}});
  if (!s.capturing()) s.fact("wire", nullptr, Note{"fact_no_capture"});
}

// ---------------------------------------------------------------- --reuseport

void reuseport(Session& s) {
  s.set_variant("reuseport", "--reuseport");
  int without_errno = 0;
  bool shared = false;
  std::array<int, 2> accepted{0, 0};
  std::uint16_t port = 0;

  s.run(
      [&] {
        const auto server = s.trace(Side::server);
        auto one = s.listen_unannounced({.reuse_port = true});
        port = one.endpoint().port();
        s.explain(Side::server, "listen", Note{"reuse_first"}, {{"endpoint", one.endpoint().to_string()}});
        auto two = must(net::TcpListener::bind(one.endpoint(), {.reuse_port = true, .trace = server}));
        shared = true;
        s.explain(Side::server, "listen", Note{"reuse_second"});
        auto without = net::TcpListener::bind(one.endpoint(), {.trace = server});
        without_errno = without ? 0 : without.error().errno_value();
        s.explain(Side::server, "bind", Note{"reuse_without"}, {{"error", demo::errno_name(without_errno)}});
        for (const auto& l : demo::tcp_listeners(port)) {
          s.record_note(Side::server, "ss -ltnp", Note{"ss_row"}, {{"row", demo::ss_row(l)}});
        }
        s.announce(one.endpoint());

        // Each connection waits in the queue of the listener the kernel chose at
        // its SYN: whichever turns readable accepts it.
        std::array<net::TcpListener*, 2> listeners{&one, &two};
        std::vector<net::TcpStream> conns;
        while (accepted[0] + accepted[1] < kReuseClients) {
          std::array<pollfd, 2> fds{pollfd{one.fd(), POLLIN, 0}, pollfd{two.fd(), POLLIN, 0}};
          const int n = ::poll(fds.data(), fds.size(), static_cast<int>(s.patience().count()));
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) throw demo::DemoFailure(net::system_error(errno, "poll"));
          if (n == 0) {
            throw demo::DemoFailure(net::make_error(net::errc::timed_out, "accept " + one.endpoint().to_string(),
                                                    fmt::format("no connection within {} ms", s.patience().count())));
          }
          for (std::size_t i = 0; i < 2; ++i) {
            if ((fds[i].revents & POLLIN) == 0) continue;
            auto conn = must(listeners[i]->accept(s.patience()));
            ++accepted[i];
            s.explain(Side::server, "accept", Note{"reuse_accept"},
                      {{"listener", std::to_string(i + 1)}, {"peer", conn.peer.to_string()}});
            conns.push_back(std::move(conn.stream));
          }
        }
        s.end_capture();
      },
      [&] {
        const auto server = s.server_endpoint();
        std::vector<net::TcpStream> streams;
        for (int i = 0; i < kReuseClients; ++i) {
          streams.push_back(must(net::TcpStream::connect(server, {.trace = s.trace(Side::client)})));
        }
        s.end_capture();
      });

  s.verdict("reuseport_second_listener", true, shared, Note{"verdict_reuse_shared"},
            {{"port", std::to_string(port)}});
  s.verdict("reuseport_without_option", "EADDRINUSE", demo::errno_name(without_errno), Note{"verdict_reuse_without"});
  s.verdict("reuseport_all_accepted", kReuseClients, accepted[0] + accepted[1], Note{"verdict_reuse_all"},
            {{"clients", std::to_string(kReuseClients)}});
  s.fact("reuseport_split", {{"listener_1", accepted[0]}, {"listener_2", accepted[1]}}, Note{"fact_reuse_split"},
         {{"one", std::to_string(accepted[0])}, {"two", std::to_string(accepted[1])}});
  if (!s.capturing()) s.fact("wire", nullptr, Note{"fact_no_capture"});
}

// ---------------------------------------------------------------- --privileged

void privileged(Session& s) {
  s.set_variant("privileged", "--privileged");
  s.set_no_wire();
  const int start = unprivileged_port_start(s);
  const BindCapability had = bind_capability();
  // Ports to try once the capability is back: --port, else 80 and the ports just
  // below the limit, in case something here holds one of them already.
  std::vector<std::uint16_t> candidates;
  if (s.options().port != 0) {
    if (s.options().port >= start) {
      throw demo::UsageError(s.note(Note{"priv_bad_port"}, {{"port", std::to_string(s.options().port)},
                                                             {"start", std::to_string(start)}}));
    }
    candidates.push_back(s.options().port);
  } else {
    if (80 < start) candidates.push_back(80);
    for (int p = start - 1; p >= 1 && p >= start - 16; --p) candidates.push_back(static_cast<std::uint16_t>(p));
  }
  std::optional<int> denied_errno;                 // without the capability
  std::optional<int> allowed_errno;                // with it (0: bound)
  std::optional<std::uint16_t> bound_port;

  s.run(
      [&] {
        const auto server = s.trace(Side::server);
        s.record_note(Side::server, "ip_unprivileged_port_start", Note{"priv_start"},
                      {{"start", std::to_string(start)}});
        if (candidates.empty()) return;  // every port is unprivileged here: nothing to show
        if (had.effective) {
          set_bind_capability(false);
          s.record_note(Side::server, "capset -cap_net_bind_service", Note{"priv_drop"});
        }
        {
          const auto attempt = net::TcpListener::bind(at("127.0.0.1", candidates.front()), {.trace = server});
          denied_errno = attempt ? 0 : attempt.error().errno_value();
          s.explain(Side::server, "bind", Note{"priv_bind_denied"},
                    {{"port", std::to_string(candidates.front())}, {"error", demo::errno_name(*denied_errno)}});
        }
        if (!had.permitted) return;  // an ordinary user: the capability is not ours to take
        set_bind_capability(true);
        s.record_note(Side::server, "capset +cap_net_bind_service", Note{"priv_raise"});
        for (const auto p : candidates) {
          auto l = net::TcpListener::bind(at("127.0.0.1", p), {.trace = server});
          allowed_errno = l ? 0 : l.error().errno_value();
          if (l) {
            bound_port = p;
            s.explain(Side::server, "listen", Note{"priv_bind_ok"}, {{"port", std::to_string(p)}});
            break;
          }
          s.explain(Side::server, "bind", Note{"priv_bind_in_use"}, {{"port", std::to_string(p)}});
          if (*allowed_errno != EADDRINUSE) break;
        }
        set_bind_capability(had.effective);
      },
      [] {});

  s.fact("unprivileged_port_start", start, Note{"fact_priv_start"}, {{"start", std::to_string(start)}});
  if (candidates.empty()) {
    s.fact("privileged_ports", nullptr, Note{"priv_bind_free"});
    return;
  }
  s.verdict("low_port_without_capability", "EACCES", demo::errno_name(denied_errno.value_or(0)),
            Note{"verdict_priv_denied"}, {{"port", std::to_string(candidates.front())}});
  if (had.permitted) {
    s.verdict("low_port_with_capability", true, bound_port.has_value(), Note{"verdict_priv_allowed"},
              {{"port", bound_port ? std::to_string(*bound_port) : "-"},
               {"error", demo::errno_name(allowed_errno.value_or(0))}});
  } else {
    s.fact("capability", {{"effective", had.effective}, {"permitted", had.permitted}}, Note{"fact_priv_no_cap"});
  }
}

}  // namespace

int main(int argc, char** argv) {
  socklab::demo::Demo demo({"ports", "IP + port identify an application: who may bind which port", kNoteKeys});
  bool reuse = false;
  bool privileged_port = false;
  demo.cli().add_flag("--reuseport", reuse, "Two listeners share one port with SO_REUSEPORT");
  demo.cli().add_flag("--privileged", privileged_port,
                      "A port below ip_unprivileged_port_start: EACCES without CAP_NET_BIND_SERVICE");
  demo.cli().get_option("--reuseport")->excludes("--privileged");
  return demo.run(argc, argv, [&](Session& s) {
    using socklab::demo::UsageError;
    const auto& o = s.options();
    if (o.role != socklab::demo::Role::both || !o.host.empty()) throw UsageError(s.note(Note{"role_one_process"}));
    if (o.ipv6) throw UsageError(s.note(Note{"no_ipv6"}));
    if (!o.listen.empty()) throw UsageError(s.note(Note{"no_listen"}));
    // Binding a low port sends nothing: a capture would have nothing to show.
    if (privileged_port && o.capture) throw UsageError(s.note(Note{"priv_no_capture"}));
    if (privileged_port) {
      privileged(s);
    } else if (reuse) {
      reuseport(s);
    } else {
      key(s);
    }
  });
}
