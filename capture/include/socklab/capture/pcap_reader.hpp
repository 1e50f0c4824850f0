// PcapReader: packets from a pcap or pcapng file, through libpcap, with
// nanosecond timestamps. Errors are whole sentences that name the file.
//
//   auto reader = PcapReader::open("handshake.pcap");
//   if (!reader) { fmt::print(stderr, "{}\n", reader.error()); return 1; }
//   while (auto p = reader->next()) { ... p->bytes ... }
//   if (reader->damaged()) { ...  reader->damage() says where and what ... }
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>

#include "socklab/capture/raw_packet.hpp"

namespace socklab::capture {

class PcapReader {
 public:
  // A packet as libpcap holds it: the bytes are valid until the next call to next().
  struct Packet {
    std::int64_t ts_ns = 0;
    std::uint32_t wire_len = 0;
    std::span<const std::uint8_t> bytes;
  };

  // Opens a pcap/pcapng file, or standard input for "-" (as tcpdump -r -; a
  // pipe works). The error names the file ("standard input" for "-") and what
  // is wrong: missing, unreadable, a directory, empty, not a capture, cut
  // inside its header, or a link type socklab does not decode.
  static std::expected<PcapReader, std::string> open(const std::string& path);

  ~PcapReader();
  PcapReader(PcapReader&& other) noexcept;
  PcapReader& operator=(PcapReader&& other) noexcept;
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  // The next packet, or nullopt at the end of the file or at damage.
  std::optional<Packet> next();

  // True once reading stopped at damage (e.g. a file truncated in the middle).
  [[nodiscard]] bool damaged() const noexcept { return !damage_.empty(); }
  // "capture.pcap: damaged after packet 7: truncated dump file; ..."
  [[nodiscard]] const std::string& damage() const noexcept { return damage_; }

  [[nodiscard]] LinkType link() const noexcept { return link_; }
  [[nodiscard]] int datalink() const noexcept { return dlt_; }
  [[nodiscard]] std::uint32_t snaplen() const noexcept { return snaplen_; }
  [[nodiscard]] std::uint64_t packets_read() const noexcept { return count_; }
  // The file's path, or "standard input".
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  PcapReader() = default;
  void* handle_ = nullptr;  // pcap_t*, kept opaque so users need no libpcap header
  std::string path_;
  std::string damage_;
  LinkType link_ = LinkType::ethernet;
  int dlt_ = 0;
  std::uint32_t snaplen_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace socklab::capture
