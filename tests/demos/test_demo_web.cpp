// demo-web without privilege: the builtin client (the lookup of localhost, two
// requests on one connection, Content-Length), curl, --bad (431, 408, 400 and
// then a 200), the two roles in two processes, the server visited by a raw
// client the test writes itself, and bad usage.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "demo_checks.hpp"
#include "demo_runner.hpp"
#include "socklab/net.hpp"

using socklab::test::check_verdicts;
using socklab::test::fact_value;
using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::start_demo;
using nlohmann::json;

namespace {

std::vector<json> calls_of(const std::vector<json>& lines, const std::string& side, const std::string& call) {
  std::vector<json> out;
  for (const auto& c : of_kind(lines, "call")) {
    if (c.at("side") == side && c.at("call") == call) out.push_back(c);
  }
  return out;
}

bool has_note_row(const std::vector<json>& lines, const std::string& side, const std::string& args) {
  for (const auto& c : calls_of(lines, side, "note")) {
    if (c.at("args").get<std::string>().find(args) != std::string::npos) return true;
  }
  return false;
}

// The targets the server answered, in order.
std::vector<std::string> targets(const json& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.at("target"));
  return out;
}

// One raw HTTP exchange with a server started by the test: the status line.
std::string status_line(socklab::net::TcpStream& s, std::string_view request) {
  REQUIRE(s.send_all(request));
  std::string got;
  std::array<std::byte, 4096> buf{};
  while (got.find("\r\n") == std::string::npos) {
    REQUIRE(s.wait_readable(std::chrono::seconds(30)));
    const auto n = s.recv_some(buf);
    REQUIRE(n);
    if (*n == 0) break;
    got.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return got.substr(0, got.find("\r\n"));
}

}  // namespace

TEST_CASE("web: the builtin client looks up localhost and asks twice on one connection", "[demos][web]") {
  const auto r = run_demo({DEMO_WEB, "--json"});
  const auto v = check_verdicts(r, {"status", "content_length_frames_body", "keep_alive", "page_shows_visitor"});
  const auto lines = r.json();
  CHECK(v.at("status").at("observed") == json({{"/", 200}, {"/style.css", 200}}));
  CHECK(v.at("keep_alive").at("observed") == json({{"connections", 1}, {"requests", 2}}));
  // Each body read is what its Content-Length announced, and not empty.
  for (const auto& [target, l] : v.at("content_length_frames_body").at("observed").items()) {
    INFO(target);
    CHECK(l.at("read") == l.at("content_length"));
    CHECK(l.at("read").get<int>() > 0);
  }
  // The page shows the client's own port, the one its connect() used.
  const auto connects = calls_of(lines, "client", "connect");
  REQUIRE(connects.size() == 1);
  CHECK(v.at("page_shows_visitor").at("observed") == connects[0].at("local"));

  // The lookup: /etc/hosts names localhost here, getaddrinfo() gave the server's address.
  const auto lookup = fact_value(lines, "lookup");
  CHECK(lookup.at("host") == "localhost");
  const auto resolved = lookup.at("getaddrinfo").get<std::vector<std::string>>();
  CHECK(std::find(resolved.begin(), resolved.end(), "127.0.0.1") != resolved.end());
  CHECK(has_note_row(lines, "client", "/etc/hosts"));
  CHECK(has_note_row(lines, "client", "getaddrinfo()"));
  CHECK(has_note_row(lines, "client", "nsswitch.conf"));
  CHECK(has_note_row(lines, "client", "http://localhost:"));

  // The server's side: one accept, the request line, the Host header, the blank line.
  CHECK(calls_of(lines, "server", "accept").size() == 1);
  CHECK(has_note_row(lines, "server", "GET / HTTP/1.1"));
  CHECK(has_note_row(lines, "server", "GET /style.css HTTP/1.1"));
  CHECK(has_note_row(lines, "server", "Host: localhost:"));
  CHECK(has_note_row(lines, "server", "\\r\\n"));
  CHECK(targets(fact_value(lines, "requests")) == std::vector<std::string>{"/", "/style.css"});
  CHECK(fact_value(lines, "requests_per_connection") == json({{"1", 2}}));
  // Without capture, no claim about the wire.
  CHECK_FALSE(v.contains("connections_on_wire"));
}

