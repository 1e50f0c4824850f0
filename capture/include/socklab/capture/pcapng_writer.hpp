// PcapngWriter: a pcapng file (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html)
// in which each packet can carry a comment, that Wireshark and tshark show
// (frame.comment) beside it. libpcap cannot write pcapng; this writer does.
//
//   auto w = PcapngWriter::create("run.pcapng", {.comment = "demo-handshake: Lesson 1"});
//   auto lo = w->add_interface({.name = "lo", .link = LinkType::ethernet});
//   w->write(*lo, ts_ns, bytes, wire_len, "handshake 1/3; client: connect 127.0.0.1:8080");
//   w->commit();
//
// One section (SHB, section length -1: not known in advance), one interface
// description block per interface (if_name, if_tsresol = 9: nanoseconds, the
// link type and snaplen), one enhanced packet block per packet that names its
// interface, so frames captured on several interfaces (in several network
// namespaces) share one file. Blocks are in this machine's byte order (the
// byte-order magic tells readers which). The file follows the rules of
// capture_file.hpp (temporary file, rename, regular files only, symlinks followed;
// a write error keeps the packets written before it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/capture/raw_packet.hpp"
#include "socklab/net/error.hpp"

namespace socklab::capture {

struct PcapngSection {
  std::string comment{};    // opt_comment: e.g. the program and the lesson
  std::string application{};  // shb_userappl: the program that wrote the file
};

struct PcapngInterface {
  std::string name{};       // if_name: "lo", "veth0"
  LinkType link = LinkType::ethernet;
  std::uint32_t snaplen = 262144;
  std::string description{};  // if_description (optional): e.g. the namespace it was in
};

// The blocks as bytes (for the writer and its byte-level tests).
namespace pcapng {
inline constexpr std::uint32_t section_header_type = 0x0A0D0D0A;
inline constexpr std::uint32_t interface_description_type = 0x00000001;
inline constexpr std::uint32_t enhanced_packet_type = 0x00000006;
inline constexpr std::uint32_t byte_order_magic = 0x1A2B3C4D;
// An option's value is at most 65535 bytes: a longer comment is cut at a UTF-8
// character boundary, ending in "…".
inline constexpr std::size_t max_option_bytes = 65535;

std::vector<std::uint8_t> section_header_block(const PcapngSection& section);
std::vector<std::uint8_t> interface_description_block(const PcapngInterface& interface);
std::vector<std::uint8_t> enhanced_packet_block(std::uint32_t interface, std::int64_t ts_ns,
                                                std::span<const std::uint8_t> bytes, std::uint32_t wire_len,
                                                std::string_view comment);
}  // namespace pcapng

class PcapngWriter {
 public:
  // Checks the target (output_file_target), opens a temporary file beside it
  // and writes the section header.
  static net::Result<PcapngWriter> create(std::filesystem::path path, const PcapngSection& section);

  PcapngWriter(PcapngWriter&&) noexcept;
  PcapngWriter& operator=(PcapngWriter&&) noexcept;
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;
  ~PcapngWriter();

  // Writes an interface description block; returns the interface's index (0, 1...).
  net::Result<std::uint32_t> add_interface(const PcapngInterface& interface);

  // Appends one packet seen on `interface` (an index add_interface() returned);
  // bytes beyond that interface's snaplen are cut. `comment` (UTF-8) becomes the
  // packet's opt_comment; empty: none.
  net::Result<void> write(std::uint32_t interface, std::int64_t ts_ns, std::span<const std::uint8_t> bytes,
                          std::uint32_t wire_len, std::string_view comment = {});

  // Flushes, closes and renames the file into place. After commit() the writer is empty.
  net::Result<void> commit();

  [[nodiscard]] std::uint64_t packets_written() const noexcept;
  [[nodiscard]] const std::filesystem::path& path() const noexcept;

 private:
  struct Impl;
  explicit PcapngWriter(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace socklab::capture
