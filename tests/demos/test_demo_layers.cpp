// demo-layers run as a user runs it (root: a lab of two namespaces, and the capture).
// Every header's bytes the lesson prints are checked against the frame in its own -w
// file, decoded here independently (fixed offsets of Ethernet, IPv4, TCP/UDP), and no
// namespace of the run is left behind.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "demo_runner.hpp"
#include "lab_checks.hpp"
#include "socklab/lab/lab.hpp"

namespace {

using namespace socklab::test;
namespace fs = std::filesystem;

std::string hex(const std::vector<std::uint8_t>& b, std::size_t from, std::size_t n) {
  std::string out;
  for (std::size_t i = from; i < from + n; ++i) {
    char buf[4];
    std::snprintf(buf, sizeof buf, "%s%02x", i == from ? "" : " ", b[i]);
    out += buf;
  }
  return out;
}

// The frames of a classic pcap file (nanosecond or microsecond magic, this machine's order).
std::vector<std::vector<std::uint8_t>> frames_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::uint8_t> all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::vector<std::uint8_t>> out;
  REQUIRE(all.size() >= 24);
  std::uint32_t magic = 0;
  std::memcpy(&magic, all.data(), 4);
  REQUIRE((magic == 0xa1b23c4d || magic == 0xa1b2c3d4));
  std::size_t pos = 24;
  while (pos + 16 <= all.size()) {
    std::uint32_t caplen = 0;
    std::memcpy(&caplen, all.data() + pos + 8, 4);
    pos += 16;
    REQUIRE(pos + caplen <= all.size());
    out.emplace_back(all.begin() + static_cast<long>(pos), all.begin() + static_cast<long>(pos + caplen));
    pos += caplen;
  }
  return out;
}

std::string squeeze(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

void check_layers(bool udp) {
  const auto before = socklab::lab::socklab_namespaces();
  const fs::path file = fs::temp_directory_path() / ("socklab-layers-test-" + std::to_string(::getpid()) + ".pcap");
  std::vector<std::string> args{DEMO_LAYERS, "--capture", "--json", "-w", file.string()};
  if (udp) args.emplace_back("--udp");
  const auto r = run_demo(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  for (const auto& [name, v] : verdicts(lines)) {
    INFO(name);
    CHECK(v.at("ok").get<bool>());
  }
  std::map<std::string, nlohmann::json> facts;
  for (const auto& f : of_kind(lines, "fact")) facts[f.at("name").get<std::string>()] = f.at("value");

  // The frame that carried "hello" from A, decoded here.
  const auto frames = frames_of(file);
  fs::remove(file);
  const std::vector<std::uint8_t>* carried = nullptr;
  for (const auto& f : frames) {
    const std::string text(f.begin(), f.end());
    if (f.size() > 34 && text.ends_with("hello") && f[26] == 10 && f[29] == 1) carried = &f;  // source 10.0.0.1
  }
  REQUIRE(carried != nullptr);
  const auto& b = *carried;
  const std::size_t ihl = (b[14] & 0x0f) * 4u;
  const std::size_t transport = udp ? 8 : ((b[14 + ihl + 12] >> 4) * 4u);
  CHECK(b.size() == 14 + ihl + transport + 5);
  CHECK(facts.at("link").at("bytes") == hex(b, 0, 14));
  CHECK(facts.at("network").at("bytes") == hex(b, 14, ihl));
  CHECK(facts.at("transport").at("bytes") == hex(b, 14 + ihl, transport));
  CHECK(facts.at("application").at("bytes") == hex(b, 14 + ihl + transport, 5));
  // What the lesson says of them is what those bytes hold.
  CHECK(facts.at("link").at("dst") == "02:00:00:00:00:0b");
  CHECK(facts.at("link").at("src") == "02:00:00:00:00:0a");
  CHECK(hex(b, 0, 6) == "02 00 00 00 00 0b");
  CHECK(hex(b, 6, 6) == "02 00 00 00 00 0a");
  CHECK(facts.at("link").at("ethertype") == "0x0800");
  CHECK(facts.at("network").at("ttl") == b[22]);
  CHECK(facts.at("network").at("protocol") == b[23]);
  CHECK(b[23] == (udp ? 17 : 6));
  CHECK(facts.at("network").at("src") == "10.0.0.1");
  CHECK(facts.at("network").at("dst") == "10.0.0.2");
  CHECK(facts.at("transport").at("sport") == (b[14 + ihl] << 8 | b[15 + ihl]));
  CHECK(facts.at("transport").at("dport") == 5000);
  if (!udp) {
    const auto seq = static_cast<std::uint32_t>(b[18 + ihl] << 24 | b[19 + ihl] << 16 | b[20 + ihl] << 8 | b[21 + ihl]);
    CHECK(facts.at("transport").at("seq") == seq);
    CHECK(facts.at("transport").at("flags") == "P.");
  }
  // The places: the same frame seen leaving A and arriving at B, one event.
  const auto data = std::find_if(lines.begin(), lines.end(), [](const nlohmann::json& j) {
    return j.value("kind", "") == "packet" && j.value("len", 0) == 5 && j.value("src", "").starts_with("10.0.0.1:");
  });
  REQUIRE(data != lines.end());
  CHECK(data->at("seen") == nlohmann::json{"A:eth0", "B:eth0"});
  CHECK(data->at("eth_src") == "02:00:00:00:00:0a");
  CHECK(leftover_namespaces(before).empty());
}

}  // namespace

TEST_CASE("demo-layers: every header's bytes are the captured frame's (TCP)", "[layers]") { check_layers(false); }

TEST_CASE("demo-layers --udp: every header's bytes are the captured frame's", "[layers]") { check_layers(true); }

TEST_CASE("demo-layers prints the headers' bytes in the lesson's text, in both languages", "[layers]") {
  for (const char* lang : {"en", "zh"}) {
    const auto r = run_demo({DEMO_LAYERS, "--capture", "--lang", lang});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string text = squeeze(r.out);
    CHECK_THAT(text, Catch::Contains("02 00 00 00 00 0b 02 00 00 00 00 0a 08 00"));  // dst, src, EtherType
    CHECK_THAT(text, Catch::Contains("68 65 6c 6c 6f"));                              // "hello"
    CHECK_THAT(text, Catch::Contains("┬ A") && Catch::Contains("┬ B"));
    CHECK_THAT(r.out, !Catch::Contains("✗"));
  }
}

TEST_CASE("demo-layers without the lab's privileges says which, and exits 5", "[layers]") {
  const auto before = socklab::lab::socklab_namespaces();
  const auto r = run_demo({SOCKLAB_SETPRIV, "--bounding-set=-all", "--inh-caps=-all", "--", DEMO_LAYERS, "--capture"});
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Catch::Contains("CAP_NET_ADMIN") && Catch::Contains("CAP_SYS_ADMIN"));
  CHECK(leftover_namespaces(before).empty());
}
