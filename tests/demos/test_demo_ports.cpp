// demo-ports: each variant's verdicts, checked against what the test reads
// itself (the sysctl files, `ss -ltnp`, the calls the demo recorded), the
// refusals, and the privileged port as root and without the capability.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "demo_runner.hpp"
#include "socklab/net.hpp"

using socklab::test::check_verdicts;
using socklab::test::fact_value;
using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::RunResult;
using socklab::test::verdicts;
using nlohmann::json;

namespace {

int sysctl_int(const std::string& path, int field = 0) {
  std::ifstream in(path);
  int v = -1;
  for (int i = 0; i <= field; ++i) in >> v;
  REQUIRE(in);
  return v;
}

// The calls named `call`, in the order recorded.
std::vector<json> calls_named(const std::vector<json>& lines, const std::string& call) {
  std::vector<json> out;
  for (const auto& c : of_kind(lines, "call")) {
    if (c.at("call") == call) out.push_back(c);
  }
  return out;
}

std::string pid_in(const std::string& row) {
  const auto at = row.find("pid=");
  if (at == std::string::npos) return {};
  return row.substr(at + 4, row.find(',', at) - at - 4);
}

}  // namespace

TEST_CASE("ports: the key is protocol + address + port; clients get ephemeral ports", "[demos][lessons][ports]") {
  // A listener of the test's own, so that the demo's machine-wide listing can be
  // checked against ss and against what the test knows about its socket.
  auto mine = socklab::net::TcpListener::bind(socklab::net::Endpoint::loopback_v4()).value();
  const std::string my_row_start = mine.endpoint().to_string() + " users:((";
  const auto ss = socklab::test::run({SOCKLAB_SS, "-ltnpH", "sport = :" + std::to_string(mine.endpoint().port())});
  REQUIRE(ss.exit_code == 0);
  INFO(ss.out);
  REQUIRE(ss.out.find("pid=" + std::to_string(::getpid()) + ",fd=" + std::to_string(mine.fd())) != std::string::npos);

  const auto r = run_demo({DEMO_PORTS, "--json"});
  const auto v = check_verdicts(r, {"second_server_eaddrinuse", "same_port_other_address", "same_number_udp",
                                    "client_ports_ephemeral", "listeners_from_kernel"});
  const auto lines = r.json();
  CHECK(v.at("second_server_eaddrinuse").at("observed") == "EADDRINUSE");

  // The range, read here: every port the kernel picked for a client lies in it,
  // and the server accepted exactly the ports the clients read.
  const int low = sysctl_int("/proc/sys/net/ipv4/ip_local_port_range", 0);
  const int high = sysctl_int("/proc/sys/net/ipv4/ip_local_port_range", 1);
  const auto range = fact_value(lines, "ephemeral_range");
  CHECK(range.at("low") == low);
  CHECK(range.at("high") == high);
  auto tcp = range.at("tcp").get<std::vector<int>>();
  REQUIRE(tcp.size() == 3);
  for (int p : tcp) CHECK((p >= low && p <= high));
  CHECK(std::set<int>(tcp.begin(), tcp.end()).size() == 3);
  auto accepted = range.at("accepted").get<std::vector<int>>();
  std::sort(tcp.begin(), tcp.end());
  std::sort(accepted.begin(), accepted.end());
  CHECK(tcp == accepted);
  const int udp = range.at("udp");
  CHECK((udp >= low && udp <= high));

  // The binds as recorded: EADDRINUSE on the same key, success on 127.0.0.2 and for UDP.
  const int port = fact_value(lines, "server_port").at("port");
  int refused = 0, bound_other = 0;
  for (const auto& b : calls_named(lines, "bind")) {
    const std::string args = b.at("args");
    if (b.value("error", "") == "EADDRINUSE" && args.find("127.0.0.1:" + std::to_string(port)) != std::string::npos) {
      ++refused;
    }
    if (!b.contains("error") && args.find("127.0.0.2:" + std::to_string(port)) != std::string::npos) ++bound_other;
  }
  CHECK(refused == 1);
  CHECK(bound_other == 1);
  bool udp_socket = false;
  for (const auto& c : calls_named(lines, "socket")) {
    if (c.at("args").get<std::string>().find("SOCK_DGRAM") != std::string::npos) udp_socket = true;
  }
  CHECK(udp_socket);

  // The listeners on the lesson's port, as the demo listed them during the run,
  // are its own: the pid in each ss row is the one the verdict expects.
  const auto expected = v.at("listeners_from_kernel").at("expected");
  REQUIRE(expected.size() == 2);
  const std::string demo_pid = std::to_string(expected.begin()->get<int>());
  int rows = 0;
  for (const auto& c : calls_named(lines, "note")) {
    if (c.at("args") != "ss -ltnp") continue;
    ++rows;
    CHECK(c.value("note", "").find("(\"demo-ports\",pid=" + demo_pid + ",fd=") != std::string::npos);
  }
  CHECK(rows == 2);

  // The machine-wide listing holds the test's listener with the test's pid and
  // fd, as ss printed them above.
  const auto all = fact_value(lines, "listening_sockets");
  bool found = false;
  for (const auto& row : all) {
    const std::string text = row;
    if (!text.starts_with(my_row_start)) continue;
    found = true;
    CHECK(pid_in(text) == std::to_string(::getpid()));
    CHECK(text.ends_with("fd=" + std::to_string(mine.fd()) + "))"));
  }
  CHECK(found);
  CHECK(fact_value(lines, "server_port").at("picked_by_kernel") == true);
}

