// bench-gen-pcap: writes a large capture of realistic loopback traffic for the
// read benchmark (bench/README.md, "Reading captures"), so nothing big is committed.
//
// Many TCP connections live at once, as on a busy loopback: each one opens
// with SYN / SYN-ACK / ACK (mss, sackOK, TS, wscale), exchanges requests and
// replies (every segment carries TS options; replies of mixed size, some of
// them 64 KiB loopback super-segments, each answered by an ACK), and closes
// with FIN / FIN-ACK / ACK; a new connection takes its place. One packet in
// ten is a UDP datagram of a request/response flow. The generator is seeded,
// so the same arguments give the same file.
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace {

class PcapOut {
 public:
  explicit PcapOut(std::FILE* f) : f_(f) {
    // Nanosecond pcap, Ethernet, snaplen 262144.
    const std::uint32_t hdr[6] = {0xa1b23c4d, 0x00040002, 0, 0, 262144, 1};
    std::fwrite(hdr, sizeof hdr, 1, f_);
    bytes_ = sizeof hdr;
  }
  ~PcapOut() { flush(); }
  PcapOut(const PcapOut&) = delete;
  PcapOut& operator=(const PcapOut&) = delete;

  void packet(std::int64_t ts_ns, const std::vector<std::uint8_t>& frame) {
    const auto len = static_cast<std::uint32_t>(frame.size());
    const std::uint32_t rec[4] = {static_cast<std::uint32_t>(ts_ns / 1'000'000'000),
                                  static_cast<std::uint32_t>(ts_ns % 1'000'000'000), len, len};
    const auto* p = reinterpret_cast<const std::uint8_t*>(rec);
    buf_.insert(buf_.end(), p, p + sizeof rec);
    buf_.insert(buf_.end(), frame.begin(), frame.end());
    bytes_ += sizeof rec + frame.size();
    ++packets_;
    if (buf_.size() > (8u << 20)) flush();
  }
  void flush() {
    std::fwrite(buf_.data(), 1, buf_.size(), f_);
    buf_.clear();
  }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }
  [[nodiscard]] std::uint64_t packets() const { return packets_; }

 private:
  std::FILE* f_;
  std::vector<std::uint8_t> buf_;
  std::uint64_t bytes_ = 0, packets_ = 0;
};

void put16(std::vector<std::uint8_t>& b, std::uint32_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  put16(b, v >> 16);
  put16(b, v & 0xffff);
}

constexpr std::uint8_t FIN = 0x01, SYN = 0x02, PSH = 0x08, ACK = 0x10;

// Ethernet + IPv4 127.0.0.1 > 127.0.0.1 + TCP with options, into `b`.
void tcp_frame(std::vector<std::uint8_t>& b, std::uint16_t sport, std::uint16_t dport, std::uint32_t seq,
               std::uint32_t ack, std::uint8_t flags, std::uint16_t win, std::uint32_t tsval, std::uint32_t tsecr,
               std::uint32_t len, std::uint16_t ip_id, std::uint32_t src_ip = 0x7f000001) {
  b.assign(12, 0);
  put16(b, 0x0800);
  const bool syn = flags & SYN;
  const std::uint32_t opt = syn ? 20 : 12;
  b.insert(b.end(), {0x45, 0x00});
  put16(b, 20 + 20 + opt + len);
  put16(b, ip_id);
  b.insert(b.end(), {0x40, 0x00, 0x40, 0x06, 0x00, 0x00});
  put32(b, src_ip);
  b.insert(b.end(), {127, 0, 0, 1});
  put16(b, sport);
  put16(b, dport);
  put32(b, seq);
  put32(b, ack);
  b.push_back(static_cast<std::uint8_t>(((20 + opt) / 4) << 4));
  b.push_back(flags);
  put16(b, win);
  b.insert(b.end(), {0, 0, 0, 0});
  if (syn) {
    b.insert(b.end(), {2, 4, 0xff, 0xd7, 4, 2, 8, 10});
    put32(b, tsval);
    put32(b, tsecr);
    b.insert(b.end(), {1, 3, 3, 7});
  } else {
    b.insert(b.end(), {1, 1, 8, 10});
    put32(b, tsval);
    put32(b, tsecr);
  }
  static const std::string text = "GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: socklab-bench\r\n";
  for (std::uint32_t i = 0; i < len; ++i) b.push_back(static_cast<std::uint8_t>(text[i % text.size()]));
}

void udp_frame(std::vector<std::uint8_t>& b, std::uint16_t sport, std::uint16_t dport, std::uint32_t len,
               std::uint16_t ip_id) {
  b.assign(12, 0);
  put16(b, 0x0800);
  b.insert(b.end(), {0x45, 0x00});
  put16(b, 28 + len);
  put16(b, ip_id);
  b.insert(b.end(), {0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 127, 0, 0, 1, 127, 0, 0, 1});
  put16(b, sport);
  put16(b, dport);
  put16(b, 8 + len);
  put16(b, 0);
  for (std::uint32_t i = 0; i < len; ++i) b.push_back(static_cast<std::uint8_t>('a' + i % 26));
}

struct Connection {
  std::uint16_t cport = 0, sport = 0;
  std::uint32_t cseq = 0, sseq = 0;  // next sequence number of each side
  int step = 0;                      // where in its life the connection is
  int exchanges_left = 0;
  std::uint32_t reply = 0;           // bytes of the reply in progress
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write a large pcap of realistic multi-flow loopback traffic (for the read benchmark)"};
  std::string out_path;
  std::uint64_t packets = 1'000'000;
  std::uint64_t bytes = 0;
  double reply_mean = 400;
  unsigned concurrent = 200;
  std::uint32_t seed = 1;
  app.add_option("OUT", out_path, "The pcap file to write")->required();
  app.add_option("--packets", packets, "Stop after this many packets (default 1000000)");
  app.add_option("--bytes", bytes, "Or stop once the file reaches this many bytes (e.g. 1073741824)");
  app.add_option("--reply-mean", reply_mean, "Mean size of a reply in bytes (default 400)");
  app.add_option("--concurrent", concurrent, "TCP connections alive at once (default 200)");
  app.add_option("--seed", seed, "Random seed (default 1)");
  std::uint32_t syn_streams = 0;
  app.add_option("--syn-streams", syn_streams,
                 "Instead: this many SYNs, each from its own address and port (127.x.y.z), "
                 "every one a new TCP stream that never closes (the stream-table worst case)");
  CLI11_PARSE(app, argc, argv);
  if (bytes != 0) packets = UINT64_MAX;

  std::FILE* f = std::fopen(out_path.c_str(), "wb");
  if (f == nullptr) {
    fmt::print(stderr, "bench-gen-pcap: {}: cannot create the file\n", out_path);
    return 1;
  }
  std::mt19937 rng(seed);
  std::exponential_distribution<double> reply_size(1.0 / reply_mean);
  std::uniform_int_distribution<std::uint32_t> request_size(40, 400);
  std::uniform_int_distribution<int> exchanges(3, 60);
  std::uniform_int_distribution<std::int64_t> gap_ns(200, 20'000);
  std::uniform_int_distribution<unsigned> pick(0, concurrent - 1);

  std::vector<Connection> conns(concurrent);
  std::uint16_t next_port = 32768;
  auto fresh = [&](Connection& c) {
    c = Connection{};
    c.cport = next_port;
    next_port = next_port >= 60999 ? std::uint16_t{32768} : static_cast<std::uint16_t>(next_port + 1);
    c.sport = static_cast<std::uint16_t>(8000 + rng() % 16);
    c.cseq = static_cast<std::uint32_t>(rng());
    c.sseq = static_cast<std::uint32_t>(rng());
    c.exchanges_left = exchanges(rng);
  };
  for (auto& c : conns) fresh(c);

  PcapOut out(f);
  std::vector<std::uint8_t> frame;
  std::int64_t now = 1'700'000'000'000'000'000;
  for (std::uint32_t i = 0; i < syn_streams; ++i) {
    const std::uint32_t src = 0x7f000002u + i / 16;  // 16 ports per address
    tcp_frame(frame, static_cast<std::uint16_t>(40000 + i % 16), 8080, static_cast<std::uint32_t>(rng()), 0, SYN,
              65495, 1000, 0, 0, static_cast<std::uint16_t>(i), src);
    out.packet(now += 1000, frame);
  }
  if (syn_streams != 0) packets = 0;
  std::uint16_t ip_id = 0;
  std::uint32_t tsval = 1000;
  while (out.packets() < packets && (bytes == 0 || out.bytes() < bytes)) {
    now += gap_ns(rng);
    ++ip_id;
    if (now % 1'000'000 < 500) ++tsval;
    if (rng() % 10 == 0) {  // UDP: a request and its answer
      // Ports no tcpdump printer claims, so both tools print the same `UDP, length N`.
      const auto port = static_cast<std::uint16_t>(41000 + rng() % 64);
      udp_frame(frame, port, 40123, request_size(rng) / 4, ip_id);
      out.packet(now, frame);
      now += gap_ns(rng);
      udp_frame(frame, 40123, port, request_size(rng), static_cast<std::uint16_t>(ip_id + 1));
      out.packet(now, frame);
      continue;
    }
    Connection& c = conns[pick(rng)];
    switch (c.step) {
      case 0:
        tcp_frame(frame, c.cport, c.sport, c.cseq++, 0, SYN, 65495, tsval, 0, 0, ip_id);
        c.step = 1;
        break;
      case 1:
        tcp_frame(frame, c.sport, c.cport, c.sseq++, c.cseq, SYN | ACK, 65483, tsval, tsval, 0, ip_id);
        c.step = 2;
        break;
      case 2:
        tcp_frame(frame, c.cport, c.sport, c.cseq, c.sseq, ACK, 512, tsval, tsval, 0, ip_id);
        c.step = 3;
        break;
      case 3: {  // a request
        const std::uint32_t n = request_size(rng);
        tcp_frame(frame, c.cport, c.sport, c.cseq, c.sseq, PSH | ACK, 512, tsval, tsval, n, ip_id);
        c.cseq += n;
        c.reply = 1 + static_cast<std::uint32_t>(reply_size(rng));
        c.step = 4;
        break;
      }
      case 4: {  // the reply, in segments of at most 65483 bytes
        const std::uint32_t n = std::min<std::uint32_t>(c.reply, 65483);
        tcp_frame(frame, c.sport, c.cport, c.sseq, c.cseq, PSH | ACK, 512, tsval, tsval, n, ip_id);
        c.sseq += n;
        c.reply -= n;
        c.step = 5;
        break;
      }
      case 5:  // the client's ACK of it
        tcp_frame(frame, c.cport, c.sport, c.cseq, c.sseq, ACK, 512, tsval, tsval, 0, ip_id);
        c.step = c.reply > 0 ? 4 : (--c.exchanges_left > 0 ? 3 : 6);
        break;
      case 6:
        tcp_frame(frame, c.cport, c.sport, c.cseq++, c.sseq, FIN | ACK, 512, tsval, tsval, 0, ip_id);
        c.step = 7;
        break;
      case 7:
        tcp_frame(frame, c.sport, c.cport, c.sseq++, c.cseq, FIN | ACK, 512, tsval, tsval, 0, ip_id);
        c.step = 8;
        break;
      default:
        tcp_frame(frame, c.cport, c.sport, c.cseq, c.sseq, ACK, 512, tsval, tsval, 0, ip_id);
        fresh(c);
        break;
    }
    out.packet(now, frame);
  }
  out.flush();
  const bool ok = std::fclose(f) == 0;
  fmt::print(stderr, "bench-gen-pcap: {}: {} packets, {} bytes\n", out_path, out.packets(), out.bytes());
  return ok ? 0 : 1;
}
