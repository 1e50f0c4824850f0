// demo-router run as a user runs it (root: a lab of two LANs and a router, and the
// capture). The verdicts, and the frames they speak of read here from the run's own -w
// file at fixed offsets (Ethernet, IPv4 of 20 bytes, ARP, ICMP and its quote); the
// kernels' facts without --capture; en and zh text; bad usage; no namespace left behind.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "lab_checks.hpp"
#include "socklab/capture/pcap_reader.hpp"
#include "socklab/lab/lab.hpp"

namespace {

using namespace socklab::test;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using Strings = std::vector<std::string>;

const Strings kThrough{"arp_for_router_not_target", "mac_rewritten_at_router", "ip_addresses_unchanged",
                       "ttl_decremented", "reply_same_way"};
const Strings kExpired{"arp_for_router_not_target", "time_exceeded_from_router", "quotes_our_datagram",
                       "nothing_on_lan2"};

std::vector<Bytes> frames_of(const fs::path& file) {
  auto reader = socklab::capture::PcapReader::open(file.string());
  REQUIRE(reader);
  std::vector<Bytes> out;
  while (auto p = reader->next()) out.emplace_back(p->bytes.begin(), p->bytes.end());
  CHECK(!reader->damaged());
  return out;
}

Bytes mac(std::uint8_t last) { return {0x02, 0, 0, 0, 0, last}; }
Bytes at(const Bytes& b, std::size_t from, std::size_t n) { return {b.begin() + static_cast<long>(from), b.begin() + static_cast<long>(from + n)}; }
unsigned be16(const Bytes& b, std::size_t i) { return static_cast<unsigned>(b[i] << 8 | b[i + 1]); }
bool is_ipv4(const Bytes& b, std::uint8_t proto) { return b.size() >= 34 && be16(b, 12) == 0x0800 && b[23] == proto; }
bool carries(const Bytes& b, std::string_view text) {
  return is_ipv4(b, 17) && b.size() == 42 + text.size() && std::equal(text.begin(), text.end(), b.begin() + 42);
}
std::string ip_text(const Bytes& b, std::size_t i) {
  return std::to_string(b[i]) + "." + std::to_string(b[i + 1]) + "." + std::to_string(b[i + 2]) + "." + std::to_string(b[i + 3]);
}

struct Run {
  std::vector<nlohmann::json> lines;
  std::vector<Bytes> frames;
};

Run run_captured(Strings extra, const Strings& expected) {
  const fs::path file = fs::temp_directory_path() / ("socklab-router-test-" + std::to_string(::getpid()) + ".pcap");
  Strings args{DEMO_ROUTER, "--capture", "--json", "-w", file.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = run_demo(args);
  auto v = check_verdicts(r, expected);
  Strings names;
  for (const auto& [name, _] : v) names.push_back(name);
  Strings want = expected;
  std::ranges::sort(want);
  CHECK(names == want);  // these and no others
  Run out{r.json(), frames_of(file)};
  fs::remove(file);
  return out;
}

}  // namespace

TEST_CASE("demo-router: ARP for R, the frame made anew at R with the same IPs and one TTL less, the answer back",
          "[router]") {
  const auto before = socklab::lab::socklab_namespaces();
  const auto [lines, frames] = run_captured({}, kThrough);

  // A asked for the router's MAC, never for C's.
  Strings asked_by_a;
  for (const auto& f : frames) {
    if (f.size() >= 42 && be16(f, 12) == 0x0806 && be16(f, 20) == 1 && at(f, 6, 6) == mac(0x0a)) asked_by_a.push_back(ip_text(f, 38));
  }
  CHECK(asked_by_a == Strings{"10.0.1.254"});
  const auto heard = fact_value(lines, "arp_request_heard");
  Strings seen = heard.at("seen");
  std::ranges::sort(seen);
  CHECK(seen == Strings{"A:eth0", "B:eth0", "R:eth0"});  // all of LAN 1, nothing of LAN 2

  // The datagram's two frames: A -> R on LAN 1, R -> C on LAN 2.
  const auto there1 = std::ranges::find_if(frames, [](const Bytes& f) { return carries(f, "ping") && at(f, 6, 6) == mac(0x0a); });
  const auto there2 = std::ranges::find_if(frames, [](const Bytes& f) { return carries(f, "ping") && at(f, 6, 6) == mac(0xf2); });
  REQUIRE(there1 != frames.end());
  REQUIRE(there2 != frames.end());
  CHECK(at(*there1, 0, 6) == mac(0xf1));
  CHECK(at(*there2, 0, 6) == mac(0x0c));
  CHECK(at(*there1, 26, 8) == at(*there2, 26, 8));  // source and destination IP
  CHECK(ip_text(*there1, 26) == "10.0.1.1");
  CHECK(ip_text(*there1, 30) == "10.0.2.1");
  CHECK((*there2)[22] == (*there1)[22] - 1);
  CHECK(at(*there1, 34, 4) == at(*there2, 34, 4));  // the UDP ports
  const auto lan1 = fact_value(lines, "frame_there_lan1");
  const auto lan2 = fact_value(lines, "frame_there_lan2");
  CHECK(lan1.at("ttl") == (*there1)[22]);
  CHECK(lan2.at("ttl") == (*there2)[22]);
  CHECK(lan1.at("eth_dst") == "02:00:00:00:00:f1");
  CHECK(lan2.at("eth_src") == "02:00:00:00:00:f2");
  const auto ttl = verdicts(lines).at("ttl_decremented");
  CHECK(ttl.at("observed").at("lan1") == (*there1)[22]);

  // The answer: C -> R on LAN 2, R -> A on LAN 1.
  const auto back2 = std::ranges::find_if(frames, [](const Bytes& f) { return carries(f, "pong") && at(f, 6, 6) == mac(0x0c); });
  const auto back1 = std::ranges::find_if(frames, [](const Bytes& f) { return carries(f, "pong") && at(f, 6, 6) == mac(0xf1); });
  REQUIRE(back2 != frames.end());
  REQUIRE(back1 != frames.end());
  CHECK(at(*back2, 0, 6) == mac(0xf2));
  CHECK(at(*back1, 0, 6) == mac(0x0a));
  CHECK(ip_text(*back1, 26) == "10.0.2.1");

  // What the kernels said: the routes, A's ARP table, R's counters, C's recvfrom().
  CHECK(fact_of(lines, "routes_A").at("text").get<std::string>().find("default via 10.0.1.254 dev eth0") != std::string::npos);
  CHECK(fact_of(lines, "routes_C").at("text").get<std::string>().find("default via 10.0.2.254 dev eth0") != std::string::npos);
  const auto arp = fact_value(lines, "neighbours_A");
  REQUIRE(arp.size() == 1);
  CHECK(arp[0].at("ip") == "10.0.1.254");
  CHECK(arp[0].at("mac") == "02:00:00:00:00:f1");
  CHECK(fact_value(lines, "router_counters").at("IpForwDatagrams") == 2);
  CHECK(fact_value(lines, "sender_seen_by_c").get<std::string>().starts_with("10.0.1.1:"));
  CHECK(leftovers(before).empty());
}

TEST_CASE("demo-router --ttl 1: ICMP time exceeded from R, quoting A's datagram; nothing on LAN 2", "[router]") {
  const auto before = socklab::lab::socklab_namespaces();
  const auto [lines, frames] = run_captured({"--ttl", "1"}, kExpired);
  const auto sent = std::ranges::find_if(frames, [](const Bytes& f) { return carries(f, "ping"); });
  const auto icmp = std::ranges::find_if(frames, [](const Bytes& f) { return is_ipv4(f, 1); });
  REQUIRE(sent != frames.end());
  REQUIRE(icmp != frames.end());
  CHECK((*sent)[22] == 1);
  const Bytes& e = *icmp;
  REQUIRE(e.size() >= 42 + 28);
  CHECK(at(e, 6, 6) == mac(0xf1));
  CHECK(ip_text(e, 26) == "10.0.1.254");
  CHECK(e[34] == 11);  // time exceeded
  CHECK(e[35] == 0);   // in transit
  // The quote (after the 8-byte ICMP header): A's IP header, then the UDP ports.
  CHECK(at(e, 42 + 4, 2) == at(*sent, 18, 2));   // the IP identification
  CHECK(at(e, 42 + 12, 8) == at(*sent, 26, 8));  // the addresses
  CHECK(at(e, 42 + 20, 4) == at(*sent, 34, 4));  // the ports
  const auto quote = verdicts(lines).at("quotes_our_datagram").at("observed");
  CHECK(quote.at("id") == be16(*sent, 18));
  CHECK(quote.at("sport") == be16(*sent, 34));
  for (const auto& f : frames) {  // nothing of LAN 2's: neither R's eth1 nor C sent a frame
    CHECK(at(f, 6, 6) != mac(0xf2));
    CHECK(at(f, 6, 6) != mac(0x0c));
  }
  const auto counters = fact_value(lines, "router_counters");
  CHECK(counters.at("IpForwDatagrams") == 0);
  CHECK(counters.at("IcmpOutTimeExcds") == 1);
  CHECK(leftovers(before).empty());
}

TEST_CASE("demo-router without --capture claims what the kernels said, and no verdict of the wire", "[router]") {
  for (const char* ttl : {"", "1"}) {
    Strings args{DEMO_ROUTER, "--json"};
    if (*ttl != '\0') args.insert(args.end(), {"--ttl", ttl});
    const auto r = run_demo(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    CHECK(verdicts(lines).empty());
    CHECK(of_kind(lines, "packet").empty());
    CHECK(fact_value(lines, "routes_B").size() == 2);
    CHECK(fact_value(lines, "neighbours_A").size() == 1);
    CHECK(fact_value(lines, "router_counters").at("IpForwDatagrams") == (*ttl == '\0' ? 2 : 0));
  }
}

TEST_CASE("demo-router tells the lesson in English and in Chinese", "[router]") {
  for (const char* lang : {"en", "zh"}) {
    for (const bool expired : {false, true}) {
      Strings args{DEMO_ROUTER, "--capture", "--lang", lang};
      if (expired) args.insert(args.end(), {"--ttl", "1"});
      const auto r = run_demo(args);
      INFO(lang << (expired ? " --ttl 1" : "") << "\n" << r.err);
      REQUIRE(r.exit_code == 0);
      const std::string text = squeeze(r.out);
      CHECK_THAT(text, Catch::Contains("┬ A") && Catch::Contains("┬ R") && Catch::Contains("┬ C"));
      CHECK_THAT(text, Catch::Contains("ARP who-has") && Catch::Contains("ARP is-at"));
      CHECK_THAT(r.out, !Catch::Contains("✗"));
      const bool zh = std::string_view(lang) == "zh";
      if (!expired) {
        CHECK_THAT(text, Catch::Contains(zh ? "TTL 在 R 处减一：局域网 1 上 64，局域网 2 上 63。"
                                            : "The TTL went down by one at R: 64 on LAN 1, 63 on LAN 2."));
        CHECK_THAT(text, Catch::Contains(zh ? "A 用 ARP 询问的是 10.0.1.254：路由器，从来不是 10.0.2.1 本身。"
                                            : "A asked ARP for 10.0.1.254: the router, never 10.0.2.1 itself."));
      } else {
        CHECK_THAT(text, Catch::Contains(zh ? "用 ICMP 类型 11 代码 0 回答：传输中超时。"
                                            : "answered with ICMP type 11 code 0: time exceeded in transit."));
        CHECK_THAT(text, Catch::Contains(zh ? "没有任何东西到达局域网 2：那里有 0 帧。" : "Nothing reached LAN 2: 0 frames there."));
      }
      if (zh) CHECK_THAT(r.out, !Catch::Contains("routing table") && !Catch::Contains("LAN 1"));
    }
  }
}

TEST_CASE("demo-router refuses what it cannot do, and exits 5 without the lab's privileges", "[router]") {
  const auto before = socklab::lab::socklab_namespaces();
  for (const Strings& bad : {Strings{"--role", "server"}, Strings{"--role", "client"}, Strings{"--ttl", "0"},
                             Strings{"--ttl", "256"}}) {
    Strings args{DEMO_ROUTER};
    args.insert(args.end(), bad.begin(), bad.end());
    const auto r = run_demo(args);
    INFO(bad[0] << " " << bad[1] << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(bad[0]));
  }
  const auto r = run_demo({SOCKLAB_SETPRIV, "--bounding-set=-all", "--inh-caps=-all", "--", DEMO_ROUTER, "--capture"});
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Catch::Contains("CAP_NET_ADMIN") && Catch::Contains("CAP_SYS_ADMIN"));
  CHECK(leftovers(before).empty());
}

TEST_CASE("demo-router's notes, in both languages, are exactly the ones the code uses", "[router]") {
  const auto r = run_demo({DEMO_ROUTER, "--check-notes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("notes ok: demo-router"));
}
