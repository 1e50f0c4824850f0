// The latest first fragments seen, so that a later fragment (which carries no
// transport header) finds the datagram it belongs to. Internal to capture/.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "socklab/capture/packet.hpp"

namespace socklab::capture::detail {

class FirstFragments {
 public:
  // What the owner wants to know about a datagram's first fragment.
  struct Datagram {
    std::uint64_t frame = 0;
    bool has_stream = false;
    std::uint32_t stream = 0;
  };

  void remember(const IpHeader& ip, std::int64_t ts_ns, Datagram what) noexcept {
    ring_[next_] = Entry{ip.src, ip.dst, ip.fragment_id, ip.protocol, ts_ns, true, what};
    next_ = (next_ + 1) % ring_.size();
  }

  // The datagram whose first fragment `ip` (a later fragment) follows; nothing
  // when it was not seen. The last fragment completes it: it is forgotten.
  std::optional<Datagram> find(const IpHeader& ip, std::int64_t ts_ns) noexcept {
    for (std::size_t i = 1; i <= ring_.size(); ++i) {
      Entry& e = ring_[(next_ + ring_.size() - i) % ring_.size()];  // newest first
      if (!e.used || e.id != ip.fragment_id || e.protocol != ip.protocol || !(e.src == ip.src) ||
          !(e.dst == ip.dst) || ts_ns - e.ts_ns > timeout_ns) {
        continue;
      }
      if (!ip.more_fragments) e.used = false;
      return e.what;
    }
    return std::nullopt;
  }

 private:
  // Linux gives up reassembling after 30 s (IPv4) or 60 s (IPv6): older first
  // fragments are not waited for.
  static constexpr std::int64_t timeout_ns = 60'000'000'000;

  struct Entry {
    IpAddress src, dst;
    std::uint32_t id = 0;
    std::uint8_t protocol = 0;
    std::int64_t ts_ns = 0;
    bool used = false;
    Datagram what;
  };
  // A fixed ring: memory stays the same however many datagrams are in flight.
  std::array<Entry, 64> ring_{};
  std::size_t next_ = 0;
};

}  // namespace socklab::capture::detail
