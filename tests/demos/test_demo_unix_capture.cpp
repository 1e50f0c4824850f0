// demo-unix --capture (needs CAP_NET_RAW: root in CI): the capture, armed on lo
// for the whole run, holds the AF_INET exchange's segments and nothing during
// the AF_UNIX exchanges.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "demo_runner.hpp"
#include "unix_checks.hpp"

using socklab::test::check_nothing_left;
using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::verdicts;
using nlohmann::json;

TEST_CASE("unix --capture: segments for AF_INET on lo, none for AF_UNIX", "[demos][lessons][unix]") {
  const auto r = run_demo({DEMO_UNIX, "--capture", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  const auto v = verdicts(lines);
  for (const auto& [name, verdict] : v) {
    INFO(name << ": " << verdict.dump());
    CHECK(verdict.at("ok") == true);
  }
  CHECK(v.at("unix_no_packets_on_lo").at("observed") == json({{"path", 0}, {"abstract", 0}}));
  // Every captured packet is TCP of the AF_INET exchange: the handshake opens it.
  const auto packets = of_kind(lines, "packet");
  REQUIRE(packets.size() >= 3);
  // At least the handshake falls in the exchange's window; the server's FIN and
  // the last ACK may come after the client's close() that ends it.
  const auto in_window = v.at("inet_segments_on_lo").at("observed").get<std::size_t>();
  CHECK(in_window >= 3);
  CHECK(in_window <= packets.size());
  CHECK(packets.front().at("flags") == "S");
  for (const auto& p : packets) CHECK(p.at("proto") == "tcp");
  check_nothing_left(lines);
}
