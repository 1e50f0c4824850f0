// Golden tests: on captures made by real programs (tests/data/captures) and on
// real captures from other projects (tests/data/corpus), socklab agrees with
// tshark 4.0.17 frame by frame (seq, ack, len, win, flags, stream and every
// tcp.analysis flag) and prints the lines tcpdump 4.99.3 prints. Where socklab
// differs on purpose, the frame and the reason are listed below.
#include <catch2/catch.hpp>

#include <array>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>
#include <pcap/pcap.h>

#include "golden.hpp"
#include "socklab/capture/live.hpp"

using namespace socklab::capture;
using golden::fs::path;

namespace {

// Frames where socklab's record knowingly differs from tshark's. None today:
// every frame of every golden capture agrees. Add {file, frame, reason} here.
struct KnownDifference {
  std::string_view file;
  std::uint64_t frame;
  std::string_view reason;
};
constexpr std::array<KnownDifference, 0> tshark_differences{};

// Lines where socklab knowingly differs from `tcpdump -nn -S`.
constexpr KnownDifference tcpdump_differences[] = {
    {"tcpdump__ipv4_tcp_http_xml_tso.pcap", 1,
     "IPv4 total length 0 (a TSO capture): tcpdump prints `IP bad-len 0`; socklab takes the length "
     "from the frame, as Wireshark"},
    {"pcapplusplus__null_loopback.pcap", 3,
     "BSD loopback header 0f 00 08 00: tcpdump prints `AF Unknown`; socklab reads an EtherType (IPv4) "
     "in its last two bytes, as Wireshark"},
};

bool listed(const auto& table, const std::string& file, std::uint64_t frame) {
  for (const auto& d : table) {
    if (d.file == file && d.frame == frame) return true;
  }
  return false;
}

void compare_with_tshark(const path& capture) {
  const std::string file = capture.filename().string();
  const auto rows = golden::tshark_view(capture);
  const auto ours = golden::socklab_view(capture);
  REQUIRE(ours.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& t = rows[i];
    const PacketRecord& r = ours[i].record;
    INFO(file << " frame " << t.n << ": " << r.line << "  [" << ours[i].notes << "]");
    REQUIRE(r.n == t.n);
    if (listed(tshark_differences, file, t.n)) continue;
    CHECK(std::string(to_string(r.proto)) == t.proto);
    const auto names = analysis_names(r.analysis);
    std::string joined;
    for (const auto& n : names) joined += (joined.empty() ? "" : ",") + n;
    CHECK(joined == t.analysis);
    if (!t.stream.empty()) {
      CHECK(r.has_stream);
      CHECK(std::to_string(r.stream) == t.stream);
    }
    if (t.proto == "tcp") {
      CHECK(r.flags == t.flags);
      CHECK(std::to_string(r.seq) == t.seq);
      if (t.flags.find('.') != std::string::npos) CHECK(std::to_string(r.ack) == t.ack);
      CHECK(std::to_string(r.len) == t.len);
      CHECK(std::to_string(r.win) == t.win);
    } else if (t.proto == "udp") {
      CHECK(std::to_string(r.len) == t.ulen);
    }
    // The fast JSON path is byte for byte what the contract's to_json() gives.
    CHECK(ours[i].json == to_json(r).dump());
  }
}

// tcpdump's MPTCP option text, up to the next option: "mptcp 20 capable v0 csum {0x9b..,0xd0..}".
constexpr const char* mptcp_details = "mptcp(?:[^,\\]{]|\\{[^}]*\\})*";

// tcpdump's line without its application-layer decoding of well-known ports
// (after `length N` for TCP; instead of `UDP, length N` for UDP) and with MPTCP
// option details reduced to the option's name, which is all socklab prints.
bool same_as_tcpdump(const std::string& ours, std::string theirs, bool allow_app_decoding) {
  static const std::regex mptcp(mptcp_details);
  theirs = std::regex_replace(theirs, mptcp, "mptcp");
  if (ours == theirs) return true;
  if (!allow_app_decoding) return false;
  if (ours.find("Flags [") != std::string::npos) {
    // TCP: tcpdump appends `: HTTP...` or ` 17177+ A? ...` after `length N`.
    return theirs.size() > ours.size() && theirs.compare(0, ours.size(), ours) == 0 &&
           (theirs[ours.size()] == ':' || theirs[ours.size()] == ' ');
  }
  // UDP, GRE: tcpdump shows the application in place of `UDP, length N`; the
  // addresses and ports before it must still agree.
  const auto head = ours.find(": ");
  return head != std::string::npos && theirs.compare(0, head + 2, ours, 0, head + 2) == 0 &&
         theirs.find("UDP, length") == std::string::npos;
}

struct LineStats {
  std::size_t exact = 0, app_decoded = 0, listed = 0;
};

LineStats compare_with_tcpdump(const path& capture, bool allow_app_decoding) {
  const std::string file = capture.filename().string();
  LineStats st;
  // Absolute numbers: every line is `tcpdump -t -nn -S`'s.
  {
    const auto theirs = golden::read_lines(capture.string() + ".tcpdump-S.txt");
    const auto ours = golden::socklab_view(capture, true);
    std::vector<std::string> top;  // tcpdump prints hex dumps of unknown frames on extra lines
    for (const auto& l : theirs) {
      if (!l.empty() && l[0] != '\t') top.push_back(l);
    }
    REQUIRE(top.size() == ours.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
      INFO(file << " frame " << (i + 1) << "\n  socklab: " << ours[i].line << "\n  tcpdump: " << top[i]);
      if (listed(tcpdump_differences, file, i + 1)) {
        CHECK(ours[i].line != top[i]);  // still different; drop the entry when it is not
        ++st.listed;
        continue;
      }
      const bool exact = ours[i].line == std::regex_replace(top[i], std::regex(mptcp_details), "mptcp");
      CHECK(same_as_tcpdump(ours[i].line, top[i], allow_app_decoding));
      ++(exact ? st.exact : st.app_decoded);
    }
  }
  return st;
}

const std::map<std::string, std::vector<std::string>> expected_phases = {
    {"handshake.pcap",
     {"handshake 1/3", "handshake 2/3", "handshake 3/3", "teardown 1/4", "teardown 2/4", "teardown 3/4",
      "teardown 4/4"}},
    {"data.pcap",
     {"handshake 1/3", "handshake 2/3", "handshake 3/3", "data", "ack", "data", "ack", "data", "data", "ack", "data",
      "data", "ack", "teardown 1/4", "teardown 2+3/4", "teardown 4/4"}},
    {"half_close.pcap",
     {"handshake 1/3", "handshake 2/3", "handshake 3/3", "data", "ack", "teardown 1/4", "data", "ack", "data", "ack",
      "teardown 3/4", "teardown 4/4"}},
    {"rst.pcap", {"handshake 1/3", "handshake 2/3", "handshake 3/3", "data", "ack", "reset"}},
    {"refused.pcap", {"handshake 1/3", "refused"}},
    {"backlog.pcap",
     {"handshake 1/3", "handshake 2/3", "handshake 3/3", "handshake 1/3", "handshake 2/3", "handshake 3/3",
      "handshake 1/3", "handshake 1/3", "syn retransmission", "syn retransmission", "syn retransmission",
      "syn retransmission", "handshake 2/3", "handshake 2/3", "handshake 3/3", "handshake 3/3", "teardown 1/4",
      "teardown 1/4", "teardown 1/4", "teardown 1/4", "teardown 2+3/4", "teardown 4/4", "teardown 2+3/4",
      "teardown 4/4", "teardown 2+3/4", "teardown 4/4", "teardown 2+3/4", "teardown 4/4"}},
    {"zero_window.pcap",
     {"handshake 1/3", "handshake 2/3", "handshake 3/3", "data", "ack", "data", "ack", "data", "ack", "data", "ack",
      "ack", "ack", "ack", "data", "ack", "data", "ack", "data", "ack", "data", "ack", "data", "ack",
      "teardown 1/4", "teardown 2/4", "teardown 3/4", "teardown 4/4"}},
    {"udp_unreachable.pcap", {"datagram", "datagram", "datagram", "datagram", "unreachable"}},
    {"ipv6.pcap",
     {"handshake 1/3", "handshake 2/3", "handshake 3/3", "data", "ack", "data", "ack", "teardown 1/4",
      "teardown 2/4", "teardown 3/4", "teardown 4/4", "datagram", "unreachable"}},
    {"fragments.pcap",
     {"datagram", "fragment", "fragment", "datagram", "fragment", "fragment", "datagram", "fragment", "unreachable",
      "datagram", "fragment", "fragment", "datagram", "fragment", "fragment", "datagram", "fragment",
      "unreachable"}},
    {"udp6_max.pcap", {"datagram", "fragment"}},
};

}  // namespace

