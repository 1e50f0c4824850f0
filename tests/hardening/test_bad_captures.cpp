// `socklab-capture read` on damaged capture files, run as a user runs it: the
// message names the file and the problem, the exit code says how bad it is
// (1 unreadable, 3 damaged after some packets), and the packets before the
// damage are printed. (tests/capture covers a missing file, a text file and a
// file cut inside a packet's data; these are the other ways a file goes bad.)
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo_runner.hpp"
#include "temp_dir.hpp"

using socklab::test::run_demo;

namespace {

std::string data(const char* name) { return std::string(SOCKLAB_TESTDATA_DIR) + "/captures/" + name; }

// A little-endian pcap (microsecond or nanosecond), as the committed captures are: its
// 24-byte file header and its records (16-byte header, then the bytes).
struct Pcap {
  std::vector<char> header;
  struct Record {
    std::uint32_t sec, usec, caplen, len;
    std::vector<char> bytes;
  };
  std::vector<Record> records;

  static std::uint32_t u32(const char* p) {
    std::uint32_t v = 0;
    std::memcpy(&v, p, 4);  // the test machines are little-endian, as the files
    return v;
  }
  static void put_u32(std::vector<char>& out, std::uint32_t v) {
    const auto* b = reinterpret_cast<const char*>(&v);
    out.insert(out.end(), b, b + 4);
  }

  explicit Pcap(const std::vector<char>& file) : header(file.begin(), file.begin() + 24) {
    const std::uint32_t magic = u32(file.data());
    REQUIRE((magic == 0xa1b2c3d4U || magic == 0xa1b23c4dU));  // microsecond or nanosecond
    for (std::size_t pos = 24; pos + 16 <= file.size();) {
      Record r{u32(&file[pos]), u32(&file[pos + 4]), u32(&file[pos + 8]), u32(&file[pos + 12]), {}};
      r.bytes.assign(file.begin() + static_cast<std::ptrdiff_t>(pos + 16),
                     file.begin() + static_cast<std::ptrdiff_t>(pos + 16 + r.caplen));
      pos += 16 + r.caplen;
      records.push_back(std::move(r));
    }
  }
  [[nodiscard]] std::vector<char> bytes() const {
    std::vector<char> out = header;
    for (const auto& r : records) {
      put_u32(out, r.sec);
      put_u32(out, r.usec);
      put_u32(out, r.caplen);
      put_u32(out, r.len);
      out.insert(out.end(), r.bytes.begin(), r.bytes.end());
    }
    return out;
  }
  // The snapshot length cut every packet to `snaplen` bytes (the wire length stays).
  void cut_to(std::uint32_t snaplen) {
    std::memcpy(&header[16], &snaplen, 4);
    for (auto& r : records) {
      r.caplen = std::min(r.caplen, snaplen);
      r.bytes.resize(r.caplen);
    }
  }
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (std::size_t eol; (eol = text.find('\n', pos)) != std::string::npos; pos = eol + 1)
    out.push_back(text.substr(pos, eol - pos));
  return out;
}

socklab::test::RunResult read_capture(const std::vector<std::string>& args) {
  std::vector<std::string> argv{SOCKLAB_CAPTURE_TOOL, "read"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_demo(argv);
}

}  // namespace

TEST_CASE("socklab-capture read: damaged files get a message naming the file and the problem",
          "[hardening][captures]") {
  TempDir tmp;
  const auto good = read_file(data("handshake.pcap"));
  const Pcap pcap(good);
  REQUIRE(pcap.records.size() == 7);

  SECTION("empty: exit 1, nothing printed") {
    const auto path = tmp.write("empty.pcap", {}).string();
    const auto r = read_capture({path});
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err == "socklab-capture: " + path + ": the file is empty (no pcap or pcapng header)\n");
  }
  SECTION("a wrong magic number: not a capture") {
    auto bytes = good;
    bytes[0] = '\xd5';  // a1b2c3d4 -> a1b2c3d5
    const auto path = tmp.write("magic.pcap", bytes).string();
    const auto r = read_capture({path});
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find(path + ": not a capture file") != std::string::npos);
  }
  SECTION("a file header cut short") {
    const auto path = tmp.write("short.pcap", {good.begin(), good.begin() + 10}).string();
    const auto r = read_capture({path});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(path + ": the file ends inside its header") != std::string::npos);
  }
  SECTION("a record header cut short: the packets before it are printed, exit 3") {
    Pcap cut = pcap;
    cut.records.resize(4);
    auto bytes = cut.bytes();
    bytes.resize(bytes.size() - cut.records.back().bytes.size() - 8);  // 8 of the 4th record's 16 header bytes
    const auto path = tmp.write("cut_record.pcap", bytes).string();
    const auto r = read_capture({path});
    CHECK(r.exit_code == 3);
    CHECK(lines(r.out).size() == 3);
    CHECK(r.err.find(path + ": damaged after packet 3: truncated dump file") != std::string::npos);
    CHECK(r.err.find("the 3 packets before the damage were printed") != std::string::npos);
  }
  SECTION("an absurd captured length (4 GiB, beyond the snapshot length)") {
    Pcap absurd = pcap;
    absurd.records[2].caplen = 0xfffffff0U;
    absurd.records[2].len = 0xfffffff0U;
    absurd.records.resize(3);
    const auto path = tmp.write("absurd.pcap", absurd.bytes()).string();
    const auto r = read_capture({path});
    CHECK(r.exit_code == 3);
    CHECK(lines(r.out).size() == 2);
    CHECK(r.err.find(path + ": damaged after packet 2: invalid packet capture length 4294967280") !=
          std::string::npos);
  }
  SECTION("a wire length below the captured length: the bytes are trusted, nothing breaks") {
    Pcap odd = pcap;
    for (auto& rec : odd.records) rec.len = 3;
    const auto r = read_capture({tmp.write("odd.pcap", odd.bytes()).string()});
    CHECK(r.exit_code == 0);
    CHECK(r.out == read_capture({data("handshake.pcap")}).out);
  }
  SECTION("--json on a damaged file: every line printed is whole JSON") {
    Pcap cut = pcap;
    auto bytes = cut.bytes();
    bytes.resize(bytes.size() - 5);
    const auto r = read_capture({"--json", tmp.write("cut.pcap", bytes).string()});
    CHECK(r.exit_code == 3);
    const auto printed = lines(r.out);
    CHECK(printed.size() == 6);
    for (const auto& line : printed) CHECK_NOTHROW(nlohmann::json::parse(line));
  }
}

