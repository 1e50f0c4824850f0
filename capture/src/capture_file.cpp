#include "socklab/capture/capture_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "output_file.hpp"

namespace socklab::capture {

namespace {

net::Error target_error(std::errc code, std::string_view what, const std::filesystem::path& path, std::string detail) {
  return net::Error{std::make_error_code(code), fmt::format("{} {}", what, path.string()), std::move(detail)};
}

// What a directory entry is, in words, for a file that must not be replaced.
std::string_view kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Follows symbolic links (as open() would) to the name that will be replaced.
net::Result<std::filesystem::path> follow_links(const std::filesystem::path& given, std::string_view what) {
  std::filesystem::path p = given;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    std::error_code ec;
    const auto to = std::filesystem::read_symlink(p, ec);
    if (ec) return std::unexpected(net::system_error(ec.value(), fmt::format("{} {}", what, given.string())));
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  return std::unexpected(target_error(std::errc::too_many_symbolic_link_levels, what, given,
                                      "too many levels of symbolic links"));
}

// A name beside the target that no other writer uses: O_EXCL then guarantees
// we never write into someone else's file.
std::string temporary_prefix(const std::filesystem::path& target) {
  return fmt::format(".{}.", target.filename().string());
}

std::filesystem::path temporary_name(const std::filesystem::path& target, int attempt) {
  static std::atomic<unsigned> counter{0};
  return target.parent_path() /
         fmt::format("{}{}-{}-{}.part", temporary_prefix(target), ::getpid(), counter.fetch_add(1), attempt);
}

// Removes ".NAME.PID-*.part" files beside `target` whose process is gone (a
// recorder killed with SIGKILL leaves one). A live pid's files are never touched.
void remove_stale_parts(const std::filesystem::path& target) {
  const std::string prefix = temporary_prefix(target);
  const auto dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(".part")) continue;
    const std::string_view rest = std::string_view(name).substr(prefix.size());
    pid_t pid = 0;
    const auto [ptr, err] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (err != std::errc{} || ptr == rest.data() || *ptr != '-' || pid <= 0) continue;
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(it->path().c_str());
  }
}

}  // namespace

CaptureFormat capture_format_for(const std::filesystem::path& path) noexcept {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".pcapng" ? CaptureFormat::pcapng : CaptureFormat::pcap;
}

