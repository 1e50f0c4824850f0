// The rules of -w (capture_file.hpp) and the pcapng writer, byte by byte
// against the pcapng specification, then through tshark, capinfos and
// socklab-capture read.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "live_test_support.hpp"
#include "socklab/capture/capture_file.hpp"
#include "socklab/capture/pcap_writer.hpp"
#include "socklab/capture/pcapng_writer.hpp"

using socklab::capture::output_file_target;
using socklab::capture::capture_format_for;
using socklab::capture::CaptureFormat;
using socklab::capture::LinkType;
using socklab::capture::PcapngWriter;
using socklab::capture::PcapWriter;
using socklab::test::lines_of;
using socklab::test::run_command;
using socklab::test::ScratchDir;
namespace pcapng = socklab::capture::pcapng;

namespace {

// Ethernet + IPv4 + UDP 127.0.0.1:40000 -> 127.0.0.1:50000 carrying "hello" (47 bytes: not a multiple of 4).
const std::vector<std::uint8_t> udp_hello = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x21, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x2a, 0x96,
    0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,
    0x9c, 0x40, 0xc3, 0x50, 0x00, 0x0d, 0x00, 0x00,
    'h', 'e', 'l', 'l', 'o'};

constexpr std::int64_t t0 = 1'700'000'000'123'456'789;

std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

std::vector<std::uint8_t> file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class T>
T at(const std::vector<std::uint8_t>& b, std::size_t offset) {
  REQUIRE(offset + sizeof(T) <= b.size());
  T v{};
  std::memcpy(&v, b.data() + offset, sizeof v);
  return v;
}

// Checks one block's frame (both lengths equal, a multiple of 4) and returns its length.
std::uint32_t check_block(const std::vector<std::uint8_t>& b, std::size_t offset, std::uint32_t type) {
  CHECK(at<std::uint32_t>(b, offset) == type);
  const auto total = at<std::uint32_t>(b, offset + 4);
  CHECK(total % 4 == 0);
  CHECK(at<std::uint32_t>(b, offset + total - 4) == total);
  return total;
}

// The options of a block from `offset` to the trailing length: code -> value. The last must be opt_endofopt.
std::vector<std::pair<std::uint16_t, std::string>> options_of(const std::vector<std::uint8_t>& b, std::size_t offset,
                                                              std::size_t end) {
  std::vector<std::pair<std::uint16_t, std::string>> out;
  while (offset + 4 <= end) {
    const auto code = at<std::uint16_t>(b, offset);
    const auto len = at<std::uint16_t>(b, offset + 2);
    out.emplace_back(code, std::string(b.begin() + static_cast<long>(offset + 4),
                                       b.begin() + static_cast<long>(offset + 4 + len)));
    offset += 4 + (len + 3u) / 4 * 4;
  }
  CHECK(offset == end);
  return out;
}

std::string tshark(const ScratchDir& dir, const std::filesystem::path& file, std::string_view args) {
  return fmt::format("HOME={} {} -r {} {} 2>/dev/null", q(dir.path()), SOCKLAB_TSHARK, q(file), args);
}

}  // namespace

