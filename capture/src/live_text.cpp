// The text side of live capture: the port filter and the messages. No libpcap,
// so a build without it can still show them.
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "socklab/capture/live.hpp"

namespace socklab::capture {

std::string port_filter(std::uint16_t port) {
  // ICMP errors quote the offending IP header and the first 8 bytes after it:
  // the ports sit right after the quoted header (IPv4: variable length; IPv6: 40).
  const std::string quoted4 = "icmp[8 + ((icmp[8] & 0xf) << 2)";
  // Fragments of a datagram too big for the MTU (a 65,527-byte UDP datagram over
  // ::1 is one). libpcap's "udp port" sees an IPv4 first fragment but no IPv6
  // one: there the fragment header comes first, and the ports follow it (at 48).
  // The later fragments carry no ports at all: every later fragment of TCP or
  // UDP is kept, the rest of lo's traffic is not.
  const std::string v6_first_fragment =
      "ip6 proto 44 and (ip6[40] = 17 or ip6[40] = 6) and ip6[42:2] & 0xfff8 = 0"
      " and (ip6[48:2] = {0} or ip6[50:2] = {0})";
  const std::string v6_later_fragment = "ip6 proto 44 and (ip6[40] = 17 or ip6[40] = 6) and ip6[42:2] & 0xfff8 != 0";
  const std::string v4_later_fragment = "ip and (ip proto 17 or ip proto 6) and ip[6:2] & 0x1fff != 0";
  return fmt::format(
      fmt::runtime("tcp port {0} or udp port {0}"
                   " or (icmp and ({1}:2] = {0} or {1} + 2:2] = {0}))"
                   " or (icmp6 and (icmp6[48:2] = {0} or icmp6[50:2] = {0}))"
                   " or (" + v6_first_fragment + ") or (" + v6_later_fragment + ") or (" +
                   v4_later_fragment + ")"),
      port, quoted4);
}

std::string to_string(const CaptureStats& s) {
  std::string text = fmt::format("{} packets captured, {} received by filter, {} dropped by kernel, "
                                 "{} dropped by interface",
                                 s.captured, s.received, s.dropped_by_kernel, s.dropped_by_interface);
  if (s.stray_fragments != 0) text += fmt::format(", {} stray fragments left out", s.stray_fragments);
  return text;
}

bool is_missing_privilege(const net::Error& e) noexcept {
  // Only the capture handle's EPERM: a pcap file that cannot be created is another matter.
  return e.code == std::errc::operation_not_permitted && e.context.starts_with("capture on ");
}

std::string explain_capture_error(const net::Error& e, std::filesystem::path program) {
  if (!is_missing_privilege(e)) return e.message();
  if (program.empty()) {
    std::error_code ec;
    program = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) program = "PATH-OF-THE-PROGRAM";
  }
  return fmt::format(
      "{}. Capturing packets needs the CAP_NET_RAW capability (and CAP_NET_ADMIN for some "
      "setups, such as hardware timestamps or monitor mode), which this process does not "
      "have. Either run it as root (sudo {}), or give the program the capabilities once "
      "with: sudo setcap cap_net_raw,cap_net_admin+eip {}",
      e.message(), program.string(), program.string());
}

}  // namespace socklab::capture
