// socklab-fuzz-seeds OUTDIR FILE...: writes the starting corpus of every fuzz
// target from real data, at build or run time (nothing is committed):
//   capture files (.pcap, .pcapng)  packets for the packet target, under their own
//                                   link type and re-wrapped in every other one
//   text files (.md, .txt)          lines, used as messages for the framing targets
// OUTDIR/<target>/ gets one file per seed (the layouts are in fuzz_input.hpp).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "framing_oracle.hpp"
#include "fuzz_input.hpp"
#include "packet_oracle.hpp"
#include "socklab/capture/packet.hpp"
#include "socklab/capture/pcap_reader.hpp"

namespace {

namespace fs = std::filesystem;
namespace net = socklab::net;
namespace cap = socklab::capture;
using socklab::fuzz::append_packet_frame;
using socklab::fuzz::link_type_byte;
using socklab::fuzz::make_framing_input;

// Small seeds keep each fuzz iteration fast (a byte-at-a-time run over 4 KiB is 4096 decodes).
constexpr std::size_t max_seed_bytes = 4 * 1024;

void write_seed(const fs::path& dir, const std::string& name, std::span<const std::uint8_t> bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
}

// ---------------------------------------------------------------- packets

constexpr std::uint16_t ethertype_arp = 0x0806;

// One packet's network layer (an IP datagram, or an ARP message) wrapped in a link-layer header of `link`.
std::vector<std::uint8_t> wrap(cap::LinkType link, std::span<const std::uint8_t> ip, std::uint16_t ethertype) {
  const std::uint8_t version = ethertype == 0x86dd ? 6 : 4;
  const bool arp = ethertype == ethertype_arp;
  std::vector<std::uint8_t> f;
  switch (link) {
    case cap::LinkType::ethernet:
      f = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // loopback's all-zero MACs
      f.push_back(static_cast<std::uint8_t>(ethertype >> 8U));
      f.push_back(static_cast<std::uint8_t>(ethertype & 0xffU));
      break;
    case cap::LinkType::linux_sll:  // packet type, ARPHRD_LOOPBACK, address length 6, address, protocol
      f = {0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0};
      f.push_back(static_cast<std::uint8_t>(ethertype >> 8U));
      f.push_back(static_cast<std::uint8_t>(ethertype & 0xffU));
      break;
    case cap::LinkType::linux_sll2:  // protocol, reserved, ifindex 1, ARPHRD_LOOPBACK, type, length, address
      f = {static_cast<std::uint8_t>(ethertype >> 8U), static_cast<std::uint8_t>(ethertype & 0xffU), 0, 0, 0, 0, 0, 1,
           0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0};
      break;
    case cap::LinkType::null:  // the address family in host order (little-endian here): AF_INET 2, AF_INET6 24
      f = {version == 6 ? std::uint8_t{24} : std::uint8_t{2}, 0, 0, 0};
      if (arp) f = {0x06, 0x08, 0, 0};  // above 1500: read as an EtherType, as Wireshark does
      break;
    case cap::LinkType::loop:  // the same in network order
      f = {0, 0, 0, version == 6 ? std::uint8_t{24} : std::uint8_t{2}};
      if (arp) f = {0, 0, 0x08, 0x06};
      break;
    case cap::LinkType::raw:
    case cap::LinkType::ipv4:
    case cap::LinkType::ipv6:
      break;
  }
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

// b*b*10 ms is the step the packet layout can carry: the nearest b for a real gap.
std::uint8_t time_step(std::int64_t gap_ns) {
  std::uint32_t b = 0;
  while (b < 255 && std::int64_t{b} * b * 10'000'000 < gap_ns) ++b;
  return static_cast<std::uint8_t>(b);
}

void packet_seeds(const fs::path& capture, const fs::path& out) {
  auto reader = cap::PcapReader::open(capture.string());
  if (!reader) throw std::runtime_error(reader.error());
  const cap::LinkType own = reader->link();
  std::vector<std::uint8_t> as_captured{link_type_byte(own)};
  // The same packets re-wrapped in each link type, so every decoder path starts from real traffic.
  std::vector<std::vector<std::uint8_t>> rewrapped;
  for (const auto link : socklab::fuzz::link_types()) rewrapped.push_back({link_type_byte(link)});
  std::int64_t last_ts = 0;
  while (auto p = reader->next()) {
    const std::uint8_t step = last_ts == 0 ? 0 : time_step(p->ts_ns - last_ts);
    last_ts = p->ts_ns;
    if (as_captured.size() + p->bytes.size() <= max_seed_bytes)
      append_packet_frame(as_captured, p->bytes, p->wire_len, step);
    const auto d = cap::decode(own, p->bytes, p->wire_len);
    const bool arp = d.arp.present;
    if (d.reached < cap::Layer::network && !arp) continue;
    const std::uint16_t ethertype = arp ? ethertype_arp : d.ip.version == 6 ? 0x86dd : 0x0800;
    const auto links = socklab::fuzz::link_types();
    for (std::size_t i = 0; i < links.size(); ++i) {
      if ((links[i] == cap::LinkType::ipv4 && (arp || d.ip.version != 4)) ||
          (links[i] == cap::LinkType::ipv6 && (arp || d.ip.version != 6)) || (links[i] == cap::LinkType::raw && arp))
        continue;  // raw IP links carry no ARP
      const auto frame = wrap(links[i], d.network, ethertype);
      const auto cut = static_cast<std::uint32_t>(p->wire_len - p->bytes.size());
      if (rewrapped[i].size() + frame.size() <= max_seed_bytes)
        append_packet_frame(rewrapped[i], frame, static_cast<std::uint32_t>(frame.size()) + cut, step);
    }
  }
  const std::string stem = capture.filename().string();
  write_seed(out / "packets", stem, as_captured);
  const auto links = socklab::fuzz::link_types();
  for (std::size_t i = 0; i < links.size(); ++i) {
    if (rewrapped[i].size() > 1) write_seed(out / "packets", stem + "." + std::to_string(i), rewrapped[i]);
  }
}

// ---------------------------------------------------------------- framing

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// Three ways the stream reaches the decoder: whole, a byte at a time, and uneven cuts.
const std::vector<std::vector<std::uint8_t>> chunkings{{255}, {}, {0, 6, 199, 2}};

void framing_seed(const fs::path& dir, const std::string& name, std::uint8_t settings,
                  std::span<const std::byte> stream) {
  for (std::size_t c = 0; c < chunkings.size(); ++c) {
    const auto input = make_framing_input(settings, chunkings[c], stream.first(std::min(stream.size(), max_seed_bytes)));
    write_seed(dir, name + "." + std::to_string(settings) + "." + std::to_string(c), input);
  }
}

void framing_seeds(const std::vector<std::string>& lines, const fs::path& out) {
  // Length prefix: every prefix shape, the default maximum; then absurd prefixes.
  for (std::uint8_t shape = 0; shape < 8; ++shape) {
    const auto codec = socklab::fuzz::length_prefix_codec(shape);
    std::vector<std::byte> stream;
    for (const auto& line : lines) (void)codec.encode(line, stream);
    framing_seed(out / "length_prefix", "lines", shape, stream);
  }
  const std::vector<std::vector<std::uint8_t>> absurd{
      {0x80, 0x00, 0x00, 0x00, 'x'},  // '!I' 2 GiB
      {0xff, 0xff, 0xff, 0xff},       // '<i' -1
      {0x00, 0x00, 0x00},             // a prefix that never completes
  };
  for (std::size_t i = 0; i < absurd.size(); ++i) {
    const auto stream = std::as_bytes(std::span(absurd[i]));
    framing_seed(out / "length_prefix", "absurd" + std::to_string(i), static_cast<std::uint8_t>(i == 1 ? 2 : 0),
                 stream);
  }

  // Delimiter: each delimiter with lines that do not hold it.
  for (std::uint8_t which = 0; which < 8; ++which) {
    const auto codec = socklab::fuzz::delimiter_codec(which);
    std::vector<std::byte> stream;
    for (const auto& line : lines) (void)codec.encode(line, stream);  // lines holding the delimiter are skipped
    framing_seed(out / "delimiter", "lines", which, stream);
  }

  // Fixed length: the lines padded to each size (longer ones are skipped).
  for (std::uint8_t which = 0; which < 16; ++which) {
    const auto codec = socklab::fuzz::fixed_length_codec(which);
    std::vector<std::byte> stream;
    for (const auto& line : lines) (void)codec.encode(line, stream);
    framing_seed(out / "fixed_length", "lines", which, stream);
  }

  // Header + body: the classic file transfer, the body being the text itself.
  for (const std::uint8_t settings : {std::uint8_t{0}, std::uint8_t{2}, std::uint8_t{0x82}}) {
    const auto codec = socklab::fuzz::header_body_codec(settings);
    std::vector<std::byte> stream;
    std::string body;
    for (std::size_t i = 0; i < lines.size() && i < 40; ++i) {
      body += lines[i];
      body += '\n';
      if (i % 10 == 9) {
        nlohmann::json header{{"file_name", "lesson-" + std::to_string(i / 10) + ".md"}};
        (void)codec.encode(std::move(header), bytes_of(body), stream);
        body.clear();
      }
    }
    (void)codec.encode(nlohmann::json{{"file_name", "empty.txt"}}, {}, stream);
    framing_seed(out / "header_body", "files", settings, stream);
  }
}

std::vector<std::string> lines_of(const fs::path& text) {
  std::ifstream in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUTDIR FILE...  (capture files and text files)\n", argv[0]);
    return 2;
  }
  try {
    const fs::path out = argv[1];
    std::vector<std::string> lines;
    std::size_t captures = 0;
    for (int i = 2; i < argc; ++i) {
      const fs::path file = argv[i];
      const auto ext = file.extension().string();
      if (ext == ".pcap" || ext == ".pcapng") {
        packet_seeds(file, out);
        ++captures;
      } else {
        const auto more = lines_of(file);
        lines.insert(lines.end(), more.begin(), more.end());
      }
    }
    if (lines.empty()) lines = {"hello", "who is there?", "bye"};
    framing_seeds(lines, out);
    std::printf("seeds: %zu capture files, %zu text lines -> %s\n", captures, lines.size(), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "socklab-fuzz-seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
