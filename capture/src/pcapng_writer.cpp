#include "socklab/capture/pcapng_writer.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "output_file.hpp"

namespace socklab::capture {

namespace pcapng {

namespace {

constexpr std::uint16_t opt_endofopt = 0;
constexpr std::uint16_t opt_comment = 1;
constexpr std::uint16_t shb_userappl = 4;
constexpr std::uint16_t if_name = 2;
constexpr std::uint16_t if_description = 3;
constexpr std::uint16_t if_tsresol = 9;
constexpr std::uint8_t tsresol_nanoseconds = 9;  // 10^-9 s

template <class T>
void put(std::vector<std::uint8_t>& out, T value) {
  std::array<std::uint8_t, sizeof(T)> b{};
  std::memcpy(b.data(), &value, sizeof value);
  out.insert(out.end(), b.begin(), b.end());
}

void pad32(std::vector<std::uint8_t>& out) {
  while (out.size() % 4 != 0) out.push_back(0);
}

// At most max_option_bytes, cut before a UTF-8 continuation byte so the text stays valid.
std::string_view fit_option(std::string_view v, std::string& storage) {
  if (v.size() <= max_option_bytes) return v;
  constexpr std::string_view ellipsis = "\xE2\x80\xA6";  // …
  std::size_t cut = max_option_bytes - ellipsis.size();
  while (cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80) --cut;
  storage.assign(v.substr(0, cut));
  storage += ellipsis;
  return storage;
}

void put_option(std::vector<std::uint8_t>& out, std::uint16_t code, std::string_view value) {
  std::string storage;
  value = fit_option(value, storage);
  put<std::uint16_t>(out, code);
  put<std::uint16_t>(out, static_cast<std::uint16_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
  pad32(out);
}

// Starts a block: type and a placeholder for the total length.
std::vector<std::uint8_t> begin_block(std::uint32_t type) {
  std::vector<std::uint8_t> b;
  put<std::uint32_t>(b, type);
  put<std::uint32_t>(b, 0);
  return b;
}

// Ends the options (when there were any), and writes the total length at both ends.
std::vector<std::uint8_t> end_block(std::vector<std::uint8_t> b, bool had_options) {
  if (had_options) {
    put<std::uint16_t>(b, opt_endofopt);
    put<std::uint16_t>(b, 0);
  }
  const auto total = static_cast<std::uint32_t>(b.size() + 4);
  std::memcpy(b.data() + 4, &total, sizeof total);
  put<std::uint32_t>(b, total);
  return b;
}

}  // namespace

std::vector<std::uint8_t> section_header_block(const PcapngSection& section) {
  auto b = begin_block(section_header_type);
  put<std::uint32_t>(b, byte_order_magic);
  put<std::uint16_t>(b, 1);  // version 1.0
  put<std::uint16_t>(b, 0);
  put<std::int64_t>(b, -1);  // section length: not known in advance
  if (!section.comment.empty()) put_option(b, opt_comment, section.comment);
  if (!section.application.empty()) put_option(b, shb_userappl, section.application);
  return end_block(std::move(b), !section.comment.empty() || !section.application.empty());
}

std::vector<std::uint8_t> interface_description_block(const PcapngInterface& interface) {
  auto b = begin_block(interface_description_type);
  put<std::uint16_t>(b, static_cast<std::uint16_t>(interface.link));  // LINKTYPE_ value
  put<std::uint16_t>(b, 0);                                          // reserved
  put<std::uint32_t>(b, interface.snaplen);
  if (!interface.name.empty()) put_option(b, if_name, interface.name);
  if (!interface.description.empty()) put_option(b, if_description, interface.description);
  put<std::uint16_t>(b, if_tsresol);
  put<std::uint16_t>(b, 1);
  b.push_back(tsresol_nanoseconds);
  pad32(b);
  return end_block(std::move(b), true);
}

std::vector<std::uint8_t> enhanced_packet_block(std::uint32_t interface, std::int64_t ts_ns,
                                                std::span<const std::uint8_t> bytes, std::uint32_t wire_len,
                                                std::string_view comment) {
  auto b = begin_block(enhanced_packet_type);
  // Units of if_tsresol (ns) since 1970, high 32 bits first; pcapng has no time before 1970.
  const auto ts = static_cast<std::uint64_t>(std::max<std::int64_t>(ts_ns, 0));
  put<std::uint32_t>(b, interface);
  put<std::uint32_t>(b, static_cast<std::uint32_t>(ts >> 32));
  put<std::uint32_t>(b, static_cast<std::uint32_t>(ts & 0xffffffffu));
  put<std::uint32_t>(b, static_cast<std::uint32_t>(bytes.size()));
  put<std::uint32_t>(b, std::max(wire_len, static_cast<std::uint32_t>(bytes.size())));
  b.insert(b.end(), bytes.begin(), bytes.end());
  pad32(b);
  if (!comment.empty()) put_option(b, opt_comment, comment);
  return end_block(std::move(b), !comment.empty());
}

}  // namespace pcapng

struct PcapngWriter::Impl {
  std::optional<detail::OutputFile> file;
  std::vector<std::uint32_t> snaplens;  // per interface index
};

PcapngWriter::PcapngWriter(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
PcapngWriter::PcapngWriter(PcapngWriter&&) noexcept = default;
PcapngWriter& PcapngWriter::operator=(PcapngWriter&&) noexcept = default;
PcapngWriter::~PcapngWriter() = default;

net::Result<PcapngWriter> PcapngWriter::create(std::filesystem::path path, const PcapngSection& section) {
  auto file = detail::OutputFile::create(path);
  if (!file) return std::unexpected(std::move(file.error()));
  auto impl = std::make_unique<Impl>();
  impl->file.emplace(std::move(*file));
  if (auto w = impl->file->append(pcapng::section_header_block(section), false); !w)
    return std::unexpected(std::move(w.error()));
  return PcapngWriter(std::move(impl));
}

net::Result<std::uint32_t> PcapngWriter::add_interface(const PcapngInterface& interface) {
  if (!impl_ || !impl_->file) return std::unexpected(net::system_error(EBADF, "pcapng file: already committed"));
  const std::uint32_t snaplen = interface.snaplen == 0 ? 262144 : interface.snaplen;
  PcapngInterface with = interface;
  with.snaplen = snaplen;
  if (auto w = impl_->file->append(pcapng::interface_description_block(with), false); !w)
    return std::unexpected(std::move(w.error()));
  impl_->snaplens.push_back(snaplen);
  return static_cast<std::uint32_t>(impl_->snaplens.size() - 1);
}

net::Result<void> PcapngWriter::write(std::uint32_t interface, std::int64_t ts_ns, std::span<const std::uint8_t> bytes,
                                      std::uint32_t wire_len, std::string_view comment) {
  if (!impl_ || !impl_->file) return std::unexpected(net::system_error(EBADF, "pcapng file: already committed"));
  if (interface >= impl_->snaplens.size())
    return std::unexpected(net::Error{std::make_error_code(std::errc::invalid_argument),
                                      fmt::format("write pcapng file {}", impl_->file->path().string()),
                                      fmt::format("no interface {} (add_interface() made {})", interface,
                                                  impl_->snaplens.size())});
  const auto caplen = std::min<std::size_t>(bytes.size(), impl_->snaplens[interface]);
  return impl_->file->append(
      pcapng::enhanced_packet_block(interface, ts_ns, bytes.first(caplen), std::max<std::uint32_t>(wire_len, static_cast<std::uint32_t>(bytes.size())), comment),
      true);
}

net::Result<void> PcapngWriter::commit() {
  if (!impl_ || !impl_->file) return std::unexpected(net::system_error(EBADF, "pcapng file: already committed"));
  auto done = impl_->file->commit();
  impl_->file.reset();
  return done;
}

std::uint64_t PcapngWriter::packets_written() const noexcept {
  return impl_ && impl_->file ? impl_->file->packets() : 0;
}

const std::filesystem::path& PcapngWriter::path() const noexcept {
  static const std::filesystem::path none;
  return impl_ && impl_->file ? impl_->file->path() : none;
}

}  // namespace socklab::capture
