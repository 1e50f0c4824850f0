// `socklab-capture record`, run as a program (needs CAP_NET_RAW: a PRIVILEGED test).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <cstring>
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

// ---- issue 11: the file survives signals, full disks and bad -w targets

TEST_CASE("SIGHUP and SIGTERM end record like Ctrl-C and keep the file; SIGUSR1 only reports", "[record]") {
  const int sig = GENERATE(SIGHUP, SIGTERM);
  INFO("signal " << ::sigabbrev_np(sig));
  auto receiver = value_or_throw(UdpSocket::bind(Endpoint::loopback_v4()));
  const auto to = value_or_throw(receiver.local_endpoint());
  ScratchDir dir;
  const auto file = dir / "hangup.pcap";
  Child child({tool, "record", "--port", std::to_string(to.port()), "-w", file.string()});
  REQUIRE(child.wait_for_output("recording on lo", 10s));
  send_datagrams(to, 2);
  child.signal(SIGUSR1);
  REQUIRE(child.wait_for_output("captured so far", 10s));  // still recording
  send_datagrams(to, 1);
  child.signal(sig);
  const int code = child.wait();
  INFO(child.err());
  CHECK(code == 0);
  CHECK_THAT(child.err(), Catch::Contains(std::string(::sigabbrev_np(sig)) + " received, finishing the file"));
  CHECK(tcpdump_count(file) == 3);
  CHECK(dir.files() == std::vector<std::string>{"hangup.pcap"});
}

TEST_CASE("after SIGKILL the leftover temporary file is cleaned up by the next run", "[record]") {
  ScratchDir dir;
  const auto file = dir / "killed.pcap";
  {
    Child child({tool, "record", "--filter", "udp port 9", "-w", file.string()});
    REQUIRE(child.wait_for_output("recording on lo", 10s));
    child.signal(SIGKILL);
    child.wait();
  }
  REQUIRE(dir.files().size() == 1);
  CHECK(dir.files()[0].starts_with(".killed.pcap."));  // the dead recorder's .part
  Child again({tool, "record", "--filter", "udp port 9", "--seconds", "0.1", "-w", file.string()});
  CHECK(again.wait() == 0);
  CHECK(dir.files() == std::vector<std::string>{"killed.pcap"});
  CHECK(tcpdump_count(file) == 0);
}

