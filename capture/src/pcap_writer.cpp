#include "socklab/capture/pcap_writer.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "output_file.hpp"

namespace socklab::capture {

namespace {

constexpr std::uint32_t magic_nanoseconds = 0xa1b23c4d;

// Host byte order, as libpcap writes: readers tell the order from the magic.
template <class T>
void put(std::vector<std::uint8_t>& out, T value) {
  std::array<std::uint8_t, sizeof(T)> b{};
  std::memcpy(b.data(), &value, sizeof value);
  out.insert(out.end(), b.begin(), b.end());
}

}  // namespace

struct PcapWriter::Impl {
  std::optional<detail::OutputFile> file;
  std::uint32_t snaplen = 0;
  std::vector<std::uint8_t> record;  // reused for every packet
};

PcapWriter::PcapWriter(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
PcapWriter::PcapWriter(PcapWriter&&) noexcept = default;
PcapWriter& PcapWriter::operator=(PcapWriter&&) noexcept = default;
PcapWriter::~PcapWriter() = default;

net::Result<PcapWriter> PcapWriter::create(std::filesystem::path path, LinkType link, std::uint32_t snaplen) {
  if (snaplen == 0) snaplen = default_snaplen;
  auto file = detail::OutputFile::create(path);
  if (!file) return std::unexpected(std::move(file.error()));
  auto impl = std::make_unique<Impl>();
  impl->file.emplace(std::move(*file));
  impl->snaplen = snaplen;
  std::vector<std::uint8_t> header;
  put<std::uint32_t>(header, magic_nanoseconds);
  put<std::uint16_t>(header, 2);  // version 2.4
  put<std::uint16_t>(header, 4);
  put<std::int32_t>(header, 0);   // thiszone
  put<std::uint32_t>(header, 0);  // sigfigs
  put<std::uint32_t>(header, snaplen);
  put<std::uint32_t>(header, static_cast<std::uint32_t>(link));  // LINKTYPE_ value
  if (auto w = impl->file->append(header, false); !w) return std::unexpected(std::move(w.error()));
  return PcapWriter(std::move(impl));
}

net::Result<void> PcapWriter::write(std::int64_t ts_ns, std::span<const std::uint8_t> bytes, std::uint32_t wire_len) {
  if (!impl_ || !impl_->file)
    return std::unexpected(net::system_error(EBADF, "write pcap file: already committed"));
  constexpr std::int64_t ns_per_s = 1'000'000'000;
  // Floor division, so a time before 1970 still gives 0 <= ns < 1e9.
  std::int64_t sec = ts_ns / ns_per_s;
  std::int64_t ns = ts_ns % ns_per_s;
  if (ns < 0) {
    ns += ns_per_s;
    --sec;
  }
  const auto caplen = static_cast<std::uint32_t>(std::min<std::size_t>(bytes.size(), impl_->snaplen));
  auto& r = impl_->record;
  r.clear();
  put<std::uint32_t>(r, static_cast<std::uint32_t>(sec));
  put<std::uint32_t>(r, static_cast<std::uint32_t>(ns));
  put<std::uint32_t>(r, caplen);
  put<std::uint32_t>(r, std::max(wire_len, static_cast<std::uint32_t>(bytes.size())));
  r.insert(r.end(), bytes.begin(), bytes.begin() + caplen);
  return impl_->file->append(r, true);
}

net::Result<void> PcapWriter::commit() {
  if (!impl_ || !impl_->file)
    return std::unexpected(net::system_error(EBADF, "commit pcap file: already committed"));
  auto done = impl_->file->commit();
  impl_->file.reset();
  return done;
}

std::uint64_t PcapWriter::packets_written() const noexcept {
  return impl_ && impl_->file ? impl_->file->packets() : 0;
}

const std::filesystem::path& PcapWriter::path() const noexcept {
  static const std::filesystem::path none;
  return impl_ && impl_->file ? impl_->file->path() : none;
}

}  // namespace socklab::capture
