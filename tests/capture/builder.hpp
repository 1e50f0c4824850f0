// Builds Ethernet/IPv4 frames for a client/server pair, to drive the analyser
// through exact sequences (wrap-around, lost segments, dup ACKs...).
#pragma once

#include <cstdint>
#include <vector>

#include "socklab/capture/analyzer.hpp"

namespace builder {

inline constexpr std::uint16_t F = 0x01, S = 0x02, R = 0x04, P = 0x08, A = 0x10;

struct Segment {
  bool from_client = true;
  std::uint32_t seq = 0, ack = 0;
  std::uint16_t flags = A;
  std::uint16_t win = 512;
  std::uint32_t len = 0;
  int wscale = -1;  // a window-scale option when >= 0
};

inline void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}

struct Pair {
  std::uint8_t client_ip = 1, server_ip = 2;  // 10.0.0.x
  std::uint16_t client_port = 40000, server_port = 8080;

  [[nodiscard]] std::vector<std::uint8_t> tcp(const Segment& s) const {
    std::vector<std::uint8_t> b(12, 0);
    put16(b, 0x0800);
    const std::uint32_t opt = s.wscale >= 0 ? 4 : 0;
    const std::uint32_t total = 20 + 20 + opt + s.len;
    b.insert(b.end(), {0x45, 0x00});
    put16(b, static_cast<std::uint16_t>(total));
    b.insert(b.end(), {0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00});
    const std::uint8_t src = s.from_client ? client_ip : server_ip;
    const std::uint8_t dst = s.from_client ? server_ip : client_ip;
    b.insert(b.end(), {10, 0, 0, src, 10, 0, 0, dst});
    put16(b, s.from_client ? client_port : server_port);
    put16(b, s.from_client ? server_port : client_port);
    put32(b, s.seq);
    put32(b, s.ack);
    b.push_back(static_cast<std::uint8_t>(((20 + opt) / 4) << 4));
    b.push_back(static_cast<std::uint8_t>(s.flags));
    put16(b, s.win);
    b.insert(b.end(), {0, 0, 0, 0});
    if (opt) b.insert(b.end(), {0x01, 0x03, 0x03, static_cast<std::uint8_t>(s.wscale)});
    b.insert(b.end(), s.len, 'x');
    return b;
  }

  [[nodiscard]] std::vector<std::uint8_t> udp(bool from_client, std::uint16_t id, std::uint32_t len) const {
    std::vector<std::uint8_t> b(12, 0);
    put16(b, 0x0800);
    b.insert(b.end(), {0x45, 0x00});
    put16(b, static_cast<std::uint16_t>(28 + len));
    put16(b, id);
    b.insert(b.end(), {0x40, 0x00, 0x40, 0x11, 0x00, 0x00});
    b.insert(b.end(), {10, 0, 0, from_client ? client_ip : server_ip, 10, 0, 0, from_client ? server_ip : client_ip});
    put16(b, from_client ? client_port : server_port);
    put16(b, from_client ? server_port : client_port);
    put16(b, static_cast<std::uint16_t>(8 + len));
    put16(b, 0);
    b.insert(b.end(), len, 'u');
    return b;
  }

  // The server's kernel answering a client datagram (IP id `id`) with port unreachable.
  [[nodiscard]] std::vector<std::uint8_t> port_unreachable(std::uint16_t id, std::uint32_t len) const {
    const auto d = udp(true, id, len);
    std::vector<std::uint8_t> b(12, 0);
    put16(b, 0x0800);
    b.insert(b.end(), {0x45, 0x00});
    put16(b, static_cast<std::uint16_t>(20 + 8 + (d.size() - 14)));
    b.insert(b.end(), {0x00, 0x09, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 0, 0, server_ip, 10, 0, 0, client_ip});
    b.insert(b.end(), {3, 3, 0, 0, 0, 0, 0, 0});
    b.insert(b.end(), d.begin() + 14, d.end());
    return b;
  }
};

// Feeds frames to an analyser, one millisecond apart unless told otherwise.
// The last frame is kept, as the analysed packet's spans point into it.
struct Feed {
  socklab::capture::PacketAnalyzer analyzer;
  std::int64_t now = 1'700'000'000'000'000'000;
  std::vector<std::uint8_t> last;

  explicit Feed(socklab::capture::AnalyzerOptions o = {})
      : analyzer(socklab::capture::LinkType::ethernet, o) {}

  const socklab::capture::AnalyzedPacket& operator()(const std::vector<std::uint8_t>& frame,
                                                      std::int64_t step_ns = 1'000'000) {
    now += step_ns;
    last = frame;
    return analyzer.next(now, last, static_cast<std::uint32_t>(last.size()));
  }
};

}  // namespace builder
