// Every demo and variant, run without capture: the calls, the states, the
// verdicts that need no wire; both roles in two processes; the ladder's width.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "socklab/net.hpp"
#include "socklab/capture/terminal.hpp"

using socklab::test::check_verdicts;
using socklab::test::flags_of_stream;
using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::verdicts;

namespace {

struct Variant {
  std::string program;
  std::vector<std::string> flags;
  // The verdicts this variant must give without capture (the wire ones need --capture).
  std::vector<std::string> expected;
};

const std::vector<Variant> kVariants{
    {DEMO_HANDSHAKE, {}, {"options_in_force", "client_state_after_connect", "accept_queue"}},
    {DEMO_HANDSHAKE, {"--refused"}, {"connect_error"}},
    {DEMO_TEARDOWN, {}, {"server_close_wait", "client_time_wait"}},
    {DEMO_TEARDOWN, {"--merged"}, {"client_time_wait"}},
    {DEMO_TEARDOWN, {"--half-close"}, {"received_after_shutdown"}},
    {DEMO_TEARDOWN, {"--abort"}, {"peer_sees_reset_after_linger0", "no_time_wait_after_abort",
                                  "peer_sees_reset_after_unread_close"}},
    {DEMO_TEARDOWN, {"--reuse"}, {"server_time_wait", "rebind_without_reuseaddr", "rebind_with_reuseaddr"}},
};

std::string name_of(const Variant& v) {
  std::string n = v.program.substr(v.program.rfind('/') + 1);
  for (const auto& f : v.flags) n += " " + f;
  return n;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_CASE("every variant runs and gives its verdicts (no capture)", "[demos]") {
  for (const auto& v : kVariants) {
    SECTION(name_of(v)) {
      const auto r = run_demo(with(with({v.program}, v.flags), {"--json"}));
      const auto got = check_verdicts(r, v.expected);
      const auto lines = r.json();
      CHECK(of_kind(lines, "packet").empty());
      CHECK_FALSE(of_kind(lines, "call").empty());
      CHECK(lines.front().at("kind") == "lesson");
      CHECK(lines.back().at("kind") == "summary");
    }
  }
}

TEST_CASE("the calls are the lesson's: connect refused, shutdown, RST, EADDRINUSE", "[demos]") {
  auto call = [](const std::vector<nlohmann::json>& lines, std::string_view side, std::string_view name) {
    std::vector<nlohmann::json> out;
    for (const auto& c : of_kind(lines, "call")) {
      if (c.at("side") == side && c.at("call") == name) out.push_back(c);
    }
    return out;
  };
  const auto refused = run_demo({DEMO_HANDSHAKE, "--refused", "--json"}).json();
  const auto connects = call(refused, "client", "connect");
  REQUIRE(connects.size() == 1);
  CHECK(connects[0].at("error") == "ECONNREFUSED");
  CHECK(call(refused, "server", "listen").empty());

  const auto half = run_demo({DEMO_TEARDOWN, "--half-close", "--json"}).json();
  REQUIRE(call(half, "client", "shutdown").size() == 1);
  CHECK(call(half, "client", "shutdown")[0].at("args") == "SHUT_WR");
  // recv() after the client's own shutdown still returns the server's bytes.
  const auto shutdown_t = call(half, "client", "shutdown")[0].at("t_ns").get<std::int64_t>();
  std::int64_t after = 0;
  for (const auto& c : call(half, "client", "recv")) {
    if (c.at("t_ns").get<std::int64_t>() > shutdown_t) after += c.at("result").get<std::int64_t>();
  }
  CHECK(after == 59);

  const auto abort = run_demo({DEMO_TEARDOWN, "--abort", "--json"}).json();
  CHECK(call(abort, "client", "setsockopt").at(0).at("args") == "SO_LINGER=0");
  CHECK(call(abort, "server", "recv").at(0).at("error") == "ECONNRESET");
  CHECK(call(abort, "client", "recv").back().at("error") == "ECONNRESET");

  const auto reuse = run_demo({DEMO_TEARDOWN, "--reuse", "--json"}).json();
  const auto binds = call(reuse, "server", "bind");
  REQUIRE(binds.size() == 3);
  CHECK(binds[1].at("error") == "EADDRINUSE");
  CHECK(binds[2].at("errno") == 0);
  CHECK(binds[1].at("args") == binds[2].at("args"));  // the same port, twice
}

TEST_CASE("--role server and --role client work in two processes", "[demos][roles]") {
  for (const auto& v : kVariants) {
    if (v.flags == std::vector<std::string>{"--refused"}) continue;  // no server to run
    SECTION(name_of(v)) {
      // Each process reports its own side's verdicts, and between them all of them.
      const auto run = socklab::test::run_two_processes(with({v.program}, v.flags), v.expected);
      // Each process makes only its own side's calls (it may read the other's
      // state through the kernel, shown as a "state" event on that side).
      for (const auto& c : of_kind(run.server.json(), "call")) {
        if (c.at("call") != "state") CHECK(c.at("side") == "server");
      }
      for (const auto& c : of_kind(run.client.json(), "call")) CHECK(c.at("side") == "client");
    }
  }
  SECTION("a lone client against a port where nothing listens: --refused") {
    // A TCP port bound without listen(): nobody accepts there, and nobody else can take it.
    socklab::net::Socket reserved(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(reserved);
    const auto any = socklab::net::Endpoint::loopback_v4(0);
    REQUIRE(::bind(reserved.fd(), any.data(), any.size()) == 0);
    const auto r = run_demo({DEMO_HANDSHAKE, "--refused", "--role", "client", "--port",
                             std::to_string(reserved.local_endpoint()->port()), "--json"});
    check_verdicts(r, {"connect_error"});
  }
}

TEST_CASE("the text output fits 80 columns, in English and Chinese, Unicode and ASCII", "[demos][width]") {
  for (const auto& v : kVariants) {
    for (const std::vector<std::string>& style :
         {std::vector<std::string>{"--lang", "en"}, {"--lang", "zh"}, {"--lang", "zh", "--ascii"}}) {
      const auto r = run_demo(with(with({v.program}, v.flags), style));
      INFO(name_of(v) << " " << style.back());
      REQUIRE(r.exit_code == 0);
      std::size_t widest = 0;
      for (const auto& line : r.out_lines()) {
        INFO(line);
        CHECK(socklab::capture::display_width(line) <= 80);
        widest = std::max(widest, socklab::capture::display_width(line));
      }
      CHECK(widest > 60);  // the ladder really is there
      if (style.back() == "--ascii") {
        for (const auto& line : r.out_lines()) {
          for (const char* box : {"│", "─", "▶", "◀", "✓", "✗"}) CHECK_THAT(line, !Catch::Contains(box));
        }
      }
    }
  }
}

TEST_CASE("IPv6 with -6", "[demos]") {
  const auto r = run_demo({DEMO_TEARDOWN, "-6", "--json"});
  check_verdicts(r, {"server_close_wait", "client_time_wait"});
  bool saw_v6 = false;
  for (const auto& c : of_kind(r.json(), "call")) {
    if (c.at("call") == "connect") saw_v6 = c.at("args").get<std::string>().starts_with("[::1]:");
  }
  CHECK(saw_v6);
}
