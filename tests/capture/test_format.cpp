// The renderings: tcpdump's notation exactly, the JSON contract, the layers.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "builder.hpp"
#include "frames.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/record.hpp"

using namespace socklab::capture;

namespace {

std::string line_of(const AnalyzedPacket& a) {
  TextBuffer b;
  append_tcpdump_line(b, a);
  return fmt::to_string(b);
}

std::string json_of(const AnalyzedPacket& a) {
  TextBuffer b;
  append_json(b, a);
  return fmt::to_string(b);
}

// A lone frame through a fresh analyser (the first of its flow). The frame is
// kept alive with the result, whose spans point into it.
struct First {
  std::vector<std::uint8_t> frame;
  AnalyzedPacket a;
  operator const AnalyzedPacket&() const { return a; }  // NOLINT: a view of the result
};
First first(std::vector<std::uint8_t> b, bool absolute = false) {
  PacketAnalyzer an(LinkType::ethernet, {.absolute_seq = absolute});
  First f{std::move(b), {}};
  f.a = an.next(1'000'000'000, f.frame, static_cast<std::uint32_t>(f.frame.size()));
  return f;
}

// The TCP frame `syn` with its option bytes replaced (data offset adjusted).
std::vector<std::uint8_t> with_options(std::vector<std::uint8_t> opts, std::uint8_t flags = 0x10) {
  auto b = frames::bytes(frames::syn);
  b.resize(54);
  while (opts.size() % 4 != 0) opts.push_back(0);  // eol padding
  b.insert(b.end(), opts.begin(), opts.end());
  b[46] = static_cast<std::uint8_t>(((20 + opts.size()) / 4) << 4);
  b[47] = flags;
  const auto total = static_cast<std::uint16_t>(b.size() - 14);
  b[16] = static_cast<std::uint8_t>(total >> 8);
  b[17] = static_cast<std::uint8_t>(total);
  return b;
}

}  // namespace

TEST_CASE("tcpdump's line for a SYN, relative and absolute", "[format]") {
  CHECK(line_of(first(frames::bytes(frames::syn))) ==
        "IP 127.0.0.1.52566 > 127.0.0.1.40931: Flags [S], seq 0, win 65495, options [mss 65495,sackOK,"
        "TS val 3692239500 ecr 0,nop,wscale 10], length 0");
  // With absolute numbers, byte for byte what `tcpdump -nn -S` prints.
  CHECK(line_of(first(frames::bytes(frames::syn), true)) ==
        "IP 127.0.0.1.52566 > 127.0.0.1.40931: Flags [S], seq 4256761831, win 65495, options [mss 65495,sackOK,"
        "TS val 3692239500 ecr 0,nop,wscale 10], length 0");
}

TEST_CASE("tcpdump's lines for IPv6, UDP and ICMP", "[format]") {
  CHECK(line_of(first(frames::bytes(frames::v6_data), true)) ==
        "IP6 ::1.46228 > ::1.38913: Flags [P.], seq 1793420900:1793420908, ack 2922540112, win 64, "
        "options [nop,nop,TS val 811734630 ecr 3826956696], length 8");
  CHECK(line_of(first(frames::bytes(frames::icmp_unreachable))) ==
        "IP 127.0.0.1 > 127.0.0.1: ICMP 127.0.0.1 udp port 47116 unreachable, length 49");
  CHECK(line_of(first(frames::bytes(frames::icmp6_unreachable))) ==
        "IP6 ::1 > ::1: ICMP6, destination unreachable, unreachable port, ::1 udp port 52271, length 65");
  const builder::Pair p;
  CHECK(line_of(first(p.udp(true, 1, 6))) == "IP 10.0.0.1.40000 > 10.0.0.2.8080: UDP, length 6");
}

TEST_CASE("fragments in tcpdump's notation, with notes and the JSON contract", "[format][fragment]") {
  PacketAnalyzer an(LinkType::ethernet);
  std::vector<std::vector<std::uint8_t>> kept;
  auto next = [&](const auto& bytes) -> const AnalyzedPacket& {
    kept.push_back(frames::bytes(bytes));
    return an.next(static_cast<std::int64_t>(kept.size()) * 1000, kept.back(),
                   static_cast<std::uint32_t>(kept.back().size()));
  };
  TextBuffer notes;
  auto notes_of = [&](const AnalyzedPacket& a) {
    notes.clear();
    append_notes(notes, a);
    return fmt::to_string(notes);
  };
  // The lines are tcpdump -nn's for the same frames (IPv4: no length after a later
  // fragment; IPv6: the addresses, "frag (offset|length)", then the ports alone).
  {
    const auto& a = next(frames::v4_first_fragment);
    CHECK(line_of(a) == "IP 127.0.0.1.49983 > 127.0.0.1.51145: UDP, length 32");
    CHECK(notes_of(a) == "datagram; fragment 0-15 (id 17631), more follow");
    const auto j = nlohmann::json::parse(json_of(a));
    CHECK(j["proto"] == "udp");
    CHECK(j["len"] == 32);
    CHECK(j["fragment"] == nlohmann::json{{"id", 17631}, {"offset", 0}, {"bytes", 16}, {"more", true}});
    CHECK(j["note"] == "fragment 0-15 (id 17631), more follow");
    CHECK(json_of(a) == to_json(make_record(a)).dump());
  }
  {
    const auto& a = next(frames::v4_last_fragment);
    CHECK(line_of(a) == "IP 127.0.0.1 > 127.0.0.1: ip-proto-17");
    CHECK(notes_of(a) == "fragment 16-39 (id 17631, first in frame 1), the last");
    const auto j = nlohmann::json::parse(json_of(a));
    CHECK(j["proto"] == "other");
    CHECK(j["phase"] == "fragment");
    CHECK(j["src"] == "127.0.0.1");
    CHECK(j["len"] == 0);
    CHECK(j["malformed"] == false);
    CHECK(j["related"] == 1);
    CHECK(j["stream"] == 0);
    CHECK(j["fragment"] == nlohmann::json{{"id", 17631}, {"offset", 16}, {"bytes", 24}, {"more", false}});
    CHECK(json_of(a) == to_json(make_record(a)).dump());
    TextBuffer layers;
    append_layers(layers, a);
    CHECK(fmt::to_string(layers).find("fragment 16-39 (id 17631, first in frame 1), the last; no transport "
                                      "header: it travels in the first fragment") != std::string::npos);
  }
  {
    const auto& a = next(frames::v6_first_fragment);
    CHECK(line_of(a) == "IP6 ::1 > ::1: frag (0|16) 46232 > 54544: UDP, length 32");
    CHECK(notes_of(a) == "datagram; fragment 0-15 (id 0xf668ab2d), more follow");
    CHECK(json_of(a) == to_json(make_record(a)).dump());
    TextBuffer layers;
    append_layers(layers, a);
    CHECK(fmt::to_string(layers).find("payload    32 bytes (8 in this fragment)") != std::string::npos);
  }
  {
    const auto& a = next(frames::v6_last_fragment);
    CHECK(line_of(a) == "IP6 ::1 > ::1: frag (16|24)");
    CHECK(notes_of(a) == "fragment 16-39 (id 0xf668ab2d, first in frame 3), the last");
    const auto r = make_record(a);
    REQUIRE(r.fragment);
    CHECK(r.fragment->id == 0xf668ab2du);
    CHECK(r.phase == Phase::fragment);
    CHECK(r.related == 3);
    CHECK(json_of(a) == to_json(r).dump());
  }
  SECTION("other IPv6 extension headers are named as tcpdump names them") {
    auto b = frames::bytes(frames::v6_first_fragment);
    b[20] = 0;  // next header: hop-by-hop, then the fragment header
    const std::uint8_t hbh[] = {44, 0, 1, 4, 0, 0, 0, 0};
    b.insert(b.begin() + 54, hbh, hbh + sizeof hbh);
    b[19] = static_cast<std::uint8_t>(b[19] + 8);
    CHECK(line_of(first(b)) == "IP6 ::1 > ::1: HBH frag (0|16) 46232 > 54544: UDP, length 32");
    b[54] = 59;  // hop-by-hop, then no next header
    CHECK(line_of(first(b)) == "IP6 ::1 > ::1: HBH no next header");
  }
}

TEST_CASE("TCP options in tcpdump's notation, including odd ones", "[format]") {
  struct Case {
    std::vector<std::uint8_t> opts;
    std::string shown;
  };
  const std::vector<Case> cases = {
      {{2, 4, 0x05, 0xb4}, "mss 1460"},
      {{1, 3, 3, 7}, "nop,wscale 7"},
      {{4, 2}, "sackOK,eol"},
      // SACK blocks are shown relative to the other direction, here unknown: absolute.
      {{1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20}, "nop,nop,sack 1 {10:20}"},
      {{5, 7, 0, 0, 0, 1, 0}, "sack invalid sack,eol"},
      {{8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, "TS val 1 ecr 2,eol"},
      {{34, 2}, "tfo  cookiereq,eol"},
      {{34, 6, 0xab, 0xcd, 0xef, 0x01}, "tfo  cookie abcdef01,eol"},
      {{254, 4, 0xf9, 0x89}, "exp-tfo cookiereq"},
      {{254, 4, 0xac, 0xc0}, "exp-acc0"},
      {{99, 4, 0xde, 0xad}, "unknown-99 0xdead"},
      {{99, 2}, "unknown-99,eol"},
      {{28, 4, 0x01, 0x2d}, "uto 0x12d 9000"},
      // tcpdump steps over the 2 bytes it knows, so the fifth byte reads as eol.
      {{2, 5, 0x05, 0xb4, 0x00}, "mss 1460[len 5],eol"},
      {{2, 1, 0, 0}, "[bad opt]"},
      {{1, 2, 9, 0, 0, 0}, "nop,[bad opt]]"},
  };
  for (const auto& c : cases) {
    INFO("option bytes for " << c.shown);
    const std::string line = line_of(first(with_options(c.opts), true));
    const auto at = line.find("options [");
    REQUIRE(at != std::string::npos);
    const std::string rest = line.substr(at + 9);
    if (c.shown.find("[bad opt]") != std::string::npos) {
      CHECK(rest == c.shown);  // tcpdump stops the line there
    } else {
      CHECK(rest == c.shown + "], length 0");
    }
  }
}

TEST_CASE("flags in tcpdump's order and urgent data", "[format]") {
  TextBuffer b;
  append_tcp_flags(b, 0xff);
  CHECK(fmt::to_string(b) == "FSRP.UEW");
  b.clear();
  append_tcp_flags(b, 0);
  CHECK(fmt::to_string(b) == "none");
  auto frame = with_options({}, 0x39);  // FIN PSH ACK URG
  frame[52] = 0;
  frame[53] = 7;
  CHECK(line_of(first(frame, true)) ==
        "IP 127.0.0.1.52566 > 127.0.0.1.40931: Flags [FP.U], seq 4256761831, ack 0, win 65495, urg 7, length 0");
}

TEST_CASE("the JSON contract: keys, values, and the fast path equals to_json()", "[format][json]") {
  const builder::Pair p;
  builder::Feed f;
  f(p.tcp({true, 1000, 0, builder::S, 65535, 0, 7}));
  f(p.tcp({false, 5000, 1001, builder::S | builder::A, 65535, 0, 7}));
  const auto& a = f(p.tcp({true, 1001, 5001, builder::P | builder::A, 512, 5}));
  const auto j = nlohmann::json::parse(json_of(a));
  CHECK(j["kind"] == "packet");
  CHECK(j["n"] == 3);
  CHECK(j["t"] == 0.002);
  CHECK(j["src"] == "10.0.0.1:40000");
  CHECK(j["dst"] == "10.0.0.2:8080");
  CHECK(j["proto"] == "tcp");
  CHECK(j["flags"] == "P.");
  CHECK(j["seq"] == 1);
  CHECK(j["ack"] == 1);
  CHECK(j["seq_abs"] == 1001);
  CHECK(j["ack_abs"] == 5001);
  CHECK(j["len"] == 5);
  CHECK(j["win"] == 512 << 7);
  CHECK(j["phase"] == "data");
  CHECK(j["analysis"] == nlohmann::json::array());
  CHECK(j["malformed"] == false);
  CHECK(j["stream"] == 0);
  CHECK(j["preview"] == "xxxxx");
  CHECK_FALSE(j.contains("malformed_reason"));
  CHECK(json_of(a) == to_json(make_record(a)).dump());

  SECTION("UDP and ICMP carry no TCP keys; ICMP names its datagram") {
    builder::Feed u;
    const auto d = nlohmann::json::parse(json_of(u(p.udp(true, 7, 3))));
    CHECK(d["proto"] == "udp");
    CHECK(d["phase"] == "datagram");
    CHECK_FALSE(d.contains("flags"));
    CHECK_FALSE(d.contains("seq"));
    const auto& m = u(p.port_unreachable(7, 3));
    const auto i = nlohmann::json::parse(json_of(m));
    CHECK(i["proto"] == "icmp");
    CHECK(i["src"] == "10.0.0.2");
    CHECK(i["related"] == 1);
    CHECK(i["note"] == "udp port 8080 unreachable (frame 1)");
    CHECK(json_of(m) == to_json(make_record(m)).dump());
  }
  SECTION("a malformed frame says why") {
    auto bad = frames::bytes(frames::syn);
    bad[46] = 0x40;
    const auto m = first(bad);
    const auto j2 = nlohmann::json::parse(json_of(m));
    CHECK(j2["malformed"] == true);
    CHECK(j2["malformed_reason"] == "TCP data offset 4 (< 5)");
    CHECK(json_of(m) == to_json(make_record(m)).dump());
  }
}

TEST_CASE("the layered view names every header", "[format][layers]") {
  TextBuffer b;
  append_layers(b, first(frames::bytes(frames::v6_data)));
  const std::string s = fmt::to_string(b);
  CHECK(s.find("frame 1: 94 bytes on the wire, 94 captured") != std::string::npos);
  CHECK(s.find("  link       Ethernet  00:00:00:00:00:00 > 00:00:00:00:00:00, type 0x86dd [14 bytes]") !=
        std::string::npos);
  CHECK(s.find("  network    IPv6  ::1 > ::1, hop limit 64, protocol 6 (TCP)") != std::string::npos);
  CHECK(s.find("  transport  TCP  port 46228 > 38913, flags [P.], seq 1, ack 1, win 64") != std::string::npos);
  CHECK(s.find("  payload    8 bytes  \"GET /six\"") != std::string::npos);
  CHECK(s.find("  notes      data") != std::string::npos);
}