TEST_CASE("captures of real programs: socklab agrees with tshark on every frame", "[golden][tshark]") {
  const auto all = golden::captures("captures");
  REQUIRE(all.size() >= 13);
  for (const auto& c : all) {
    DYNAMIC_SECTION(c.filename().string()) { compare_with_tshark(c); }
  }
}

TEST_CASE("real captures from other projects: socklab agrees with tshark on every frame", "[golden][tshark]") {
  const auto all = golden::captures("corpus");
  REQUIRE(all.size() >= 30);
  for (const auto& c : all) {
    DYNAMIC_SECTION(c.filename().string()) { compare_with_tshark(c); }
  }
}

TEST_CASE("the golden data exercises every analysis flag tshark knows", "[golden][tshark]") {
  std::set<std::string> seen;
  for (const char* sub : {"captures", "corpus"}) {
    for (const auto& c : golden::captures(sub)) {
      for (const auto& row : golden::tshark_view(c)) {
        for (const auto& f : golden::split(row.analysis, ',')) {
          if (!f.empty()) seen.insert(f);
        }
      }
    }
  }
  for (const auto& name : analysis_names(0x3fff)) {
    INFO(name);
    CHECK(seen.count(name) == 1);
  }
}

TEST_CASE("lines: tcpdump's own output on the same captures", "[golden][tcpdump]") {
  SECTION("captures of real programs: every line exact") {
    for (const auto& c : golden::captures("captures")) {
      const auto st = compare_with_tcpdump(c, false);
      CHECK(st.app_decoded == 0);
    }
  }
  SECTION("other projects' captures: exact, or tcpdump decoding a well-known port's application") {
    LineStats total;
    for (const auto& c : golden::captures("corpus")) {
      const auto st = compare_with_tcpdump(c, true);
      total.exact += st.exact;
      total.app_decoded += st.app_decoded;
      total.listed += st.listed;
    }
    CHECK(total.listed == std::size(tcpdump_differences));
    CHECK(total.exact > 700);  // most lines are byte for byte tcpdump's
  }
  SECTION("relative numbers: after the handshake they are tcpdump's own") {
    // tcpdump prints a connection's SYN and SYN-ACK (and segments without ACK)
    // with absolute numbers and counts from there; socklab starts every
    // direction at 0 with its SYN, so the numbers meet from the third segment on.
    // tcpdump takes its bases from the first segment with ACK of each connection.
    for (const auto& c : golden::captures("captures")) {
      const auto theirs = golden::read_lines(c.string() + ".tcpdump.txt");
      const auto ours = golden::socklab_view(c);
      REQUIRE(theirs.size() == ours.size());
      std::set<std::pair<std::string, std::string>> based;
      for (std::size_t i = 0; i < ours.size(); ++i) {
        const PacketRecord& r = ours[i].record;
        if (!r.is_tcp || r.flags.find('.') == std::string::npos) continue;
        const bool first_with_ack = based.insert(std::minmax(r.src, r.dst)).second;
        if (first_with_ack || r.flags.find('S') != std::string::npos) continue;
        INFO(c.filename().string() << " frame " << (i + 1));
        CHECK(r.line == theirs[i]);
      }
    }
  }
}

