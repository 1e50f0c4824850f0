#include "socklab/capture/pcap_writer.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>

#include <fmt/format.h>

namespace socklab::capture {

namespace {

// LINKTYPE_ values (file format) to DLT_ values (what pcap_open_dead takes):
// they differ only where DLT_ numbers were never portable.
int to_dlt(LinkType link) {
  if (link == LinkType::raw) return DLT_RAW;
  return static_cast<int>(link);
}

net::Error file_error(int err, const std::filesystem::path& path, std::string_view what) {
  return net::system_error(err, fmt::format("{} pcap file {}", what, path.string()));
}

// A name beside the target that no other writer uses: O_EXCL then guarantees
// we never write into someone else's file.
std::filesystem::path temporary_name(const std::filesystem::path& path, int attempt) {
  static std::atomic<unsigned> counter{0};
  auto name = fmt::format(".{}.{}-{}-{}.part", path.filename().string(), ::getpid(),
                          counter.fetch_add(1), attempt);
  return path.parent_path() / name;
}

}  // namespace

struct PcapWriter::Impl {
  std::filesystem::path path;
  std::filesystem::path temp;
  pcap_t* dead = nullptr;
  pcap_dumper_t* dumper = nullptr;
  std::uint32_t snaplen = 0;
  std::uint64_t written = 0;

  ~Impl() {
    if (dumper != nullptr) {
      pcap_dump_close(dumper);
      std::error_code ignored;
      std::filesystem::remove(temp, ignored);
    }
    if (dead != nullptr) pcap_close(dead);
  }
};

PcapWriter::PcapWriter(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
PcapWriter::PcapWriter(PcapWriter&&) noexcept = default;
PcapWriter& PcapWriter::operator=(PcapWriter&&) noexcept = default;
PcapWriter::~PcapWriter() = default;

net::Result<PcapWriter> PcapWriter::create(std::filesystem::path path, LinkType link,
                                           std::uint32_t snaplen) {
  if (path.empty()) return std::unexpected(file_error(EINVAL, path, "create"));
  if (snaplen == 0) snaplen = default_snaplen;
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->snaplen = snaplen;
  impl->dead = pcap_open_dead_with_tstamp_precision(to_dlt(link), static_cast<int>(snaplen),
                                                    PCAP_TSTAMP_PRECISION_NANO);
  if (impl->dead == nullptr) return std::unexpected(file_error(ENOMEM, path, "create"));

  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    impl->temp = temporary_name(path, attempt);
    fd = ::open(impl->temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) return std::unexpected(file_error(errno, path, "create"));
  }
  if (fd < 0) return std::unexpected(file_error(EEXIST, path, "create"));
  FILE* file = ::fdopen(fd, "wb");
  if (file == nullptr) {
    const int err = errno;
    ::close(fd);
    ::unlink(impl->temp.c_str());
    return std::unexpected(file_error(err, path, "create"));
  }
  // A large stdio buffer: one write() per thousands of small packets.
  std::setvbuf(file, nullptr, _IOFBF, 1 << 20);
  impl->dumper = pcap_dump_fopen(impl->dead, file);
  if (impl->dumper == nullptr) {
    auto e = net::Error{std::make_error_code(std::errc::invalid_argument),
                        fmt::format("create pcap file {}", path.string()), pcap_geterr(impl->dead)};
    std::fclose(file);
    ::unlink(impl->temp.c_str());
    return std::unexpected(std::move(e));
  }
  return PcapWriter(std::move(impl));
}

net::Result<void> PcapWriter::write(std::int64_t ts_ns, std::span<const std::uint8_t> bytes,
                                    std::uint32_t wire_len) {
  if (!impl_ || impl_->dumper == nullptr)
    return std::unexpected(file_error(EBADF, impl_ ? impl_->path : std::filesystem::path{}, "write"));
  constexpr std::int64_t ns_per_s = 1'000'000'000;
  pcap_pkthdr hdr{};
  // Floor division, so a time before 1970 still gives 0 <= ns < 1e9.
  std::int64_t sec = ts_ns / ns_per_s;
  std::int64_t ns = ts_ns % ns_per_s;
  if (ns < 0) {
    ns += ns_per_s;
    --sec;
  }
  hdr.ts.tv_sec = static_cast<time_t>(sec);
  hdr.ts.tv_usec = static_cast<suseconds_t>(ns);  // nanoseconds: the dead handle is NANO
  const auto caplen = static_cast<std::uint32_t>(
      std::min<std::size_t>(bytes.size(), impl_->snaplen));
  hdr.caplen = caplen;
  hdr.len = std::max(wire_len, static_cast<std::uint32_t>(bytes.size()));
  pcap_dump(reinterpret_cast<u_char*>(impl_->dumper), &hdr, bytes.data());
  if (std::ferror(pcap_dump_file(impl_->dumper)) != 0)
    return std::unexpected(file_error(errno != 0 ? errno : EIO, impl_->path, "write"));
  ++impl_->written;
  return {};
}

net::Result<void> PcapWriter::commit() {
  if (!impl_ || impl_->dumper == nullptr)
    return std::unexpected(file_error(EBADF, impl_ ? impl_->path : std::filesystem::path{}, "commit"));
  errno = 0;
  const bool flushed = pcap_dump_flush(impl_->dumper) == 0 &&
                       std::ferror(pcap_dump_file(impl_->dumper)) == 0;
  const int err = errno != 0 ? errno : EIO;
  pcap_dump_close(impl_->dumper);
  impl_->dumper = nullptr;
  if (!flushed) {
    ::unlink(impl_->temp.c_str());
    return std::unexpected(file_error(err, impl_->path, "write"));
  }
  if (std::rename(impl_->temp.c_str(), impl_->path.c_str()) != 0) {
    const int rename_err = errno;
    ::unlink(impl_->temp.c_str());
    return std::unexpected(file_error(rename_err, impl_->path, "rename into place"));
  }
  return {};
}

std::uint64_t PcapWriter::packets_written() const noexcept { return impl_ ? impl_->written : 0; }

const std::filesystem::path& PcapWriter::path() const noexcept {
  static const std::filesystem::path none;
  return impl_ ? impl_->path : none;
}

}  // namespace socklab::capture
