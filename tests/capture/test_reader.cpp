// PcapReader: pcap and pcapng, nanosecond timestamps, either byte order, and a
// clear error naming the file for every way a file can be wrong.
#include <catch2/catch.hpp>

#include "golden.hpp"
#include "temp_dir.hpp"

using namespace socklab::capture;

namespace {

std::string error_of(const std::string& path) {
  auto r = PcapReader::open(path);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

std::size_t count(PcapReader& r) {
  std::size_t n = 0;
  while (r.next()) ++n;
  return n;
}

}  // namespace

TEST_CASE("reading pcap and pcapng files, nanosecond timestamps kept", "[reader]") {
  const auto dir = golden::data_dir();
  SECTION("a nanosecond pcap (Linux cooked)") {
    auto r = PcapReader::open((dir / "corpus" / "tcpdump__tcp-handshake-nano.pcap").string());
    REQUIRE(r);
    CHECK(r->link() == LinkType::linux_sll);
    CHECK(r->datalink() == 113);
    auto p = r->next();
    REQUIRE(p);
    CHECK(p->ts_ns == 1418145369924505488);  // tshark: frame.time_epoch 1418145369.924505488
    CHECK(p->wire_len == 76);
    CHECK(p->bytes.size() == 76);
    CHECK(count(*r) == 2);
    CHECK_FALSE(r->damaged());
    CHECK(r->packets_read() == 3);
  }
  SECTION("a big-endian nanosecond pcap") {
    auto r = PcapReader::open((dir / "corpus" / "pcapplusplus__nanosecs_big_endian.pcap").string());
    REQUIRE(r);
    CHECK(count(*r) == 10);
    CHECK_FALSE(r->damaged());
  }
  SECTION("a microsecond pcap: timestamps in whole microseconds") {
    auto r = PcapReader::open((dir / "corpus" / "tcpdump__print-flags.pcap").string());
    REQUIRE(r);
    auto p = r->next();
    REQUIRE(p);
    CHECK(p->ts_ns % 1000 == 0);
  }
  SECTION("pcapng") {
    auto r = PcapReader::open((dir / "corpus" / "chrissanders__tcp_dupack.pcapng").string());
    REQUIRE(r);
    CHECK(r->link() == LinkType::ethernet);
    CHECK(count(*r) == 9);
  }
}

TEST_CASE("a bad file gets an error that names it and says what is wrong", "[reader][errors]") {
  TempDir tmp;
  const auto good = read_file(golden::data_dir() / "captures" / "data.pcap");
  SECTION("missing") {
    const auto p = (tmp.path / "nope.pcap").string();
    CHECK(error_of(p) == p + ": cannot open: No such file or directory");
  }
  SECTION("a directory") {
    CHECK(error_of(tmp.path.string()) == tmp.path.string() + ": is a directory, not a capture file");
  }
  SECTION("empty") {
    const auto p = tmp.write("empty.pcap", {}).string();
    CHECK(error_of(p) == p + ": the file is empty (no pcap or pcapng header)");
  }
  SECTION("not a capture") {
    const std::string text = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
    const auto p = tmp.write("notes.txt", {text.begin(), text.end()}).string();
    const auto e = error_of(p);
    CHECK(e.rfind(p + ": not a capture file", 0) == 0);
  }
  SECTION("cut inside its file header") {
    const auto p = tmp.write("short.pcap", {good.begin(), good.begin() + 10}).string();
    const auto e = error_of(p);
    CHECK(e.rfind(p + ": the file ends inside its header", 0) == 0);
  }
  SECTION("an unsupported link type") {
    auto b = good;
    b[20] = static_cast<char>(147);  // LINKTYPE_USER0
    const auto p = tmp.write("user0.pcap", b).string();
    const auto e = error_of(p);
    CHECK(e.rfind(p + ": link type 147 (", 0) == 0);
    CHECK(e.find(") is not supported: socklab decodes Ethernet") != std::string::npos);
  }
  SECTION("truncated in the middle: the packets before the damage are read, then the damage is reported") {
    const auto p = tmp.write("cut.pcap", {good.begin(), good.end() - 10}).string();
    auto r = PcapReader::open(p);
    REQUIRE(r);
    CHECK(count(*r) == 15);  // of 16
    REQUIRE(r->damaged());
    CHECK(r->damage().rfind(p + ": damaged after packet 15: truncated dump file", 0) == 0);
    CHECK_FALSE(r->next());  // stays at the damage
  }
}

TEST_CASE("a PcapReader moves and closes once", "[reader]") {
  auto r = PcapReader::open((golden::data_dir() / "captures" / "refused.pcap").string());
  REQUIRE(r);
  PcapReader moved = std::move(*r);
  CHECK(count(moved) == 2);
  PcapReader again = std::move(moved);
  CHECK(again.packets_read() == 2);
  CHECK_FALSE(again.next());
}
