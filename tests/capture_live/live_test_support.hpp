// Helpers for the capture tests: a scratch directory, running tcpdump/tshark
// and the record tool (through tests/support/process.hpp), and a minimal
// reader of the loopback frames the tests themselves make.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "process.hpp"

namespace socklab::test {

// A fresh directory under the system temp dir, removed with its content.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "socklab-live-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Every file name in the directory (to prove no temporary file is left).
  [[nodiscard]] std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_)) names.push_back(e.path().filename());
    return names;
  }

 private:
  std::filesystem::path path_;
};

// What a command printed and how it ended (tests/support/process.hpp).
using CommandResult = RunResult;

// Runs a shell command to its end and collects its stdout (and stderr, in err).
inline CommandResult run_command(const std::string& command) { return run({"/bin/sh", "-c", command}); }

// A program run in the background, so a test can wait for what it says on
// stderr ("recording on lo...") instead of for a guessed time.
class Child {
 public:
  // `sigint_ignored`: start it as a shell starts a background job, with SIGINT ignored.
  explicit Child(std::vector<std::string> argv, bool sigint_ignored = false)
      : process_(std::move(argv), {.sigint_ignored = sigint_ignored}) {}

  // Waits until `text` shows up on stderr (true), or stderr ends or time runs out (false).
  bool wait_for_output(std::string_view text, std::chrono::milliseconds timeout) {
    return process_.wait_until([&](const ProcessOutput& o) { return o.err.find(text) != std::string::npos; },
                               timeout);
  }
  void signal(int sig) { process_.signal(sig); }
  // Waits for the exit (reading the rest of stderr) and returns the exit code;
  // a program still running after `limit` is killed and gives -1.
  int wait(std::chrono::milliseconds limit = std::chrono::seconds(20)) { return process_.finish(limit).exit_code; }
  [[nodiscard]] std::string err() const { return process_.err(); }

 private:
  Process process_;
};

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

// What the tests need to know of an Ethernet/IPv4-or-IPv6/TCP-UDP-ICMP frame,
// as the loopback interface delivers it. Not the project's decoder: the tests
// check the capture, not the decoding.
struct Frame {
  int ip_version = 0;
  int proto = 0;  // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6
  std::uint16_t sport = 0, dport = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t tcp_flags = 0;
  std::uint8_t icmp_type = 0, icmp_code = 0;
  std::uint16_t quoted_dport = 0;  // ICMP errors: the destination port of the quoted datagram
  std::string payload;

  static constexpr std::uint8_t fin = 0x01, syn = 0x02, rst = 0x04, psh = 0x08, ackf = 0x10;
  [[nodiscard]] bool tcp_only(std::uint8_t flags) const { return proto == 6 && (tcp_flags & 0x1f) == flags; }
};

inline std::uint16_t be16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]);
}
inline std::uint32_t be32(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) << 24 | static_cast<std::uint32_t>(b[at + 1]) << 16 |
         static_cast<std::uint32_t>(b[at + 2]) << 8 | b[at + 3];
}

inline std::optional<Frame> parse_frame(std::span<const std::uint8_t> b) {
  if (b.size() < 14 + 20) return std::nullopt;
  Frame f;
  const std::uint16_t ethertype = be16(b, 12);
  std::size_t l4 = 0, l4_end = b.size();
  if (ethertype == 0x0800) {
    f.ip_version = 4;
    const std::size_t ihl = (b[14] & 0x0f) * 4u;
    f.proto = b[14 + 9];
    l4 = 14 + ihl;
    l4_end = std::min<std::size_t>(b.size(), 14 + be16(b, 16));
  } else if (ethertype == 0x86dd) {
    if (b.size() < 14 + 40) return std::nullopt;
    f.ip_version = 6;
    f.proto = b[14 + 6];
    l4 = 14 + 40;
    l4_end = std::min<std::size_t>(b.size(), l4 + be16(b, 18));
  } else {
    return std::nullopt;
  }
  if (f.proto == 6 && l4 + 20 <= l4_end) {
    f.sport = be16(b, l4);
    f.dport = be16(b, l4 + 2);
    f.seq = be32(b, l4 + 4);
    f.ack = be32(b, l4 + 8);
    const std::size_t off = (b[l4 + 12] >> 4) * 4u;
    f.tcp_flags = b[l4 + 13];
    if (l4 + off <= l4_end) f.payload.assign(b.begin() + static_cast<long>(l4 + off), b.begin() + static_cast<long>(l4_end));
  } else if (f.proto == 17 && l4 + 8 <= l4_end) {
    f.sport = be16(b, l4);
    f.dport = be16(b, l4 + 2);
    f.payload.assign(b.begin() + static_cast<long>(l4 + 8), b.begin() + static_cast<long>(l4_end));
  } else if ((f.proto == 1 || f.proto == 58) && l4 + 8 <= l4_end) {
    f.icmp_type = b[l4];
    f.icmp_code = b[l4 + 1];
    // The quoted datagram: its IP header, then the UDP/TCP ports.
    const std::size_t quoted = l4 + 8;
    const std::size_t quoted_hdr = f.proto == 1 && quoted < l4_end ? (b[quoted] & 0x0f) * 4u : 40u;
    if (quoted + quoted_hdr + 4 <= l4_end) f.quoted_dport = be16(b, quoted + quoted_hdr + 2);
  }
  return f;
}

}  // namespace socklab::test
