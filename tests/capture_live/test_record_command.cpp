// `socklab-capture record`, run as a program (needs CAP_NET_RAW: a PRIVILEGED test).
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include <fmt/format.h>

#include "live_test_support.hpp"
#include "net_helpers.hpp"
#include "socklab/net.hpp"

using namespace std::chrono_literals;
using socklab::net::Endpoint;
using socklab::net::UdpSocket;
using socklab::net::value_or_throw;
using socklab::test::Child;
using socklab::test::lines_of;
using socklab::test::run_command;
using socklab::test::ScratchDir;

namespace {

const std::string tool = SOCKLAB_CAPTURE_TOOL;

std::size_t tcpdump_count(const std::filesystem::path& file) {
  const auto r = run_command(fmt::format("{} -nn -r '{}' 2>/dev/null", SOCKLAB_TCPDUMP, file.string()));
  REQUIRE(r.exit_code == 0);
  return lines_of(r.out).size();
}

void send_datagrams(const Endpoint& to, int n) {
  auto sender = value_or_throw(UdpSocket::open(to.family()));
  for (int i = 0; i < n; ++i) value_or_throw(sender.send_to(socklab::test::bytes_of("ping"), to));
}

}  // namespace

TEST_CASE("record --count stops by itself after that many packets", "[record]") {
  auto receiver = value_or_throw(UdpSocket::bind(Endpoint::loopback_v4()));
  const auto to = value_or_throw(receiver.local_endpoint());
  ScratchDir dir;
  const auto file = dir / "three.pcap";
  Child child({tool, "record", "--port", std::to_string(to.port()), "--count", "3", "-w", file.string()});
  REQUIRE(child.wait_for_output("recording on lo", 10s));  // armed
  send_datagrams(to, 5);
  const int code = child.wait();
  INFO(child.err());
  CHECK(code == 0);
  CHECK(tcpdump_count(file) == 3);
  CHECK_THAT(child.err(), Catch::Contains("3 packets captured"));
  CHECK_THAT(child.err(), Catch::Contains("0 dropped by kernel"));
  CHECK(dir.files() == std::vector<std::string>{"three.pcap"});
}

TEST_CASE("Ctrl-C ends record cleanly with a complete file", "[record]") {
  // Also when started in the background by a shell, which ignores SIGINT for it.
  const bool background = GENERATE(false, true);
  INFO((background ? "started with SIGINT ignored" : "started in the foreground"));
  auto receiver = value_or_throw(UdpSocket::bind(Endpoint::loopback_v4()));
  const auto to = value_or_throw(receiver.local_endpoint());
  ScratchDir dir;
  const auto file = dir / "interrupted.pcap";
  Child child({tool, "record", "--port", std::to_string(to.port()), "-w", file.string()}, background);
  REQUIRE(child.wait_for_output("recording on lo", 10s));
  send_datagrams(to, 4);
  CHECK_FALSE(std::filesystem::exists(file));  // not before the end: never half-written
  child.signal(SIGINT);
  const int code = child.wait();
  INFO(child.err());
  CHECK(code == 0);
  CHECK(tcpdump_count(file) == 4);
  CHECK_THAT(child.err(), Catch::Contains("interrupted"));
  CHECK_THAT(child.err(), Catch::Contains("4 packets captured, 4 received by filter, 0 dropped by kernel"));
}

TEST_CASE("record --seconds stops at the time limit", "[record]") {
  ScratchDir dir;
  const auto file = dir / "quiet.pcap";
  Child child({tool, "record", "--filter", "udp port 9", "--seconds", "0.2", "-w", file.string()});
  const int code = child.wait();
  INFO(child.err());
  CHECK(code == 0);
  CHECK(std::filesystem::file_size(file) == 24);  // the header alone: nothing was sent
}

TEST_CASE("record with a bad filter fails, names it, and leaves no file", "[record]") {
  ScratchDir dir;
  Child child({tool, "record", "--filter", "tcp prot 80", "-w", (dir / "x.pcap").string()});
  const int code = child.wait();
  CHECK(code == 1);
  CHECK_THAT(child.err(), Catch::Contains("bad filter \"tcp prot 80\""));
  CHECK(dir.files().empty());
}

TEST_CASE("record without capture privilege explains the fix and exits 4", "[record][unprivileged]") {
  ScratchDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);  // nobody may write here
  const auto file = dir / "denied.pcap";
  // nobody, with every capability dropped: what a student's own account looks like.
  Child child({"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
               "--bounding-set=-all", tool, "record", "--port", "8080", "-w", file.string()});
  const int code = child.wait();
  INFO(child.err());
  CHECK(code == 4);
  CHECK_THAT(child.err(), Catch::Contains("CAP_NET_RAW"));
  CHECK_THAT(child.err(), Catch::Contains("setcap cap_net_raw,cap_net_admin+eip " + tool));
  CHECK_THAT(child.err(), Catch::Contains("run it as root"));
  CHECK(dir.files().empty());
}