TEST_CASE("phases of the captured lessons", "[golden][phase]") {
  for (const auto& [file, phases] : expected_phases) {
    INFO(file);
    const auto ours = golden::socklab_view(golden::data_dir() / "captures" / file);
    std::vector<std::string> got;
    for (const auto& f : ours) got.emplace_back(to_string(f.record.phase));
    CHECK(got == phases);
  }
}

TEST_CASE("the UDP capture ties the port unreachable to its datagram", "[golden][udp]") {
  const auto ours = golden::socklab_view(golden::data_dir() / "captures" / "udp_unreachable.pcap");
  REQUIRE(ours.size() == 5);
  const PacketRecord& icmp = ours[4].record;
  CHECK(icmp.proto == Proto::icmp);
  CHECK(icmp.related == 4);
  CHECK(icmp.note == "udp port " + std::to_string(ours[3].record.dport) + " unreachable (frame 4)");
  CHECK(ours[2].record.len == 1000);
  CHECK(ours[0].record.src == ours[1].record.dst);  // the reply goes back where the request came from
  const auto v6 = golden::socklab_view(golden::data_dir() / "captures" / "ipv6.pcap");
  CHECK(v6.back().record.proto == Proto::icmp6);
  CHECK(v6.back().record.related == v6.size() - 1);
}