TEST_CASE("ports --port: the server on the port given", "[demos][lessons][ports]") {
  // A free port, found by binding and closing (the demo then binds it itself).
  std::uint16_t port = 0;
  {
    auto probe = socklab::net::TcpListener::bind(socklab::net::Endpoint::loopback_v4()).value();
    port = probe.endpoint().port();
  }
  const auto r = run_demo({DEMO_PORTS, "--json", "--port", std::to_string(port)});
  check_verdicts(r, {"second_server_eaddrinuse", "same_port_other_address", "same_number_udp"});
  const auto server = fact_value(r.json(), "server_port");
  CHECK(server.at("port") == port);
  CHECK(server.at("picked_by_kernel") == false);
}

TEST_CASE("ports --reuseport: two listeners share a port; every connection lands in one", "[demos][lessons][ports]") {
  const auto r = run_demo({DEMO_PORTS, "--reuseport", "--json"});
  const auto v = check_verdicts(r, {"reuseport_second_listener", "reuseport_without_option", "reuseport_all_accepted"});
  const auto lines = r.json();
  CHECK(v.at("reuseport_without_option").at("observed") == "EADDRINUSE");
  const auto split = fact_value(lines, "reuseport_split");
  const int one = split.at("listener_1"), two = split.at("listener_2");
  CHECK(one + two == 8);
  // The split as the timeline shows it: each accept names its listener; the
  // peers accepted are exactly the clients' ports.
  int by_one = 0, by_two = 0;
  std::set<int> accepted_peers, client_ports;
  for (const auto& c : calls_named(lines, "accept")) {
    if (c.contains("error")) continue;
    const std::string note = c.value("note", "");
    by_one += note.find("Listener 1 ") != std::string::npos ? 1 : 0;
    by_two += note.find("Listener 2 ") != std::string::npos ? 1 : 0;
    accepted_peers.insert(socklab::test::port_of(c.at("peer")));
  }
  CHECK(by_one == one);
  CHECK(by_two == two);
  for (const auto& c : calls_named(lines, "connect")) client_ports.insert(socklab::test::port_of(c.at("local")));
  CHECK(accepted_peers == client_ports);
  CHECK(accepted_peers.size() == 8);
  // Both listeners' binds recorded SO_REUSEPORT before bind.
  int reuse = 0;
  for (const auto& c : calls_named(lines, "setsockopt")) {
    if (c.at("args") == "SO_REUSEPORT=1") ++reuse;
  }
  CHECK(reuse == 2);
}

