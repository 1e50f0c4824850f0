// Reading pcap/pcapng files through libpcap, nanosecond precision.
#include "socklab/capture/pcap_reader.hpp"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "socklab/capture/packet.hpp"

namespace socklab::capture {
namespace {

pcap_t* as_pcap(void* h) { return static_cast<pcap_t*>(h); }

// libpcap prefixes fopen() errors with the path; keep only the reason.
std::string_view strip_path(std::string_view msg, std::string_view path) {
  if (msg.size() > path.size() + 2 && msg.substr(0, path.size()) == path && msg.substr(path.size(), 2) == ": ") {
    msg.remove_prefix(path.size() + 2);
  }
  return msg;
}

}  // namespace

std::expected<PcapReader, std::string> PcapReader::open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return std::unexpected(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) return std::unexpected(fmt::format("{}: is a directory, not a capture file", path));
  if (S_ISREG(st.st_mode) && st.st_size == 0) {
    return std::unexpected(fmt::format("{}: the file is empty (no pcap or pcapng header)", path));
  }
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  pcap_t* h = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err.data());
  if (h == nullptr) {
    const std::string_view why = strip_path(err.data(), path);
    if (why.find("unknown file format") != std::string_view::npos) {
      return std::unexpected(fmt::format("{}: not a capture file: libpcap reads pcap and pcapng ({})", path, why));
    }
    if (why.find("truncated") != std::string_view::npos) {
      return std::unexpected(fmt::format("{}: the file ends inside its header: {}", path, why));
    }
    return std::unexpected(fmt::format("{}: cannot open: {}", path, why));
  }
  PcapReader r;
  r.handle_ = h;
  r.path_ = path;
  r.dlt_ = pcap_datalink(h);
  r.snaplen_ = static_cast<std::uint32_t>(pcap_snapshot(h));
  if (!link_type_from_pcap(r.dlt_, r.link_)) {
    const char* name = pcap_datalink_val_to_name(r.dlt_);
    return std::unexpected(fmt::format(
        "{}: link type {} ({}) is not supported: socklab decodes Ethernet, Linux cooked capture "
        "(SLL, SLL2), raw IP and BSD loopback (NULL, LOOP)",
        path, r.dlt_, name != nullptr ? name : "unknown"));
  }
  return r;
}

PcapReader::~PcapReader() {
  if (handle_ != nullptr) pcap_close(as_pcap(handle_));
}

PcapReader::PcapReader(PcapReader&& o) noexcept
    : handle_(std::exchange(o.handle_, nullptr)),
      path_(std::move(o.path_)),
      damage_(std::move(o.damage_)),
      link_(o.link_),
      dlt_(o.dlt_),
      snaplen_(o.snaplen_),
      count_(o.count_) {}

PcapReader& PcapReader::operator=(PcapReader&& o) noexcept {
  if (this != &o) {
    if (handle_ != nullptr) pcap_close(as_pcap(handle_));
    handle_ = std::exchange(o.handle_, nullptr);
    path_ = std::move(o.path_);
    damage_ = std::move(o.damage_);
    link_ = o.link_;
    dlt_ = o.dlt_;
    snaplen_ = o.snaplen_;
    count_ = o.count_;
  }
  return *this;
}

std::optional<PcapReader::Packet> PcapReader::next() {
  if (handle_ == nullptr || !damage_.empty()) return std::nullopt;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(as_pcap(handle_), &hdr, &data);
  if (rc == 1) {
    ++count_;
    Packet p;
    // With nanosecond precision libpcap puts nanoseconds in tv_usec.
    p.ts_ns = static_cast<std::int64_t>(hdr->ts.tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(hdr->ts.tv_usec);
    p.wire_len = hdr->len;
    p.bytes = {data, hdr->caplen};
    return p;
  }
  if (rc == PCAP_ERROR) {
    damage_ = fmt::format("{}: damaged after packet {}: {}", path_, count_, pcap_geterr(as_pcap(handle_)));
  }
  return std::nullopt;  // PCAP_ERROR_BREAK (-2): the end of the file
}

}  // namespace socklab::capture
