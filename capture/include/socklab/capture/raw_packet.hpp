// A captured packet as libpcap hands it over, owned: the meeting point of the
// live recorder, the pcap file reader and the decoder.
#pragma once

#include <cstdint>
#include <vector>

namespace socklab::capture {

// Link-layer header types (the LINKTYPE_/DLT_ values libpcap reports).
enum class LinkType : int {
  null = 0,           // BSD loopback: 4-byte address family in host byte order
  ethernet = 1,       // DLT_EN10MB
  raw = 101,          // LINKTYPE_RAW (DLT_RAW is 12 or 14 on some systems; both map here)
  loop = 108,         // OpenBSD loopback: family in network byte order
  linux_sll = 113,    // Linux cooked capture v1 (`-i any` before libpcap 1.10)
  linux_sll2 = 276,   // Linux cooked capture v2
  ipv4 = 228,
  ipv6 = 229,
};

struct RawPacket {
  std::int64_t ts_ns = 0;         // CLOCK_REALTIME nanoseconds, as in the pcap record
  std::uint32_t wire_len = 0;     // length on the wire (may exceed bytes.size() when cut by snaplen)
  std::vector<std::uint8_t> bytes;
};

}  // namespace socklab::capture