net::Result<std::filesystem::path> output_file_target(const std::filesystem::path& path, std::string_view what) {
  if (path.empty()) return std::unexpected(target_error(std::errc::invalid_argument, what, path, "no file name given"));
  auto target = follow_links(path, what);
  if (!target) return target;
  const std::string via = *target == path ? "" : fmt::format(" (the link points to {})", target->string());
  struct stat st {};
  if (::stat(target->c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      return std::unexpected(target_error(S_ISDIR(st.st_mode) ? std::errc::is_a_directory : std::errc::file_exists, what,
                                          path,
                                          fmt::format("is {}{}; only a regular file is replaced: name a new file "
                                                      "or an existing one",
                                                      kind_of(st.st_mode), via)));
    if (::access(target->c_str(), W_OK) != 0)
      return std::unexpected(target_error(std::errc::permission_denied, what, path,
                                          fmt::format("the file{} is not writable", via)));
  } else if (errno != ENOENT) {
    return std::unexpected(net::system_error(errno, fmt::format("{} {}", what, path.string())));
  }
  const auto dir = target->parent_path().empty() ? std::filesystem::path(".") : target->parent_path();
  if (::stat(dir.c_str(), &st) != 0)
    return std::unexpected(target_error(std::errc::no_such_file_or_directory, what, path,
                                        fmt::format("the directory {} does not exist{}", dir.string(), via)));
  if (!S_ISDIR(st.st_mode))
    return std::unexpected(target_error(std::errc::not_a_directory, what, path,
                                        fmt::format("{} is not a directory{}", dir.string(), via)));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return std::unexpected(target_error(std::errc::permission_denied, what, path,
                                        fmt::format("cannot create files in the directory {}{}", dir.string(), via)));
  return target;
}

namespace detail {

namespace {
// One write() per this many bytes: thousands of small packets at a time.
constexpr std::size_t flush_bytes = 1 << 20;
}  // namespace

net::Result<OutputFile> OutputFile::create(const std::filesystem::path& path, std::string_view what) {
  auto target = output_file_target(path, what);
  if (!target) return std::unexpected(std::move(target.error()));
  remove_stale_parts(*target);
  OutputFile f;
  f.path_ = path;
  f.what_ = what;
  f.target_ = *target;
  for (int attempt = 0; attempt < 16 && f.fd_ < 0; ++attempt) {
    f.temp_ = temporary_name(f.target_, attempt);
    f.fd_ = ::open(f.temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (f.fd_ < 0 && errno != EEXIST)
      return std::unexpected(net::system_error(errno, fmt::format("create {} {}", what, path.string())));
  }
  if (f.fd_ < 0) return std::unexpected(net::system_error(EEXIST, fmt::format("create {} {}", what, path.string())));
  f.buffer_.reserve(flush_bytes);
  return f;
}

OutputFile::OutputFile(OutputFile&& o) noexcept
    : path_(std::move(o.path_)), what_(std::move(o.what_)), target_(std::move(o.target_)), temp_(std::move(o.temp_)),
      fd_(std::exchange(o.fd_, -1)), buffer_(std::move(o.buffer_)), record_ends_(std::move(o.record_ends_)),
      record_is_packet_(std::move(o.record_is_packet_)), on_disk_(o.on_disk_), packets_(o.packets_),
      packets_on_disk_(o.packets_on_disk_), failure_(std::move(o.failure_)) {}

OutputFile& OutputFile::operator=(OutputFile&& o) noexcept {
  if (this != &o) {
    close_and_remove();
    path_ = std::move(o.path_);
    what_ = std::move(o.what_);
    target_ = std::move(o.target_);
    temp_ = std::move(o.temp_);
    fd_ = std::exchange(o.fd_, -1);
    buffer_ = std::move(o.buffer_);
    record_ends_ = std::move(o.record_ends_);
    record_is_packet_ = std::move(o.record_is_packet_);
    on_disk_ = o.on_disk_;
    packets_ = o.packets_;
    packets_on_disk_ = o.packets_on_disk_;
    failure_ = std::move(o.failure_);
  }
  return *this;
}

OutputFile::~OutputFile() { close_and_remove(); }

void OutputFile::close_and_remove() noexcept {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(temp_.c_str());
}

net::Result<void> OutputFile::append(std::span<const std::uint8_t> record, bool is_packet) {
  if (failure_) return std::unexpected(*failure_);
  if (fd_ < 0) return std::unexpected(net::system_error(EBADF, fmt::format("write {} {}", what_, path_.string())));
  buffer_.insert(buffer_.end(), record.begin(), record.end());
  record_ends_.push_back(buffer_.size());
  record_is_packet_.push_back(is_packet);
  if (is_packet) ++packets_;
  if (buffer_.size() >= flush_bytes) return flush();
  return {};
}

net::Result<void> OutputFile::flush() {
  std::size_t done = 0;
  int err = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  // Keep the records that reached the file whole; cut off a partly written one.
  std::size_t whole = 0;
  for (std::size_t i = 0; i < record_ends_.size() && record_ends_[i] <= done; ++i) {
    whole = record_ends_[i];
    if (record_is_packet_[i]) ++packets_on_disk_;
  }
  if (whole < done && ::ftruncate(fd_, static_cast<off_t>(on_disk_ + whole)) != 0 && err == 0) err = errno;
  on_disk_ += whole;
  buffer_.clear();
  record_ends_.clear();
  record_is_packet_.clear();
  if (err == 0) return {};
  failure_ = net::system_error(err, fmt::format("write {} {}", what_, path_.string()));
  return std::unexpected(*failure_);
}

net::Result<void> OutputFile::commit() {
  if (fd_ < 0) return std::unexpected(net::system_error(EBADF, fmt::format("commit {} {}", what_, path_.string())));
  if (!failure_) (void)flush();
  // On the disk before the rename: after a crash the name holds the old file or
  // the new one, whole. Delayed write errors (NFS, quota) surface here or at
  // close: then nothing says what reached the disk.
  const bool synced = ::fsync(fd_) == 0;
  const int sync_err = synced ? 0 : errno;
  if ((::close(std::exchange(fd_, -1)) != 0 || !synced) && !failure_) {
    const int err = synced ? errno : sync_err;
    ::unlink(temp_.c_str());
    return std::unexpected(net::system_error(err, fmt::format("write {} {}", what_, path_.string())));
  }
  // The target was checked before capturing; check again so nothing put there
  // since (a device, a directory) is ever replaced.
  struct stat st {};
  if (::stat(target_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    ::unlink(temp_.c_str());
    return std::unexpected(target_error(std::errc::file_exists, what_, path_,
                                        fmt::format("is now {}: not replaced, nothing written", kind_of(st.st_mode))));
  }
  if (failure_ && on_disk_ == 0) {  // not even the file header: nothing worth keeping
    ::unlink(temp_.c_str());
    return std::unexpected(*failure_);
  }
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_.c_str());
    return std::unexpected(net::system_error(err, fmt::format("rename {} into place as {}", what_, path_.string())));
  }
  if (failure_) {
    net::Error e = *failure_;
    e.detail = fmt::format("{}; stopped there and kept the {} packet{} written before it (a valid file, cut short)",
                           failure_->code.message(), packets_on_disk_, packets_on_disk_ == 1 ? "" : "s");
    return std::unexpected(std::move(e));
  }
  return {};
}

}  // namespace detail

net::Result<void> write_output_file(const std::filesystem::path& path, std::string_view content, std::string_view what) {
  auto file = detail::OutputFile::create(path, what);
  if (!file) return std::unexpected(std::move(file.error()));
  // One record: a write error cuts it back to nothing, and commit() then keeps nothing.
  if (auto w = file->append({reinterpret_cast<const std::uint8_t*>(content.data()), content.size()}, false); !w)
    return w;
  return file->commit();
}

}  // namespace socklab::capture
