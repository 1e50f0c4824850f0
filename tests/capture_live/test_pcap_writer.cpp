#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "live_test_support.hpp"
#include "socklab/capture/pcap_writer.hpp"

using socklab::capture::LinkType;
using socklab::capture::PcapWriter;
using socklab::capture::RawPacket;
using socklab::test::lines_of;
using socklab::test::run_command;
using socklab::test::ScratchDir;

namespace {

// Ethernet + IPv4 + UDP 127.0.0.1:40000 -> 127.0.0.1:50000 carrying "hello".
const std::vector<std::uint8_t> udp_hello = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00,  // ethernet
    0x45, 0x00, 0x00, 0x21, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x2a, 0x96,              // IPv4, len 33
    0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,                                      // 127.0.0.1 > 127.0.0.1
    0x9c, 0x40, 0xc3, 0x50, 0x00, 0x0d, 0x00, 0x00,                                      // 40000 > 50000, len 13
    'h', 'e', 'l', 'l', 'o'};

constexpr std::int64_t t0 = 1'700'000'000'123'456'789;  // an exact nanosecond time

std::string shell_quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// tshark reads the user's Wireshark preferences from $HOME: an empty home makes
// its output independent of them.
std::string tshark(const ScratchDir& dir, const std::filesystem::path& file, std::string_view args) {
  return fmt::format("HOME={} {} -r {} {} 2>/dev/null", shell_quote(dir.path()), SOCKLAB_TSHARK,
                     shell_quote(file), args);
}

std::vector<std::uint8_t> file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a committed pcap file has the nanosecond magic and opens in tcpdump and tshark",
          "[pcap_writer]") {
  ScratchDir dir;
  const auto path = dir / "hello.pcap";
  auto writer = PcapWriter::create(path, LinkType::ethernet);
  REQUIRE(writer);
  for (int i = 0; i < 3; ++i) REQUIRE(writer->write(t0 + i * 1'000'001, udp_hello, 47));
  CHECK(writer->packets_written() == 3);
  CHECK_FALSE(std::filesystem::exists(path));  // nothing at the name before commit()
  REQUIRE(writer->commit());
  REQUIRE(dir.files() == std::vector<std::string>{"hello.pcap"});

  const auto bytes = file_bytes(path);
  REQUIRE(bytes.size() == 24 + 3 * (16 + udp_hello.size()));
  std::uint32_t magic = 0, link = 0;
  std::memcpy(&magic, bytes.data(), 4);
  std::memcpy(&link, bytes.data() + 20, 4);
  CHECK(magic == 0xa1b23c4d);  // nanosecond pcap, in this host's byte order
  CHECK(link == 1);            // LINKTYPE_ETHERNET

  const auto tcpdump = run_command(fmt::format("{} -nn -r {} 2>/dev/null", SOCKLAB_TCPDUMP, shell_quote(path)));
  REQUIRE(tcpdump.exit_code == 0);
  const auto lines = lines_of(tcpdump.out);
  REQUIRE(lines.size() == 3);
  CHECK_THAT(lines[0], Catch::Contains("IP 127.0.0.1.40000 > 127.0.0.1.50000: UDP, length 5"));

  const auto fields_run = run_command(tshark(dir, path, "-T fields -e frame.time_epoch -e frame.len -e frame.cap_len"));
  REQUIRE(fields_run.exit_code == 0);
  const auto fields = lines_of(fields_run.out);
  REQUIRE(fields.size() == 3);
  CHECK(fields[0] == "1700000000.123456789\t47\t47");
  CHECK(fields[2] == "1700000000.125456791\t47\t47");
}

TEST_CASE("bytes beyond the snaplen are cut and the wire length is kept", "[pcap_writer]") {
  ScratchDir dir;
  const auto path = dir / "cut.pcap";
  auto writer = PcapWriter::create(path, LinkType::ethernet, 40);
  REQUIRE(writer);
  REQUIRE(writer->write(RawPacket{t0, 47, udp_hello}));
  REQUIRE(writer->commit());
  const auto lengths = run_command(tshark(dir, path, "-T fields -e frame.len -e frame.cap_len"));
  REQUIRE(lengths.exit_code == 0);
  CHECK(lengths.out == "47\t40\n");
}

TEST_CASE("a writer dropped without commit leaves no file, and an old file stays intact",
          "[pcap_writer]") {
  ScratchDir dir;
  const auto path = dir / "keep.pcap";
  { std::ofstream(path) << "previous content"; }
  {
    auto writer = PcapWriter::create(path, LinkType::ethernet);
    REQUIRE(writer);
    REQUIRE(writer->write(t0, udp_hello, 47));
    REQUIRE(dir.files().size() == 2);  // the target and the temporary file beside it
  }
  CHECK(dir.files() == std::vector<std::string>{"keep.pcap"});
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == "previous content");
}

TEST_CASE("commit replaces an existing file in one step", "[pcap_writer]") {
  ScratchDir dir;
  const auto path = dir / "replace.pcap";
  { std::ofstream(path) << "previous content"; }
  auto writer = PcapWriter::create(path, LinkType::ethernet);
  REQUIRE(writer);
  REQUIRE(writer->write(t0, udp_hello, 47));
  REQUIRE(writer->commit());
  CHECK(file_bytes(path).size() == 24 + 16 + udp_hello.size());
  CHECK(dir.files() == std::vector<std::string>{"replace.pcap"});
  CHECK_FALSE(writer->commit());  // already done: an error, not a crash
}

TEST_CASE("a pcap file that cannot be created gives an error naming it", "[pcap_writer]") {
  ScratchDir dir;
  const auto path = dir / "no-such-dir" / "x.pcap";
  auto writer = PcapWriter::create(path, LinkType::ethernet);
  REQUIRE_FALSE(writer);
  CHECK(writer.error().code == std::errc::no_such_file_or_directory);
  CHECK_THAT(writer.error().message(), Catch::Contains(path.string()));
  CHECK_THAT(writer.error().message(), Catch::Contains("does not exist"));
}

TEST_CASE("raw IP captures keep their link type in the file", "[pcap_writer]") {
  ScratchDir dir;
  const auto path = dir / "raw.pcap";
  auto writer = PcapWriter::create(path, LinkType::raw);
  REQUIRE(writer);
  const std::span<const std::uint8_t> ip(udp_hello.data() + 14, udp_hello.size() - 14);
  REQUIRE(writer->write(t0, ip, static_cast<std::uint32_t>(ip.size())));
  REQUIRE(writer->commit());
  const auto bytes = file_bytes(path);
  std::uint32_t link = 0;
  std::memcpy(&link, bytes.data() + 20, 4);
  CHECK(link == 101);  // LINKTYPE_RAW, whatever DLT_RAW is on this system
  const auto tcpdump = run_command(fmt::format("{} -nn -r {} 2>/dev/null", SOCKLAB_TCPDUMP, shell_quote(path)));
  CHECK_THAT(tcpdump.out, Catch::Contains("IP 127.0.0.1.40000 > 127.0.0.1.50000: UDP, length 5"));
}
