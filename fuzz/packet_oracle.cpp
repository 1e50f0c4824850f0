#include "packet_oracle.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_input.hpp"
#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/packet.hpp"
#include "socklab/capture/record.hpp"

namespace socklab::fuzz {

namespace {

using capture::LinkType;

constexpr std::array<LinkType, 8> all_link_types{LinkType::ethernet,  LinkType::linux_sll, LinkType::linux_sll2,
                                                 LinkType::null,      LinkType::loop,      LinkType::raw,
                                                 LinkType::ipv4,      LinkType::ipv6};

bool inside(std::span<const std::uint8_t> part, std::span<const std::uint8_t> whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_address(const capture::IpAddress& a) {
  std::array<char, 64> text{};
  const std::size_t n = capture::format_address(a, text.data());
  SOCKLAB_FUZZ_CHECK(n <= 46);
}

// decode() alone: everything it hands out lies inside the frame and adds up.
void check_decoded(const capture::DecodedPacket& d, std::span<const std::uint8_t> frame, std::uint32_t wire_len) {
  using capture::Layer;
  SOCKLAB_FUZZ_CHECK(d.cap_len == frame.size());
  SOCKLAB_FUZZ_CHECK(d.wire_len == std::max(wire_len, d.cap_len));
  SOCKLAB_FUZZ_CHECK(inside(d.network, frame));
  SOCKLAB_FUZZ_CHECK(inside(d.tcp.options, frame));
  SOCKLAB_FUZZ_CHECK(inside(d.payload, frame));
  SOCKLAB_FUZZ_CHECK(d.malformed == !d.malformed_reason().empty());
  if (d.reached >= Layer::network) {
    SOCKLAB_FUZZ_CHECK(d.ip.version == 4 || d.ip.version == 6);
    check_address(d.ip.src);
    check_address(d.ip.dst);
  }
  if (d.reached == Layer::transport) {
    SOCKLAB_FUZZ_CHECK(d.payload.size() <= d.payload_len);
    if (d.proto == capture::Proto::tcp) SOCKLAB_FUZZ_CHECK(d.tcp.options.size() <= 40);
  }
  if (d.icmp.has_quote) {
    check_address(d.icmp.quoted_src);
    check_address(d.icmp.quoted_dst);
  }
  // ARP: read only where its header was captured, and only for an ARP EtherType.
  if (d.arp.present) {
    SOCKLAB_FUZZ_CHECK(d.link.protocol == 0x0806);
    SOCKLAB_FUZZ_CHECK(d.network.size() >= 8);
    SOCKLAB_FUZZ_CHECK(d.arp.length == 8u + 2u * (d.arp.hardware_len + d.arp.protocol_len));
    SOCKLAB_FUZZ_CHECK(d.reached == Layer::link);
  }
  if (d.arp.ethernet_ipv4) {
    SOCKLAB_FUZZ_CHECK(d.arp.present && d.arp.hardware_len == 6 && d.arp.protocol_len == 4);
    SOCKLAB_FUZZ_CHECK(d.network.size() >= d.arp.length);
    check_address(d.arp.sender_ip);
    check_address(d.arp.target_ip);
  }
}

// The analyzer's packet through every renderer `socklab-capture read` has.
void check_rendered(const capture::AnalyzedPacket& p) {
  capture::TextBuffer text;
  capture::append_tcpdump_line(text, p);
  text.clear();
  capture::append_notes(text, p);
  text.clear();
  capture::append_layers(text, p);
  text.clear();
  capture::append_preview(text, p, 64);
  SOCKLAB_FUZZ_CHECK(text.size() <= 64);
  text.clear();
  capture::append_json(text, p);
  const std::string_view line(text.data(), text.size());
  SOCKLAB_FUZZ_CHECK(line.find('\n') == std::string_view::npos);
  const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  SOCKLAB_FUZZ_CHECK(parsed.is_object());
  // format.hpp promises the fast path writes what the PacketRecord path writes.
  SOCKLAB_FUZZ_CHECK(capture::to_json(capture::make_record(p)).dump() == line);
}

}  // namespace

std::span<const LinkType> link_types() { return all_link_types; }

std::uint8_t link_type_byte(LinkType link) {
  const auto at = std::ranges::find(all_link_types, link);
  SOCKLAB_FUZZ_CHECK(at != all_link_types.end());
  return static_cast<std::uint8_t>(at - all_link_types.begin());
}

void check_packets(std::span<const std::uint8_t> data) {
  if (data.empty()) return;
  const LinkType link = all_link_types[data[0] % all_link_types.size()];
  capture::PacketAnalyzer analyzer(link);
  std::size_t pos = 1;
  std::int64_t ts_ns = 1'700'000'000'000'000'000;
  while (data.size() - pos >= packet_frame_header) {
    const std::size_t announced = (std::size_t{data[pos]} << 8U) | data[pos + 1];
    const std::uint32_t cut = data[pos + 2];
    const std::int64_t step = data[pos + 3];
    pos += packet_frame_header;
    const auto frame = data.subspan(pos, std::min(announced, data.size() - pos));
    pos += frame.size();
    ts_ns += step * step * 10'000'000;
    const auto wire_len = static_cast<std::uint32_t>(frame.size()) + cut;

    check_decoded(capture::decode(link, frame, wire_len, ts_ns), frame, wire_len);
    const auto& analyzed = analyzer.next(ts_ns, frame, wire_len);
    check_decoded(analyzed.pkt, frame, wire_len);
    check_rendered(analyzed);
  }
}

}  // namespace socklab::fuzz