TEST_CASE("sequence numbers that wrap past 2^32 (PcapPlusPlus max_seq)", "[golden][wrap]") {
  // The same stream twice: once with ordinary ISNs, once rewritten to wrap.
  const auto plain = golden::socklab_view(golden::data_dir() / "corpus" / "pcapplusplus__one_tcp_stream.pcap");
  const auto wrap = golden::socklab_view(golden::data_dir() / "corpus" / "pcapplusplus__one_tcp_stream_max_seq.pcap");
  REQUIRE(plain.size() == wrap.size());
  bool wrapped = false;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    INFO("frame " << (i + 1));
    CHECK(wrap[i].record.seq == plain[i].record.seq);
    CHECK(wrap[i].record.ack == plain[i].record.ack);
    CHECK(wrap[i].record.analysis == plain[i].record.analysis);
    if (wrap[i].record.src == wrap[0].record.src && wrap[i].record.seq_abs < wrap[0].record.seq_abs) wrapped = true;
  }
  CHECK(wrapped);
}

TEST_CASE("fragmented datagrams: each piece in order, tied to its first, none malformed", "[golden][fragment]") {
  for (const char* file : {"fragments.pcap", "udp6_max.pcap"}) {
    INFO(file);
    const auto ours = golden::socklab_view(golden::data_dir() / "captures" / file);
    std::size_t later = 0;
    std::map<std::uint64_t, std::uint32_t> reached;  // first fragment's frame -> bytes covered so far
    for (const auto& f : ours) {
      const PacketRecord& r = f.record;
      INFO("frame " << r.n << ": " << r.line);
      CHECK_FALSE(r.malformed);
      if (r.proto == Proto::icmp || r.proto == Proto::icmp6) continue;
      REQUIRE(r.fragment);
      if (r.fragment->offset == 0) {
        CHECK(r.proto == Proto::udp);
        CHECK(r.phase == Phase::datagram);
        CHECK(r.fragment->more);
        CHECK(r.len >= 2000);  // the whole datagram's payload, as tcpdump and tshark say
        reached[r.n] = r.fragment->bytes;
        continue;
      }
      ++later;
      CHECK(r.proto == Proto::other);
      CHECK(r.phase == Phase::fragment);
      CHECK(r.len == 0);
      REQUIRE(reached.count(r.related) == 1);
      const PacketRecord& head = ours[r.related - 1].record;
      CHECK(r.stream == head.stream);
      CHECK(r.fragment->id == head.fragment->id);
      CHECK(r.fragment->offset == reached[r.related]);  // each piece starts where the previous ended
      reached[r.related] += r.fragment->bytes;
      if (!r.fragment->more) CHECK(reached[r.related] == head.len + 8);  // the whole UDP datagram
    }
    CHECK(later == (std::string(file) == "fragments.pcap" ? 10u : 1u));
  }
  // The closed port answers once the kernel has put the datagram together; the
  // ICMP error points at its first fragment (IPv4: the same IP id).
  const auto frags = golden::socklab_view(golden::data_dir() / "captures" / "fragments.pcap");
  CHECK(frags[8].record.related == 7);
  CHECK(frags[17].record.related == 16);
  CHECK(golden::socklab_view(golden::data_dir() / "captures" / "udp6_max.pcap")[0].record.len == 65527);
}