TEST_CASE("web --client curl: curl reuses its connection for the second URL", "[demos][web]") {
  if (std::string_view(SOCKLAB_CURL).empty()) {
    WARN("skipped: curl is not installed");
    return;
  }
  const auto r = run_demo({DEMO_WEB, "--client", "curl", "--json"});
  const auto v = check_verdicts(r, {"keep_alive", "page_shows_visitor"});
  const auto lines = r.json();
  CHECK(targets(fact_value(lines, "requests")) == std::vector<std::string>{"/", "/style.css"});
  // The page curl got shows the address of the connection that asked for it.
  const std::string peer = fact_value(lines, "requests").at(0).at("peer");
  CHECK(v.at("page_shows_visitor").at("text").get<std::string>().find(peer) != std::string::npos);
  // curl's calls are its own: the client column has no socket call of ours.
  CHECK(calls_of(lines, "client", "connect").empty());
  CHECK(has_note_row(lines, "client", "curl http://127.0.0.1:"));
}

TEST_CASE("web --bad: 431, 408 and 400, and the server keeps serving", "[demos][web]") {
  const auto r = run_demo({DEMO_WEB, "--bad", "--head-timeout", "200", "--json"});
  const auto v = check_verdicts(r, {"bad_requests_answered", "still_serving"});
  const auto lines = r.json();
  CHECK(v.at("bad_requests_answered").at("observed") == json({431, 408, 400}));
  const auto requests = fact_value(lines, "requests");
  REQUIRE(requests.size() == 4);
  CHECK(requests.at(3).at("status") == 200);
  CHECK(requests.at(3).at("connection") == 4);
  // The 408 is the stated limit: sent no sooner than --head-timeout after the head began.
  std::int64_t head_began = 0, answered = 0;
  for (const auto& c : of_kind(lines, "call")) {
    if (c.at("side") != "server") continue;
    if (c.at("call") == "recv" && c.value("preview", "").starts_with("GET / HTTP/1.1\\r\\nHost: localhos")) {
      head_began = c.at("t_ns");
    }
    if (c.at("call") == "send" && c.value("preview", "").starts_with("HTTP/1.1 408")) answered = c.at("t_ns");
  }
  REQUIRE(head_began > 0);
  REQUIRE(answered > 0);
  CHECK(answered - head_began >= 200'000'000);
  CHECK(fact_value(lines, "limits").at("head_timeout_ms") == 200);
}

TEST_CASE("web: server and client in two processes", "[demos][web]") {
  auto server = start_demo({DEMO_WEB, "--role", "server", "--serve", "1", "--json"});
  const auto said = server.wait_for_stderr("Open http://");
  const auto port = socklab::test::announced_port(said);
  REQUIRE(port);
  CHECK(said.find("Open http://127.0.0.1:" + *port + "/ in any browser") != std::string::npos);
  const auto client = run_demo({DEMO_WEB, "--role", "client", "--port", *port, "--json"});
  const auto visitor = check_verdicts(client, {"status", "keep_alive", "page_shows_visitor"}).at("page_shows_visitor").at("observed");
  const auto done = server.finish();
  INFO(done.err);
  REQUIRE(done.exit_code == 0);
  // The class server's run is the client's one connection: both requests on
  // it, every object tagged with the address the page showed the client.
  auto lines = done.json();
  const auto summaries = of_kind(lines, "class_summary");
  REQUIRE(summaries.size() == 1);
  CHECK(summaries[0].at("clients") == 1);
  std::erase_if(lines, [](const json& l) { return l.value("kind", "") == "class_summary"; });
  for (const auto& l : lines) CHECK(l.at("client") == visitor);
  CHECK(targets(fact_value(lines, "requests")) == std::vector<std::string>{"/", "/style.css"});
  CHECK(fact_value(lines, "requests_per_connection") == json({{"1", 2}}));
}