TEST_CASE("record refuses a -w that is not a regular file before capturing", "[record]") {
  ScratchDir dir;
  SECTION("a device node stays a device") {
    const auto node = dir / "fakenull";
    REQUIRE(::mknod(node.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0);
    Child child({tool, "record", "--port", "9", "--seconds", "1", "-w", node.string()});
    CHECK(child.wait() == 1);
    CHECK_THAT(child.err(), Catch::Contains(node.string() + ": is a character device"));
    CHECK_THAT(child.err(), !Catch::Contains("recording on"));
    struct stat st {};
    REQUIRE(::lstat(node.c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
  }
  SECTION("a directory") {
    Child child({tool, "record", "--port", "9", "--seconds", "1", "-w", dir.path().string()});
    CHECK(child.wait() == 1);
    CHECK_THAT(child.err(), Catch::Contains("is a directory"));
    CHECK_THAT(child.err(), !Catch::Contains("recording on"));
  }
  SECTION("a directory that does not exist") {
    Child child({tool, "record", "--port", "9", "--seconds", "1", "-w", (dir / "none" / "x.pcap").string()});
    CHECK(child.wait() == 1);
    CHECK_THAT(child.err(), Catch::Contains("does not exist"));
    CHECK_THAT(child.err(), !Catch::Contains("recording on"));
  }
}

TEST_CASE("record's bad values are refused with the range in words", "[record]") {
  ScratchDir dir;
  const auto file = (dir / "x.pcap").string();
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const auto c = GENERATE(Case{{"-c", "0"}, "1 or more"}, Case{{"-c", "-1"}, "1 or more"},
                          Case{{"-c", "abc"}, "1 or more"}, Case{{"--seconds", "abc"}, "above 0 and at most"},
                          Case{{"--seconds", "nan"}, "above 0 and at most"},
                          Case{{"--seconds", "inf"}, "above 0 and at most"},
                          Case{{"--seconds", "-2"}, "above 0 and at most"},
                          Case{{"--seconds", "0"}, "above 0 and at most"},
                          Case{{"--seconds", "1e400"}, "above 0 and at most"});
  std::vector<std::string> argv{tool, "record", "--port", "9", "-w", file};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  INFO(c.args[0] << " " << c.args[1]);
  Child child(argv);
  CHECK(child.wait() == 2);
  CHECK_THAT(child.err(), Catch::Contains(c.says));
  CHECK(child.err().find("1797693") == std::string::npos);  // no 309-digit double
  CHECK(dir.files().empty());
}

TEST_CASE("record -w '' is bad usage", "[record]") {
  Child child({tool, "record", "--port", "9", "--seconds", "1", "-w", ""});
  CHECK(child.wait() == 2);
  CHECK_THAT(child.err(), Catch::Contains("a file name is needed"));
}

TEST_CASE("a full disk stops record at once and keeps a valid, shorter file", "[record]") {
  // A 64 KiB tmpfs in a mount namespace of its own: the disk really fills up
  // (ENOSPC), and the mount goes with the namespace whatever happens.
  auto receiver = value_or_throw(UdpSocket::bind(Endpoint::loopback_v4()));
  const auto to = value_or_throw(receiver.local_endpoint());
  ScratchDir dir;
  const auto small = dir / "small";
  std::filesystem::create_directory(small);
  const auto file = small / "full.pcap";
  Child child({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
               fmt::format("mount -t tmpfs -o size=64k socklab-test {} || exit 99; {} record --port {} -w {}; "
                           "echo \"recorder exit $?\" >&2; cp {} {}",
                           small.string(), tool, to.port(), file.string(), file.string(), (dir / "kept.pcap").string())});
  REQUIRE(child.wait_for_output("recording on lo", 10s));
  // More than the 1 MiB the writer buffers: the first flush meets the full disk.
  auto sender = value_or_throw(UdpSocket::open(to.family()));
  const std::vector<std::byte> block(8000, std::byte{0x78});
  for (int i = 0; i < 200; ++i) value_or_throw(sender.send_to(block, to));
  const int code = child.wait();  // ends by itself: nobody signals it
  INFO(child.err());
  CHECK(code == 0);  // the kept file was copied out of the tmpfs
  CHECK_THAT(child.err(), Catch::Contains("recorder exit 1"));
  CHECK_THAT(child.err(), Catch::Contains("No space left on device"));
  CHECK_THAT(child.err(), Catch::Contains("a valid file, cut short"));
  const auto at = child.err().find("kept the ");
  REQUIRE(at != std::string::npos);
  const std::size_t kept = std::stoul(child.err().substr(at + 9));
  CHECK(kept > 0);
  CHECK(kept < 200);
  // Whole packets only: tcpdump reads every one and finds no cut record.
  const auto r = run_command(fmt::format("{} -nn -r '{}' 2>&1", SOCKLAB_TCPDUMP, (dir / "kept.pcap").string()));
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, !Catch::Contains("truncated"));
  CHECK(lines_of(r.out).size() == kept + 1);  // + tcpdump's "reading from file" line
}

TEST_CASE("record -w FILE.pcapng streams pcapng with each packet's phase as its comment", "[record][pcapng]") {
  auto receiver = value_or_throw(UdpSocket::bind(Endpoint::loopback_v4()));
  const auto to = value_or_throw(receiver.local_endpoint());
  ScratchDir dir;
  const bool by_flag = GENERATE(false, true);
  const auto file = dir / (by_flag ? "three.cap" : "three.pcapng");
  std::vector<std::string> argv{tool, "record", "--port", std::to_string(to.port()), "--count", "3", "-w", file.string()};
  if (by_flag) argv.emplace_back("--pcapng");
  Child child(argv);
  REQUIRE(child.wait_for_output("recording on lo", 10s));
  send_datagrams(to, 3);
  const int code = child.wait();
  INFO(child.err());
  REQUIRE(code == 0);
  const auto comments = run_command(fmt::format("HOME='{}' {} -r '{}' -T fields -e frame.interface_name -e frame.comment 2>/dev/null",
                                                dir.path().string(), SOCKLAB_TSHARK, file.string()));
  REQUIRE(comments.exit_code == 0);
  CHECK(lines_of(comments.out) == std::vector<std::string>(3, "lo\tdatagram"));
  CHECK(tcpdump_count(file) == 3);
}

TEST_CASE("record whose stderr reader went away (2>&1 | head -1) still writes its file and exits 0", "[record][pipe]") {
  auto receiver = value_or_throw(UdpSocket::bind(Endpoint::loopback_v4()));
  const auto to = value_or_throw(receiver.local_endpoint());
  ScratchDir dir;
  const auto file = dir / "unread.pcap";
  // SIGPIPE at its default, as a shell starts it; every message it writes fails with EPIPE.
  socklab::test::Process child({tool, "record", "--port", std::to_string(to.port()), "--count", "3", "-w", file.string()},
                               {.stderr_reader_gone = true});
  // No "recording on" to wait for: a datagram at a time until the third one captured ends it.
  const auto ended = [](const socklab::test::ProcessOutput& o) { return o.ended; };
  const auto give_up = std::chrono::steady_clock::now() + socklab::test::process_patience;
  while (!child.wait_until(ended, 10ms) && std::chrono::steady_clock::now() < give_up) send_datagrams(to, 1);
  const auto r = child.finish();
  CHECK(r.exit_code == 0);
  CHECK(tcpdump_count(file) == 3);
  CHECK(dir.files() == std::vector<std::string>{"unread.pcap"});
}
