// demo-unix without privilege: the echo over every family, SO_PEERCRED, the
// throughput measured, --stale step by step, Chinese, --role refused, and no
// socket file or directory left behind.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>
#include <vector>

#include "demo_runner.hpp"
#include "unix_checks.hpp"

using socklab::test::check_nothing_left;
using socklab::test::fact_value;
using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::verdicts;
using nlohmann::json;

namespace {

bool has_call(const std::vector<json>& lines, const std::string& side, const std::string& call, const std::string& args) {
  for (const auto& c : of_kind(lines, "call")) {
    if (c.at("side") == side && c.at("call") == call && c.at("args").get<std::string>().find(args) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("unix: the same echo over a path, an abstract name and AF_INET", "[demos][lessons][unix]") {
  const auto r = run_demo({DEMO_UNIX, "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  const auto v = verdicts(lines);
  REQUIRE(v.at("echo_over_every_family").at("ok") == true);
  const std::string msg = "hello, socket family";
  CHECK(v.at("echo_over_every_family").at("observed") == json({{"path", msg}, {"abstract", msg}, {"inet", msg}}));
  // Both sides in this process: the peer is the demo itself.
  REQUIRE(v.at("peercred_matches").at("ok") == true);
  CHECK(v.at("peercred_matches").at("observed").at("uid") == ::getuid());
  CHECK_FALSE(v.contains("unix_no_packets_on_lo"));  // no capture, no claim about the wire

  const auto dir = fact_value(lines, "socket_dir");
  const std::string path = dir.at("path");
  const std::string abstract = dir.at("abstract");
  // The same calls for each family, in the timeline.
  CHECK(has_call(lines, "server", "socket", "AF_UNIX"));
  CHECK(has_call(lines, "server", "socket", "AF_INET"));
  CHECK(has_call(lines, "server", "bind", path));
  CHECK(has_call(lines, "server", "bind", abstract));
  CHECK(has_call(lines, "server", "bind", "127.0.0.1"));
  CHECK(has_call(lines, "client", "connect", path));
  CHECK(has_call(lines, "client", "connect", abstract));
  CHECK(has_call(lines, "client", "connect", "127.0.0.1:"));
  CHECK(has_call(lines, "server", "getsockopt", "SO_PEERCRED"));

  const auto tp = fact_value(lines, "throughput_mb_s");
  CHECK(tp.at("af_unix").get<double>() > 0);
  CHECK(tp.at("af_inet").get<double>() > 0);
  CHECK(tp.at("bytes") == 4 * 1024 * 1024);
  check_nothing_left(lines);
}

TEST_CASE("unix --stale: EADDRINUSE, ECONNREFUSED, unlink, bind again", "[demos][lessons][unix]") {
  const auto r = run_demo({DEMO_UNIX, "--stale", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  const auto v = verdicts(lines);
  CHECK(v.at("stale_file_eaddrinuse").at("observed") == "EADDRINUSE");
  CHECK(v.at("stale_probe_refused").at("observed") == "ECONNREFUSED");
  CHECK(v.at("stale_fixed").at("observed") == true);
  for (const auto& [name, verdict] : v) CHECK(verdict.at("ok") == true);
  CHECK(fact_value(lines, "stale_file") == true);
  // Step by step: the failed bind, the refused probe, the bind that works.
  bool failed_bind = false, refused = false;
  for (const auto& c : of_kind(lines, "call")) {
    if (c.at("call") == "bind" && c.value("error", "") == "EADDRINUSE") failed_bind = true;
    if (c.at("call") == "connect" && c.value("error", "") == "ECONNREFUSED") refused = true;
  }
  CHECK(failed_bind);
  CHECK(refused);
  check_nothing_left(lines);
}

TEST_CASE("unix: the lesson in Chinese, both variants", "[demos][lessons][unix]") {
  for (const char* variant : {"--stale", "--ascii"}) {
    const auto r = run_demo({DEMO_UNIX, variant, "--lang", "zh", "--no-lesson"});
    INFO(variant << "\n" << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("套接字") != std::string::npos);
    CHECK(r.out.find("The ") == std::string::npos);
    // --stale refuses --capture, so it never suggests running again with it.
    if (std::string_view(variant) == "--stale") CHECK(r.out.find("--capture") == std::string::npos);
  }
}

TEST_CASE("unix: --role is refused with the reason (AF_UNIX stays on one machine)", "[demos][lessons][unix]") {
  const auto server = run_demo({DEMO_UNIX, "--role", "server"});
  CHECK(server.exit_code == 2);
  CHECK(server.err.find("cannot reach another machine") != std::string::npos);
  const auto client = run_demo({DEMO_UNIX, "--role", "client", "--host", "127.0.0.1", "--port", "9"});
  CHECK(client.exit_code == 2);
  CHECK(client.err.find("--role server/client") != std::string::npos);
  const auto host = run_demo({DEMO_UNIX, "--host", "127.0.0.1"});
  CHECK(host.exit_code == 2);
  CHECK(host.err.find("--host names another machine") != std::string::npos);
}

TEST_CASE("unix --stale --capture: refused, nothing to capture", "[demos][lessons][unix]") {
  const auto r = run_demo({DEMO_UNIX, "--stale", "--capture"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--stale uses no network") != std::string::npos);
}
