// PcapWriter: a classic pcap file with nanosecond timestamps (magic 0xa1b23c4d,
// this machine's byte order, as libpcap writes it), that tcpdump, tshark and
// Wireshark open.
//
// The file follows the rules of capture_file.hpp: it appears whole or not at
// all (a temporary file beside the target, renamed into place by commit()),
// only a regular file is replaced, a symlink is followed. A writer destroyed
// without commit() removes the temporary file. A write error (disk full) cuts
// the file back to its last whole packet; commit() then still puts that valid,
// shorter file in place and its error says how many packets it kept.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "socklab/capture/raw_packet.hpp"
#include "socklab/net/error.hpp"

namespace socklab::capture {

class PcapWriter {
 public:
  // tcpdump's default: large enough for any packet on any interface.
  static constexpr std::uint32_t default_snaplen = 262144;

  // Checks the target (output_file_target) and opens a temporary file beside
  // it (the link type is the one of the packets to come, e.g. LiveCapture::link_type()).
  static net::Result<PcapWriter> create(std::filesystem::path path, LinkType link,
                                        std::uint32_t snaplen = default_snaplen);

  PcapWriter(PcapWriter&&) noexcept;
  PcapWriter& operator=(PcapWriter&&) noexcept;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  ~PcapWriter();

  // Appends one packet; bytes beyond the snaplen are cut (wire_len keeps the
  // original length, as in any pcap record).
  net::Result<void> write(std::int64_t ts_ns, std::span<const std::uint8_t> bytes,
                          std::uint32_t wire_len);
  net::Result<void> write(const RawPacket& p) { return write(p.ts_ns, p.bytes, p.wire_len); }

  // Flushes, closes and renames the file into place. After commit() the writer is empty.
  net::Result<void> commit();

  [[nodiscard]] std::uint64_t packets_written() const noexcept;
  [[nodiscard]] const std::filesystem::path& path() const noexcept;

 private:
  struct Impl;
  explicit PcapWriter(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace socklab::capture
