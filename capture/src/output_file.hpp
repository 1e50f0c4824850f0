// OutputFile: the temporary file behind PcapWriter and PcapngWriter (the rules
// are in socklab/capture/capture_file.hpp). Writes whole records only: when
// the disk fills up mid-write, the file is cut back to the last complete record,
// so what is kept is still a valid capture file, just shorter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/net/error.hpp"

namespace socklab::capture::detail {

class OutputFile {
 public:
  // Checks `path` (output_file_target), removes stale temporary files of dead
  // processes beside it, and opens a new temporary file. `what` names the file
  // in messages.
  static net::Result<OutputFile> create(const std::filesystem::path& path, std::string_view what = "capture file");

  OutputFile(OutputFile&&) noexcept;
  OutputFile& operator=(OutputFile&&) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Without commit(): removes the temporary file.
  ~OutputFile();

  // Appends one whole record (a header, or a packet when `is_packet`). Buffered:
  // a write error may surface here for earlier records. After an error the
  // file is cut back to its last complete record and every later call fails.
  net::Result<void> append(std::span<const std::uint8_t> record, bool is_packet);

  // Writes what is buffered, closes the file and renames it into place. After
  // a write error (now or earlier) the records written before it are renamed
  // into place all the same, and the error says how many packets were kept.
  net::Result<void> commit();

  // The path given, and the file it names (a symlink's target).
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] const std::filesystem::path& temporary() const noexcept { return temp_; }
  // Packets appended (those buffered included), and packets known to be in the file.
  [[nodiscard]] std::uint64_t packets() const noexcept { return packets_; }
  [[nodiscard]] std::uint64_t packets_on_disk() const noexcept { return packets_on_disk_; }

 private:
  OutputFile() = default;
  net::Result<void> flush();
  void close_and_remove() noexcept;

  std::filesystem::path path_;    // as given (-w)
  std::string what_;              // "capture file", "HTML page"
  std::filesystem::path target_;  // what is renamed over
  std::filesystem::path temp_;
  int fd_ = -1;
  std::vector<std::uint8_t> buffer_;
  std::vector<std::size_t> record_ends_;  // in buffer_: where each buffered record ends
  std::vector<bool> record_is_packet_;
  std::uint64_t on_disk_ = 0;              // bytes of whole records in the file
  std::uint64_t packets_ = 0;
  std::uint64_t packets_on_disk_ = 0;
  std::optional<net::Error> failure_;      // the first write error
};

}  // namespace socklab::capture::detail
