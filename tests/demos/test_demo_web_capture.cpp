// demo-web with capture (root in CI): the handshakes, requests and answers on
// the wire beside the server's own log, for the builtin client, curl, --bad,
// and headless Chromium: the requests the browser really made (the server's
// log and the capture agree), and the page it rendered (--dump-dom) shows the
// address of its own connection. Without Chromium the browser's cases are
// skipped (exit 77), a failure under SOCKLAB_REQUIRE_CAPTURE=1.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "demo_runner.hpp"
#include "required_program.hpp"

using socklab::test::check_verdicts;
using socklab::test::fact_value;
using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::start_demo;
using nlohmann::json;

namespace {

// The port of a packet's "src" or "dst" ("127.0.0.1:40123", "[::1]:80").
int port_of(const json& packet, const char* which) {
  const std::string a = packet.value(which, "");
  const auto colon = a.rfind(':');
  return colon == std::string::npos ? -1 : std::stoi(a.substr(colon + 1));
}

// Headless Chromium, or a skip (a failure in CI).
void need_chromium() { socklab::test::need_program(SOCKLAB_CHROMIUM, "chromium"); }

// The request lines the capture saw going to the server (the first line of
// each segment that begins one), in order.
std::vector<std::string> wire_requests(const std::vector<json>& lines, int server_port) {
  std::vector<std::string> out;
  for (const auto& p : of_kind(lines, "packet")) {
    const std::string preview = p.value("preview", "");
    if (port_of(p, "dst") != server_port || p.value("len", 0) == 0) continue;
    if (!preview.starts_with("GET ") && !preview.starts_with("HEAD ")) continue;
    out.push_back(preview.substr(0, preview.find(" HTTP/1.")));
  }
  return out;
}

int server_port(const std::vector<json>& lines) {
  for (const auto& c : of_kind(lines, "call")) {
    if (c.at("side") == "server" && c.at("call") == "listen") {
      const std::string local = c.at("local");
      return std::stoi(local.substr(local.rfind(':') + 1));
    }
  }
  FAIL("no listen call");
  return 0;
}

// The server's log of requests as "GET /path", in order.
std::vector<std::string> logged_requests(const std::vector<json>& lines) {
  std::vector<std::string> out;
  for (const auto& r : fact_value(lines, "requests")) {
    if (r.at("method") != "") out.push_back(r.at("method").get<std::string>() + " " + r.at("target").get<std::string>());
  }
  return out;
}

std::size_t syns_to(const std::vector<json>& lines, int port) {
  std::size_t n = 0;
  for (const auto& p : of_kind(lines, "packet")) n += p.value("flags", "") == "S" && port_of(p, "dst") == port ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("web --capture: the builtin client's exchange on the wire", "[demos][web][capture]") {
  const auto r = run_demo({DEMO_WEB, "--capture", "--json"});
  check_verdicts(r, {"connections_on_wire", "requests_on_wire", "visitor_port_on_wire", "keep_alive",
                     "page_shows_visitor"});
  const auto lines = r.json();
  const int port = server_port(lines);
  CHECK(wire_requests(lines, port) == std::vector<std::string>{"GET /", "GET /style.css"});
  CHECK(syns_to(lines, port) == 1);
  // The answers, framed by Content-Length, from the server's port.
  std::size_t answers = 0;
  for (const auto& p : of_kind(lines, "packet")) {
    if (port_of(p, "src") == port && p.value("preview", "").starts_with("HTTP/1.1 200 OK")) ++answers;
  }
  CHECK(answers == 2);
}

TEST_CASE("web --capture --client curl", "[demos][web][capture]") {
  if (std::string_view(SOCKLAB_CURL).empty()) {
    WARN("skipped: curl is not installed");
    return;
  }
  const auto r = run_demo({DEMO_WEB, "--capture", "--client", "curl", "--json"});
  check_verdicts(r, {"connections_on_wire", "requests_on_wire", "visitor_port_on_wire", "keep_alive",
                     "page_shows_visitor"});
  const auto lines = r.json();
  CHECK(wire_requests(lines, server_port(lines)) == std::vector<std::string>{"GET /", "GET /style.css"});
}

TEST_CASE("web --capture --bad: the bad requests and the good one on the wire", "[demos][web][capture]") {
  const auto r = run_demo({DEMO_WEB, "--capture", "--bad", "--head-timeout", "200", "--json"});
  check_verdicts(r, {"bad_requests_answered", "still_serving", "connections_on_wire", "requests_on_wire"});
  const auto lines = r.json();
  const int port = server_port(lines);
  CHECK(syns_to(lines, port) == 4);
  std::vector<std::string> statuses;
  for (const auto& p : of_kind(lines, "packet")) {
    const std::string preview = p.value("preview", "");
    if (port_of(p, "src") == port && preview.starts_with("HTTP/1.1 ")) statuses.push_back(preview.substr(9, 3));
  }
  CHECK(statuses == std::vector<std::string>{"431", "408", "400", "200"});
}

TEST_CASE("web --capture --client chromium: what the browser really did", "[demos][web][capture][chromium]") {
  need_chromium();
  const auto r = run_demo({DEMO_WEB, "--capture", "--client", "chromium", "--json"});
  const auto v = check_verdicts(r, {"page_shows_visitor", "stylesheet_requested", "connections_on_wire",
                                    "requests_on_wire", "visitor_port_on_wire"});
  const auto lines = r.json();
  const int port = server_port(lines);
  // The requests, as the server logged them and as the capture saw them: the same.
  const auto logged = logged_requests(lines);
  CHECK(logged == wire_requests(lines, port));
  REQUIRE(logged.size() >= 2);
  CHECK(logged[0] == "GET /");
  CHECK(std::find(logged.begin(), logged.end(), "GET /style.css") != logged.end());
  // Whatever else it asked for is only what it asked for: /favicon.ico or nothing.
  for (const auto& l : logged) CHECK((l == "GET /" || l == "GET /style.css" || l == "GET /favicon.ico"));
  const bool favicon = std::find(logged.begin(), logged.end(), "GET /favicon.ico") != logged.end();
  CHECK(fact_value(lines, "favicon_requested") == favicon);
  // Connections: every accept had its handshake on the wire; those without a
  // request are counted as such.
  const auto per = fact_value(lines, "requests_per_connection");
  CHECK(syns_to(lines, port) == per.size());
  std::size_t idle = 0;
  for (const auto& [id, n] : per.items()) idle += n.get<int>() == 0 ? 1 : 0;
  CHECK(fact_value(lines, "connections_without_request") == idle);
  // The page Chromium rendered shows the address of the connection that asked for it.
  const std::string shown = v.at("page_shows_visitor").at("observed");
  CHECK(shown.starts_with("127.0.0.1:"));
  std::string root_peer;
  for (const auto& q : fact_value(lines, "requests")) {
    if (q.at("target") == "/") root_peer = q.at("peer");
  }
  CHECK(shown == root_peer);
  // And the profile it used is gone.
  for (const auto& e : std::filesystem::directory_iterator("/tmp")) {
    CHECK_FALSE(e.path().filename().string().starts_with("socklab-web-chromium-"));
  }
}

TEST_CASE("web: a server in one process, Chromium in another", "[demos][web][capture][chromium]") {
  need_chromium();
  auto server = start_demo({DEMO_WEB, "--role", "server", "--capture", "--json"});
  const auto port = socklab::test::announced_port(server.wait_for_stderr("Open http://"));
  REQUIRE(port);
  const auto client = run_demo({DEMO_WEB, "--role", "client", "--port", *port, "--client", "chromium", "--json"});
  INFO(client.err);
  REQUIRE(client.exit_code == 0);
  // The browser has exited, so its connections are closed; the class server
  // prints each connection's run as it closes: wait for the page's and the
  // stylesheet's, then end the class.
  REQUIRE(server.wait_until([](const socklab::test::ProcessOutput& o) {
    return o.out.find("\"target\":\"/\"") != std::string::npos && o.out.find("\"target\":\"/style.css\"") != std::string::npos;
  }));
  server.signal(SIGINT);
  const auto done = server.finish();
  INFO(done.err);
  REQUIRE(done.exit_code == 0);
  // Each run is one of the browser's connections: its own verdicts, its own
  // requests, on the wire as in its log.
  std::map<std::string, std::vector<json>> by_client;
  for (const auto& l : done.json()) {
    if (l.value("kind", "") != "class_summary") by_client[l.at("client").get<std::string>()].push_back(l);
  }
  REQUIRE(!by_client.empty());
  std::multiset<std::string> logged;
  for (const auto& [who, run] : by_client) {
    INFO(who);
    for (const auto& name : {"connections_on_wire", "requests_on_wire"}) {
      INFO(name);
      CHECK(socklab::test::verdicts(run).at(name).at("ok") == true);
    }
    CHECK(syns_to(run, std::stoi(*port)) == 1);
    const auto requests = logged_requests(run);
    CHECK(requests == wire_requests(run, std::stoi(*port)));
    logged.insert(requests.begin(), requests.end());
  }
  CHECK(logged.contains("GET /"));
  CHECK(logged.contains("GET /style.css"));
  const auto summary = of_kind(done.json(), "class_summary");
  REQUIRE(summary.size() == 1);
  CHECK(summary[0].at("clients") == by_client.size());
}