TEST_CASE("port_filter() keeps the fragments of the port's datagrams", "[golden][fragment][filter]") {
  // libpcap compiles the filter and runs it on the committed captures' frames.
  struct Frame {
    PacketRecord record;
    std::vector<std::uint8_t> bytes;
    std::uint32_t wire_len;
  };
  auto frames_of = [](const char* file) {
    auto reader = PcapReader::open((golden::data_dir() / "captures" / file).string());
    REQUIRE(reader);
    RecordBuilder builder(reader->link());
    std::vector<Frame> out;
    while (auto p = reader->next()) {
      out.push_back({builder.next(p->ts_ns, p->bytes, p->wire_len), {p->bytes.begin(), p->bytes.end()}, p->wire_len});
    }
    return out;
  };
  auto matches = [](const std::string& filter, const Frame& f) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    REQUIRE(dead != nullptr);
    bpf_program program{};
    const int rc = pcap_compile(dead, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    INFO(pcap_geterr(dead));
    REQUIRE(rc == 0);
    pcap_pkthdr header{};
    header.caplen = static_cast<bpf_u_int32>(f.bytes.size());
    header.len = f.wire_len;
    const bool kept = pcap_offline_filter(&program, &header, f.bytes.data()) != 0;
    pcap_freecode(&program);
    pcap_close(dead);
    return kept;
  };
  for (const char* file : {"fragments.pcap", "udp6_max.pcap", "udp_unreachable.pcap"}) {
    const auto frames = frames_of(file);
    std::set<std::uint16_t> ports{9};  // 9: a port nobody used
    for (const auto& f : frames) {
      if (f.record.proto == Proto::udp) ports.insert({f.record.sport, f.record.dport});
    }
    for (const std::uint16_t port : ports) {
      for (const auto& f : frames) {
        const PacketRecord& r = f.record;
        // The port's datagrams (their first fragments), the ICMP errors about
        // them, and every later fragment, whose ports nobody can see.
        const PacketRecord* about = r.related != 0 ? &frames[r.related - 1].record : &r;
        const bool wanted =
            r.phase == Phase::fragment || about->sport == port || about->dport == port;
        INFO(file << " port " << port << " frame " << r.n << ": " << r.line);
        CHECK(matches(port_filter(port), f) == wanted);
      }
    }
  }
}

// tests/data/malformed: damaged copies of golden captures (make_malformed.py),
// each judged as tcpdump and Wireshark judge it (their views lie beside them).
namespace {
std::vector<golden::Frame> malformed_view(const char* name, bool absolute = false) {
  return golden::socklab_view(golden::data_dir() / "malformed" / name, absolute);
}
}  // namespace