TEST_CASE("socklab-capture read: packets cut by the snapshot length", "[hardening][captures]") {
  TempDir tmp;
  SECTION("payloads cut (headers whole): the lengths and the analysis are those of the whole packets") {
    Pcap cut(read_file(data("data.pcap")));
    cut.cut_to(100);  // Ethernet 14 + IP 20 + TCP 32 = 66: every header fits
    const auto whole = read_capture({"--json", data("data.pcap")});
    const auto sliced = read_capture({"--json", tmp.write("data100.pcap", cut.bytes()).string()});
    REQUIRE(whole.exit_code == 0);
    CHECK(sliced.exit_code == 0);
    const auto a = lines(whole.out), b = lines(sliced.out);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto x = nlohmann::json::parse(a[i]), y = nlohmann::json::parse(b[i]);
      INFO("packet " << i + 1);
      CHECK(y["len"] == x["len"]);
      CHECK(y["seq"] == x["seq"]);
      CHECK(y["analysis"] == x["analysis"]);
      CHECK(y["malformed"] == false);
    }
  }
  SECTION("headers cut: each packet is printed, marked malformed with the reason, exit 0") {
    Pcap cut(read_file(data("handshake.pcap")));
    cut.cut_to(60);  // inside the TCP options
    const auto r = read_capture({tmp.write("hs60.pcap", cut.bytes()).string()});
    CHECK(r.exit_code == 0);
    const auto printed = lines(r.out);
    REQUIRE(printed.size() == 7);
    for (const auto& line : printed) CHECK(line.find("malformed: TCP options cut by the snapshot length") != std::string::npos);
  }
}