TEST_CASE("ports --privileged: EACCES without CAP_NET_BIND_SERVICE, bound with it", "[demos][lessons][ports]") {
  const int start = sysctl_int("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  const auto r = run_demo({DEMO_PORTS, "--privileged", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  CHECK(fact_value(lines, "unprivileged_port_start") == start);
  // Nothing goes over a network: no hint to run again with --capture (which is refused).
  const auto text = run_demo({DEMO_PORTS, "--privileged", "--no-lesson"});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("--capture") == std::string::npos);
  if (start <= 1) {
    CHECK(verdicts(lines).empty());  // no port needs the privilege here: nothing to judge
    return;
  }
  const auto v = verdicts(lines);
  REQUIRE(v.contains("low_port_without_capability"));
  CHECK(v.at("low_port_without_capability").at("observed") == "EACCES");
  // The refused bind is recorded with its port, below the limit.
  bool denied = false;
  for (const auto& b : calls_named(lines, "bind")) {
    if (b.value("error", "") == "EACCES") denied = true;
  }
  CHECK(denied);
  if (::geteuid() == 0) {
    REQUIRE(v.contains("low_port_with_capability"));
    CHECK(v.at("low_port_with_capability").at("ok") == true);
    bool listened = false;
    for (const auto& l : calls_named(lines, "listen")) {
      if (!l.contains("error") && socklab::test::port_of(l.at("local")) < start) listened = true;
    }
    CHECK(listened);
  } else {
    CHECK_FALSE(v.contains("low_port_with_capability"));
    CHECK(fact_value(lines, "capability").at("permitted") == false);
  }
}

TEST_CASE("ports --privileged without the capability: the failure, and how to get it", "[demos][lessons][ports]") {
  const int start = sysctl_int("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  if (start <= 1) return;  // every port is unprivileged on this machine: the case above checks that
  // The capability out of the bounding set: the program starts without it, as
  // an ordinary user's would (root's other capabilities stay).
  const auto r = run_demo({SOCKLAB_SETPRIV, "--bounding-set=-net_bind_service", "--inh-caps=-net_bind_service",
                           DEMO_PORTS, "--privileged", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  const auto v = verdicts(lines);
  CHECK(v.at("low_port_without_capability").at("observed") == "EACCES");
  CHECK_FALSE(v.contains("low_port_with_capability"));
  CHECK(fact_value(lines, "capability") == json({{"effective", false}, {"permitted", false}}));
}

TEST_CASE("ports: flags that do not apply are refused with the reason", "[demos][lessons][ports]") {
  const auto role = run_demo({DEMO_PORTS, "--role", "server"});
  CHECK(role.exit_code == 2);
  CHECK(role.err.find("--role server/client") != std::string::npos);
  const auto v6 = run_demo({DEMO_PORTS, "-6"});
  CHECK(v6.exit_code == 2);
  CHECK(v6.err.find("-6 does not apply") != std::string::npos);
  const auto listen = run_demo({DEMO_PORTS, "--listen", "0.0.0.0"});
  CHECK(listen.exit_code == 2);
  CHECK(listen.err.find("--listen does not apply") != std::string::npos);
  const auto capture = run_demo({DEMO_PORTS, "--privileged", "--capture"});
  CHECK(capture.exit_code == 2);
  CHECK(capture.err.find("--privileged only binds") != std::string::npos);
  const auto both = run_demo({DEMO_PORTS, "--privileged", "--reuseport"});
  CHECK(both.exit_code == 2);
  const int start = sysctl_int("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  if (start > 1) {
    const auto high = run_demo({DEMO_PORTS, "--privileged", "--port", std::to_string(start)});
    CHECK(high.exit_code == 2);
    CHECK(high.err.find("is not below ip_unprivileged_port_start") != std::string::npos);
  }
}

TEST_CASE("ports: the lesson in Chinese, every variant", "[demos][lessons][ports]") {
  for (const char* variant : {"--reuseport", "--privileged", "--ascii"}) {
    const auto r = run_demo({DEMO_PORTS, variant, "--lang", "zh", "--no-lesson"});
    INFO(variant << "\n" << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("端口") != std::string::npos);
    CHECK(r.out.find("The ") == std::string::npos);
  }
}

TEST_CASE("ports: every note the code uses exists in both languages, and no other", "[demos][lessons][ports]") {
  const auto r = run_demo({DEMO_PORTS, "--check-notes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("notes ok: demo-ports") != std::string::npos);
}