TEST_CASE("-w refuses what is not a regular file, saying what it is", "[capture_file]") {
  ScratchDir dir;
  SECTION("empty name") {
    auto t = output_file_target("", "capture file");
    REQUIRE_FALSE(t);
    CHECK_THAT(t.error().message(), Catch::Contains("no file name given"));
  }
  SECTION("a directory") {
    std::filesystem::create_directory(dir / "d");
    auto t = output_file_target(dir / "d", "capture file");
    REQUIRE_FALSE(t);
    CHECK_THAT(t.error().message(), Catch::Contains((dir / "d").string() + ": is a directory"));
    auto w = PcapWriter::create(dir / "d", LinkType::ethernet);
    REQUIRE_FALSE(w);
    CHECK(std::filesystem::is_directory(dir / "d"));
    CHECK(dir.files() == std::vector<std::string>{"d"});  // no temporary file either
  }
  SECTION("a character device") {
    auto t = output_file_target("/dev/null", "capture file");  // only looked at, never written
    REQUIRE_FALSE(t);
    CHECK_THAT(t.error().message(), Catch::Contains("/dev/null: is a character device"));
  }
  SECTION("a FIFO") {
    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    auto w = PcapngWriter::create(dir / "fifo", {});
    REQUIRE_FALSE(w);
    CHECK_THAT(w.error().message(), Catch::Contains("is a FIFO"));
    struct stat st {};
    REQUIRE(::lstat((dir / "fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
  }
  SECTION("a socket") {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const auto path = (dir / "sock").string();
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    auto t = output_file_target(dir / "sock", "capture file");
    ::close(fd);
    REQUIRE_FALSE(t);
    CHECK_THAT(t.error().message(), Catch::Contains("is a socket"));
  }
  SECTION("a missing directory") {
    auto t = output_file_target(dir / "nowhere" / "x.pcap", "capture file");
    REQUIRE_FALSE(t);
    CHECK_THAT(t.error().message(), Catch::Contains("does not exist"));
  }
  SECTION("a symlink to a device is refused like the device") {
    std::filesystem::create_symlink("/dev/null", dir / "null.pcap");
    auto t = output_file_target(dir / "null.pcap", "capture file");
    REQUIRE_FALSE(t);
    CHECK_THAT(t.error().message(), Catch::Contains("is a character device (the link points to /dev/null)"));
  }
}

TEST_CASE("-w through a symlink writes the file it points to and keeps the link", "[capture_file]") {
  ScratchDir dir;
  std::filesystem::create_directory(dir / "real");
  { std::ofstream(dir / "real" / "old.pcap") << "previous"; }
  std::filesystem::create_symlink("real/old.pcap", dir / "link.pcap");
  auto w = PcapWriter::create(dir / "link.pcap", LinkType::ethernet);
  REQUIRE(w);
  REQUIRE(w->write(t0, udp_hello, 47));
  REQUIRE(w->commit());
  CHECK(std::filesystem::is_symlink(dir / "link.pcap"));
  CHECK(file_bytes(dir / "real" / "old.pcap").size() == 24 + 16 + udp_hello.size());
  CHECK(std::filesystem::directory_iterator(dir / "real")->path().filename() == "old.pcap");  // no temp left
}

TEST_CASE("stale temporary files of dead processes are removed, live ones never", "[capture_file]") {
  ScratchDir dir;
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  REQUIRE(::waitpid(dead, nullptr, 0) == dead);  // reaped: that pid names no process now
  const std::string stale = fmt::format(".x.pcap.{}-0-0.part", dead);
  const std::string live = ".x.pcap.1-0-0.part";      // pid 1 always exists
  const std::string other = fmt::format(".y.pcap.{}-0-0.part", dead);  // another file's: not ours to judge
  for (const auto& name : {stale, live, other}) std::ofstream(dir / name) << "partial";
  auto w = PcapWriter::create(dir / "x.pcap", LinkType::ethernet);
  REQUIRE(w);
  REQUIRE(w->commit());
  CHECK_FALSE(std::filesystem::exists(dir / stale));
  CHECK(std::filesystem::exists(dir / live));
  CHECK(std::filesystem::exists(dir / other));
  CHECK(std::filesystem::exists(dir / "x.pcap"));
}

TEST_CASE("the format follows the name", "[capture_file]") {
  CHECK(capture_format_for("a.pcapng") == CaptureFormat::pcapng);
  CHECK(capture_format_for("A.PCAPNG") == CaptureFormat::pcapng);
  CHECK(capture_format_for("a.pcap") == CaptureFormat::pcap);
  CHECK(capture_format_for("pcapng") == CaptureFormat::pcap);
}

TEST_CASE("pcapng blocks as the specification lays them out", "[pcapng]") {
  SECTION("section header: magic, version 1.0, length -1, comment and application, end of options") {
    const auto b = pcapng::section_header_block({.comment = "demo-x: lesson", .application = "socklab"});
    const auto total = check_block(b, 0, 0x0A0D0D0A);
    CHECK(total == b.size());
    CHECK(at<std::uint32_t>(b, 8) == 0x1A2B3C4D);
    CHECK(at<std::uint16_t>(b, 12) == 1);
    CHECK(at<std::uint16_t>(b, 14) == 0);
    CHECK(at<std::int64_t>(b, 16) == -1);
    const auto opts = options_of(b, 24, total - 4);
    REQUIRE(opts.size() == 3);
    CHECK(opts[0] == std::pair<std::uint16_t, std::string>{1, "demo-x: lesson"});  // opt_comment, padded 14 -> 16
    CHECK(opts[1] == std::pair<std::uint16_t, std::string>{4, "socklab"});         // shb_userappl
    CHECK(opts[2] == std::pair<std::uint16_t, std::string>{0, ""});                // opt_endofopt
    CHECK(b[24 + 4 + 14] == 0);  // padding is zeros
    CHECK(b[24 + 4 + 15] == 0);
  }
  SECTION("interface description: link type, snaplen, if_name, if_tsresol = 9") {
    const auto b = pcapng::interface_description_block({.name = "lo", .link = LinkType::ethernet, .snaplen = 262144});
    const auto total = check_block(b, 0, 1);
    CHECK(at<std::uint16_t>(b, 8) == 1);  // LINKTYPE_ETHERNET
    CHECK(at<std::uint16_t>(b, 10) == 0);
    CHECK(at<std::uint32_t>(b, 12) == 262144);
    const auto opts = options_of(b, 16, total - 4);
    REQUIRE(opts.size() == 3);
    CHECK(opts[0] == std::pair<std::uint16_t, std::string>{2, "lo"});
    CHECK(opts[1] == std::pair<std::uint16_t, std::string>{9, std::string(1, '\x09')});
    CHECK(opts[2] == std::pair<std::uint16_t, std::string>{0, ""});
  }
  SECTION("enhanced packet: interface, 64-bit ns timestamp, lengths, data padded to 32 bits, comment") {
    const auto b = pcapng::enhanced_packet_block(3, t0, udp_hello, 60, "handshake 1/3");
    const auto total = check_block(b, 0, 6);
    CHECK(at<std::uint32_t>(b, 8) == 3);
    const std::uint64_t ts = static_cast<std::uint64_t>(at<std::uint32_t>(b, 12)) << 32 | at<std::uint32_t>(b, 16);
    CHECK(ts == static_cast<std::uint64_t>(t0));
    CHECK(at<std::uint32_t>(b, 20) == 47);  // captured
    CHECK(at<std::uint32_t>(b, 24) == 60);  // original
    CHECK(std::equal(udp_hello.begin(), udp_hello.end(), b.begin() + 28));
    CHECK(b[28 + 47] == 0);  // one byte of padding to 48
    const auto opts = options_of(b, 28 + 48, total - 4);
    REQUIRE(opts.size() == 2);
    CHECK(opts[0] == std::pair<std::uint16_t, std::string>{1, "handshake 1/3"});
    CHECK(opts[1] == std::pair<std::uint16_t, std::string>{0, ""});
  }
  SECTION("a packet without comment has no options at all") {
    const auto b = pcapng::enhanced_packet_block(0, t0, udp_hello, 47, "");
    CHECK(check_block(b, 0, 6) == 28 + 48 + 4);
  }
  SECTION("a comment over 65535 bytes is cut at a character boundary") {
    std::string long_text;
    while (long_text.size() < 70000) long_text += "说明";
    const auto b = pcapng::enhanced_packet_block(0, t0, udp_hello, 47, long_text);
    const auto total = check_block(b, 0, 6);
    const auto opts = options_of(b, 28 + 48, total - 4);
    REQUIRE(opts.size() == 2);
    CHECK(opts[0].second.size() <= 65535);
    CHECK(opts[0].second.ends_with("\xE2\x80\xA6"));
    CHECK(long_text.starts_with(opts[0].second.substr(0, opts[0].second.size() - 3)));
  }
}

TEST_CASE("a pcapng file: tshark shows each comment, capinfos nanoseconds, socklab-capture reads it as the pcap",
          "[pcapng]") {
  ScratchDir dir;
  const auto ng = dir / "two.pcapng";
  const auto classic = dir / "two.pcap";
  {
    auto w = PcapngWriter::create(ng, {.comment = "demo-test: 两个接口", .application = "socklab tests"});
    REQUIRE(w);
    auto lo = w->add_interface({.name = "lo", .link = LinkType::ethernet});
    auto veth = w->add_interface({.name = "veth-a", .link = LinkType::ethernet, .description = "socklab-test-ns"});
    REQUIRE(lo);
    REQUIRE(veth);
    CHECK(*lo == 0);
    CHECK(*veth == 1);
    REQUIRE(w->write(*lo, t0, udp_hello, 47, "phase datagram | client: sendto 127.0.0.1:50000 → 5"));
    REQUIRE(w->write(*veth, t0 + 1'000'001, udp_hello, 47, "阶段 datagram"));
    REQUIRE(w->write(*lo, t0 + 2'000'002, udp_hello, 47));
    CHECK_FALSE(w->write(7, t0, udp_hello, 47));  // no such interface
    REQUIRE(w->commit());
    auto p = PcapWriter::create(classic, LinkType::ethernet);
    REQUIRE(p);
    for (int i = 0; i < 3; ++i) REQUIRE(p->write(t0 + i * 1'000'001, udp_hello, 47));
    REQUIRE(p->commit());
  }
  CHECK(dir.files().size() == 2);

  const auto comments = run_command(tshark(dir, ng, "-T fields -e frame.interface_id -e frame.time_epoch -e frame.comment"));
  REQUIRE(comments.exit_code == 0);
  const auto lines = lines_of(comments.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "0\t1700000000.123456789\tphase datagram | client: sendto 127.0.0.1:50000 → 5");
  CHECK(lines[1] == "1\t1700000000.124456790\t阶段 datagram");
  CHECK(lines[2] == "0\t1700000000.125456791\t");

  const auto info = run_command(fmt::format("HOME={} {} -M {} 2>&1", q(dir.path()), SOCKLAB_CAPINFOS, q(ng)));
  INFO(info.out);
  REQUIRE(info.exit_code == 0);
  CHECK_THAT(info.out, Catch::Contains("nanoseconds (9)"));
  CHECK_THAT(info.out, Catch::Contains("Number of interfaces in file: 2"));
  CHECK_THAT(info.out, Catch::Contains("demo-test: 两个接口"));

  // The same decode from both files.
  const auto from_ng = run_command(fmt::format("{} read {} 2>/dev/null", SOCKLAB_CAPTURE_TOOL, q(ng)));
  const auto from_pcap = run_command(fmt::format("{} read {} 2>/dev/null", SOCKLAB_CAPTURE_TOOL, q(classic)));
  REQUIRE(from_ng.exit_code == 0);
  CHECK(lines_of(from_ng.out).size() == 3);
  CHECK(from_ng.out == from_pcap.out);
}