TEST_CASE("web: a raw client's bad requests get their status, then a good one is served", "[demos][web]") {
  // Five connections, each a run of the class server, answered whatever they send.
  auto server = start_demo({DEMO_WEB, "--role", "server", "--serve", "5", "--head-timeout", "300", "--json"});
  const auto port = socklab::test::announced_port(server.wait_for_stderr("Open http://"));
  REQUIRE(port);
  const auto at = socklab::net::Endpoint::loopback_v4(static_cast<std::uint16_t>(std::stoi(*port)));
  {
    auto s = socklab::net::TcpStream::connect(at);
    REQUIRE(s);
    CHECK(status_line(*s, "hello\r\n\r\n") == "HTTP/1.1 400 Bad Request");  // a line, but not a request line
  }
  {
    auto s = socklab::net::TcpStream::connect(at);
    REQUIRE(s);
    CHECK(status_line(*s, "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(9000, 'x')) ==
          "HTTP/1.1 431 Request Header Fields Too Large");
  }
  {
    auto s = socklab::net::TcpStream::connect(at);
    REQUIRE(s);
    CHECK(status_line(*s, "GET / HTTP/1.1\r\nHost: x\r\n") == "HTTP/1.1 408 Request Timeout");
  }
  {
    auto s = socklab::net::TcpStream::connect(at);
    REQUIRE(s);
    CHECK(status_line(*s, "GET / HTTP/1.1\r\n\r\n") == "HTTP/1.1 400 Bad Request");  // HTTP/1.1 without Host
    auto again = socklab::net::TcpStream::connect(at);
    REQUIRE(again);
    CHECK(status_line(*again, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
    CHECK(status_line(*again, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK");
    CHECK(status_line(*again, "GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == "HTTP/1.1 200 OK");
  }
  const auto done = server.finish();
  INFO(done.err);
  REQUIRE(done.exit_code == 0);
  // Each connection's statuses in its own run (the runs end in whichever order their connections close).
  std::map<std::string, std::vector<int>> by_client;
  for (const auto& f : of_kind(done.json(), "fact")) {
    if (f.at("name") != "requests") continue;
    for (const auto& r : f.at("value")) by_client[f.at("client")].push_back(r.at("status"));
  }
  std::multiset<std::vector<int>> statuses;
  for (const auto& [client, s] : by_client) statuses.insert(s);
  CHECK(statuses == std::multiset<std::vector<int>>{{400}, {431}, {408}, {400}, {404, 200, 200}});
}

TEST_CASE("web: a client whose server does not answer HTTP says so, in the run's language", "[demos][web]") {
  // A server the test writes: it reads the request's head, answers `answer` and closes.
  auto listener = socklab::net::TcpListener::bind(socklab::net::Endpoint::loopback_v4(0));
  REQUIRE(listener);
  const std::string port = std::to_string(listener->endpoint().port());
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {"SSH-2.0-OpenSSH_9.2\r\n\r\n", {"Not an HTTP answer: it begins \"SSH-2.0", "这不是 HTTP 响应：它以“SSH-2.0"}},
      {"HTTP/1.1 200 OK\r\n\r\n", {"without Content-Length", "没有 Content-Length 的响应（状态 200）"}},
      {"", {"The server closed before its answer's head ended", "服务器在响应头结束之前就关闭了"}},
  };
  for (const auto& [answer, said] : cases) {
    for (const std::string lang : {"en", "zh"}) {
      std::thread server([&, answer = answer] {
        auto a = listener->accept(std::chrono::seconds(30));
        if (!a) return;
        std::string head;
        std::array<std::byte, 4096> buf{};
        while (head.find("\r\n\r\n") == std::string::npos) {
          if (!a->stream.wait_readable(std::chrono::seconds(30))) return;
          const auto n = a->stream.recv_some(buf);
          if (!n || *n == 0) return;
          head.append(reinterpret_cast<const char*>(buf.data()), *n);
        }
        (void)a->stream.send_all(answer);
        (void)a->stream.close();
      });
      const auto r = run_demo({DEMO_WEB, "--role", "client", "--port", port, "--lang", lang});
      server.join();
      INFO(answer << " " << lang << "\n" << r.out << r.err);
      CHECK(r.exit_code == 1);
      CHECK((r.out + r.err).find(said[lang == "en" ? 0 : 1]) != std::string::npos);
    }
  }
}

TEST_CASE("web: bad usage is refused with the reason", "[demos][web]") {
  const auto both = run_demo({DEMO_WEB, "--bad", "--client", "curl"});
  CHECK(both.exit_code == 2);
  CHECK(both.err.find("--bad sends its own bad requests") != std::string::npos);
  const auto server = run_demo({DEMO_WEB, "--role", "server", "--client", "curl"});
  CHECK(server.exit_code == 2);
  CHECK(server.err.find("--role server has none") != std::string::npos);
  const auto unknown = run_demo({DEMO_WEB, "--client", "lynx"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("lynx") != std::string::npos);
  // A browser that is not on PATH: named, with the package to install.
  const auto missing = run_demo({DEMO_WEB, "--client", "chromium"},
                                {{"LANG", "C.UTF-8"}, {"PATH", "/nonexistent"}});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("chromium is not installed") != std::string::npos);
}