TEST_CASE("IPv4 total length 0: decoded with the frame's length, and said so", "[golden][malformed]") {
  const auto ours = malformed_view("ipv4_len0.pcap");
  REQUIRE(ours.size() == 4);
  const PacketRecord& r = ours[3].record;
  // Wireshark's reading (ip.tso_support): the 13-byte request, analysed as usual.
  const auto tshark = golden::tshark_view(golden::data_dir() / "malformed" / "ipv4_len0.pcap");
  CHECK(std::to_string(r.len) == tshark[3].len);
  CHECK(r.phase == Phase::data);
  CHECK_FALSE(r.malformed);
  // tcpdump's judgement, in the note (lines, JSON and layers).
  CHECK(golden::read_lines(golden::data_dir() / "malformed" / "ipv4_len0.pcap.tcpdump.txt")[3] == "IP bad-len 0");
  CHECK(r.note.rfind("IPv4 total length 0 (tcpdump: bad-len 0): 65 bytes taken from the frame", 0) == 0);
  CHECK(ours[3].notes.find("data; IPv4 total length 0 (tcpdump: bad-len 0)") == 0);
  CHECK(nlohmann::json::parse(ours[3].json)["note"] == r.note);
  CHECK(ours[2].record.note.empty());
}

TEST_CASE("a repeated IPv6 Hop-by-Hop header is malformed, as tcpdump and Wireshark say", "[golden][malformed]") {
  const auto ours = malformed_view("ipv6_hbh_repeated.pcap", true);
  REQUIRE(ours.size() == 4);
  const PacketRecord& r = ours[3].record;
  CHECK(r.malformed);
  CHECK(r.malformed_reason == "IPv6 Hop-by-Hop header at place 2 of the header chain: it may only come first");
  CHECK(r.proto == Proto::other);  // tshark stops there too
  CHECK(golden::tshark_view(golden::data_dir() / "malformed" / "ipv6_hbh_repeated.pcap")[3].proto == "other");
  CHECK(r.line == golden::read_lines(golden::data_dir() / "malformed" / "ipv6_hbh_repeated.pcap.tcpdump-S.txt")[3]);
  CHECK(r.analysis == 0);
  CHECK(r.phase == Phase::none);
}

TEST_CASE("an ICMP error quoting too few bytes: the quote is marked cut, no port invented", "[golden][malformed]") {
  const auto ours = malformed_view("icmp_quote_cut.pcap");
  REQUIRE(ours.size() == 2);
  const PacketRecord& r = ours[1].record;
  CHECK(r.phase == Phase::unreachable);
  CHECK(r.line == "IP 127.0.0.1 > 127.0.0.1: ICMP [|icmp]");  // tcpdump: [|icmp] too
  CHECK(r.note == "quote cut: 22 bytes of the datagram, its ports are missing");
  CHECK(r.line.find("port 0") == std::string::npos);
  CHECK(r.malformed);
  CHECK(r.malformed_reason == "ICMP error quotes 2 bytes of the datagram after its IP header (8 expected)");
  CHECK(r.related == 0);  // without the ports it cannot be tied to a datagram
  CHECK(nlohmann::json::parse(ours[1].json)["note"] == r.note);
}

TEST_CASE("a segment whose header runs past it gets no TCP analysis, as in Wireshark", "[golden][malformed]") {
  const auto ours = malformed_view("tcp_offset_past.pcap");
  const auto tshark = golden::tshark_view(golden::data_dir() / "malformed" / "tcp_offset_past.pcap");
  REQUIRE(ours.size() == 6);
  const PacketRecord& r = ours[5].record;
  CHECK(r.malformed);
  CHECK(r.analysis == 0);  // it would be a keep_alive (seq one below the next expected)
  CHECK(tshark[5].analysis.empty());
  CHECK(r.phase == Phase::none);
  CHECK(std::to_string(r.seq) == tshark[5].seq);  // the numbers as on the wire, as tshark shows them
  CHECK(std::to_string(r.ack) == tshark[5].ack);
  CHECK(r.stream == 0);
  CHECK(ours[5].notes == "malformed: TCP header length 60 exceeds the segment (32 bytes)");
}
