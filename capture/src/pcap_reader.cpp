// Reading pcap/pcapng files through libpcap, nanosecond precision.
#include "socklab/capture/pcap_reader.hpp"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
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
  if (path == "-") return msg;
  if (msg.size() > path.size() + 2 && msg.substr(0, path.size()) == path && msg.substr(path.size(), 2) == ": ") {
    msg.remove_prefix(path.size() + 2);
  }
  return msg;
}

// The first bytes of a pcapng file: a Section Header Block's type.
constexpr std::array<std::uint8_t, 4> pcapng_shb_type{0x0a, 0x0d, 0x0d, 0x0a};

// Standard input, served through a FILE that first returns the bytes already
// peeked at (so the reader can say what a short input was) and then the rest.
struct StdinWithPrefix {
  std::array<std::uint8_t, 12> prefix{};
  std::size_t size = 0, pos = 0;
};

ssize_t stdin_read(void* cookie, char* buf, std::size_t n) {
  auto* s = static_cast<StdinWithPrefix*>(cookie);
  if (s->pos < s->size) {
    const std::size_t k = std::min(n, s->size - s->pos);
    std::memcpy(buf, s->prefix.data() + s->pos, k);
    s->pos += k;
    return static_cast<ssize_t>(k);
  }
  for (;;) {
    const ssize_t r = ::read(STDIN_FILENO, buf, n);
    if (r >= 0 || errno != EINTR) return r;
  }
}

int stdin_close(void* cookie) {
  delete static_cast<StdinWithPrefix*>(cookie);
  return 0;
}

// Reads up to 12 bytes (a pcap magic, or a pcapng block type, length and
// byte-order magic) from standard input; `got` says how many there were.
std::FILE* open_stdin(std::array<std::uint8_t, 12>& first, std::size_t& got) {
  auto* s = new StdinWithPrefix;
  while (s->size < s->prefix.size()) {
    const ssize_t r = ::read(STDIN_FILENO, s->prefix.data() + s->size, s->prefix.size() - s->size);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    s->size += static_cast<std::size_t>(r);
  }
  first = s->prefix;
  got = s->size;
  std::FILE* f = ::fopencookie(s, "r", cookie_io_functions_t{stdin_read, nullptr, nullptr, stdin_close});
  if (f == nullptr) {
    delete s;
    return nullptr;
  }
  std::setvbuf(f, nullptr, _IOFBF, 1 << 16);
  return f;
}

// The first bytes of a file, to tell a cut pcapng header from a file that is no capture.
std::size_t peek(const std::string& path, std::array<std::uint8_t, 12>& first) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return 0;
  const std::size_t n = std::fread(first.data(), 1, first.size(), f);
  std::fclose(f);
  return n;
}

}  // namespace

std::expected<PcapReader, std::string> PcapReader::open(const std::string& path) {
  const bool from_stdin = path == "-";
  const std::string name = from_stdin ? std::string("standard input") : path;
  std::array<std::uint8_t, 12> first{};
  std::size_t got = 0;
  std::FILE* in = nullptr;
  if (from_stdin) {
    in = open_stdin(first, got);
    if (in == nullptr) return std::unexpected(fmt::format("{}: cannot open: {}", name, std::strerror(errno)));
    if (got == 0) {
      std::fclose(in);
      return std::unexpected(fmt::format("{}: the input is empty (no pcap or pcapng header)", name));
    }
  } else {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      return std::unexpected(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    }
    if (S_ISDIR(st.st_mode)) return std::unexpected(fmt::format("{}: is a directory, not a capture file", path));
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
      return std::unexpected(fmt::format("{}: the file is empty (no pcap or pcapng header)", path));
    }
  }
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  pcap_t* h = from_stdin ? pcap_fopen_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO, err.data())
                         : pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err.data());
  if (h == nullptr) {
    if (from_stdin) std::fclose(in);
    const std::string_view why = strip_path(err.data(), path);
    if (why.find("unknown file format") != std::string_view::npos) {
      // libpcap only calls a file pcapng once it has its first 12 bytes; fewer
      // after the block type is a pcapng cut inside its header, as a short pcap is.
      if (!from_stdin) got = peek(path, first);
      if (got >= 4 && got < 12 && std::equal(pcapng_shb_type.begin(), pcapng_shb_type.end(), first.begin())) {
        return std::unexpected(fmt::format(
            "{}: the file ends inside its header: a pcapng section header block cut after {} bytes", name, got));
      }
      return std::unexpected(fmt::format("{}: not a capture file: libpcap reads pcap and pcapng ({})", name, why));
    }
    if (why.find("truncated") != std::string_view::npos) {
      return std::unexpected(fmt::format("{}: the file ends inside its header: {}", name, why));
    }
    return std::unexpected(fmt::format("{}: cannot open: {}", name, why));
  }
  PcapReader r;
  r.handle_ = h;
  r.path_ = name;
  r.dlt_ = pcap_datalink(h);
  r.snaplen_ = static_cast<std::uint32_t>(pcap_snapshot(h));
  if (!link_type_from_pcap(r.dlt_, r.link_)) {
    const char* dlt_name = pcap_datalink_val_to_name(r.dlt_);
    return std::unexpected(fmt::format(
        "{}: link type {} ({}) is not supported: socklab decodes Ethernet, Linux cooked capture "
        "(SLL, SLL2), raw IP and BSD loopback (NULL, LOOP)",
        name, r.dlt_, dlt_name != nullptr ? dlt_name : "unknown"));
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
