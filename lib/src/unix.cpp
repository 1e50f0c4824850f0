#include "socklab/net/unix.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

namespace socklab::net {

namespace {

constexpr std::size_t kSunPathSize = sizeof(sockaddr_un{}.sun_path);

Result<void> check_name(std::string_view name, std::size_t room, std::string_view what) {
  const std::string context = std::string(what) + " \"" + std::string(name) + "\"";
  if (name.empty()) return std::unexpected(make_error(errc::invalid_endpoint, context, "it is empty"));
  if (name.find('\0') != std::string_view::npos) {
    return std::unexpected(make_error(errc::invalid_endpoint, context, "it contains a NUL byte"));
  }
  if (name.size() > room) {
    return std::unexpected(make_error(errc::invalid_endpoint, context,
                                      "it is " + std::to_string(name.size()) + " bytes; sun_path holds " +
                                          std::to_string(room)));
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------- UnixAddress

Result<UnixAddress> UnixAddress::path(std::string_view path) {
  // One byte of sun_path stays for the terminating NUL that C programs expect.
  if (auto ok = check_name(path, kSunPathSize - 1, "unix socket path"); !ok) return std::unexpected(ok.error());
  UnixAddress a;
  a.addr_.sun_family = AF_UNIX;
  std::memcpy(a.addr_.sun_path, path.data(), path.size());
  a.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

Result<UnixAddress> UnixAddress::abstract(std::string_view name) {
  if (auto ok = check_name(name, kSunPathSize - 1, "abstract unix socket name"); !ok) {
    return std::unexpected(ok.error());
  }
  UnixAddress a;
  a.addr_.sun_family = AF_UNIX;
  // The leading NUL marks the abstract namespace; the length says where the name ends.
  std::memcpy(a.addr_.sun_path + 1, name.data(), name.size());
  a.size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return a;
}

Result<UnixAddress> UnixAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr || sa->sa_family != AF_UNIX || len < offsetof(sockaddr_un, sun_path) || len > sizeof(sockaddr_un)) {
    return std::unexpected(make_error(errc::invalid_endpoint, "unix address", "not an AF_UNIX address"));
  }
  UnixAddress a;
  std::memcpy(&a.addr_, sa, len);
  a.size_ = len;
  return a;
}

bool UnixAddress::is_unnamed() const noexcept { return size_ <= offsetof(sockaddr_un, sun_path); }

bool UnixAddress::is_abstract() const noexcept { return !is_unnamed() && addr_.sun_path[0] == '\0'; }

std::string UnixAddress::name() const {
  if (is_unnamed()) return {};
  const std::size_t n = size_ - offsetof(sockaddr_un, sun_path);
  if (is_abstract()) return std::string(addr_.sun_path + 1, n - 1);
  return std::string(addr_.sun_path, ::strnlen(addr_.sun_path, n));
}

std::string UnixAddress::to_string() const { return is_abstract() ? "@" + name() : name(); }

// ---------------------------------------------------------------- UnixStream

Result<UnixStream> UnixStream::connect(const UnixAddress& to, Trace trace) {
  auto fd = detail::open_socket(AF_UNIX, SOCK_STREAM, trace);
  if (!fd) return std::unexpected(fd.error());
  UnixStream s(*fd, trace);
  for (;;) {
    const std::int64_t t0 = s.trace_.start();
    const int rc = ::connect(s.fd_, to.data(), to.size());
    const int err = rc != 0 ? errno : 0;
    if (s.trace_) s.record_call(t0, "connect", to.to_string(), rc, err);
    // An AF_UNIX connect() is done at once or not at all; EINTR means it did not happen.
    if (err == EINTR) continue;
    if (rc != 0) return std::unexpected(system_error(err, "connect " + to.to_string()));
    return s;
  }
}

Result<PeerCredentials> UnixStream::peer_credentials() const {
  ucred c{};
  socklen_t len = sizeof c;
  if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) {
    return std::unexpected(system_error(errno, "getsockopt SO_PEERCRED"));
  }
  if (trace_) {
    CallEvent ev;
    ev.call = "getsockopt";
    ev.args = "SO_PEERCRED pid=" + std::to_string(c.pid) + " uid=" + std::to_string(c.uid) +
              " gid=" + std::to_string(c.gid);
    trace_.finish(trace_.start(), std::move(ev));
  }
  return PeerCredentials{c.pid, c.uid, c.gid};
}

// ---------------------------------------------------------------- UnixListener

UnixListener::UnixListener(UnixListener&& other) noexcept
    : Socket(std::move(other)), address_(other.address_), owns_file_(std::exchange(other.owns_file_, false)) {}

UnixListener& UnixListener::operator=(UnixListener&& other) noexcept {
  if (this != &other) {
    remove_file();
    Socket::operator=(std::move(other));
    address_ = other.address_;
    owns_file_ = std::exchange(other.owns_file_, false);
  }
  return *this;
}

UnixListener::~UnixListener() { remove_file(); }

void UnixListener::remove_file() noexcept {
  if (!owns_file_) return;
  owns_file_ = false;
  // Unlinked before the descriptor closes: no moment where the file names
  // a socket that nobody will ever accept on.
  const std::string path = address_.name();
  (void)::unlink(path.c_str());
}

Result<UnixListener> UnixListener::bind(const UnixAddress& at, const UnixListenOptions& opts) {
  auto fd = detail::open_socket(AF_UNIX, SOCK_STREAM, opts.trace);
  if (!fd) return std::unexpected(fd.error());
  UnixListener l;
  l.fd_ = *fd;
  l.trace_ = opts.trace;
  l.address_ = at;
  if (auto r = l.bind_address(at.data(), at.size(), at.to_string()); !r) return std::unexpected(r.error());
  // From here the file is ours (bind created it), also if listen() fails.
  l.owns_file_ = opts.unlink_on_close && !at.is_abstract();
  const std::int64_t t0 = l.trace_.start();
  const int rc = ::listen(l.fd_, opts.backlog);
  const int err = rc != 0 ? errno : 0;
  if (l.trace_) l.record_call(t0, "listen", std::to_string(opts.backlog), rc, err);
  if (rc != 0) return std::unexpected(system_error(err, "listen " + at.to_string()));
  return l;
}

Result<UnixStream> UnixListener::accept(std::optional<std::chrono::milliseconds> timeout) {
  auto context = [&] { return "accept " + address_.to_string(); };
  if (auto r = wait_for_connection(timeout, context()); !r) return std::unexpected(r.error());
  for (;;) {
    const std::int64_t t0 = trace_.start();
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    const int err = fd < 0 ? errno : 0;
    if (fd < 0) {
      record_call(t0, "accept", {}, -1, err);
      if (err == EINTR) continue;
      return std::unexpected(system_error(err, context()));
    }
    UnixStream stream(fd, trace_);
    // The client is usually unnamed: the call shows the listener's address.
    if (trace_) record_call(t0, "accept", address_.to_string(), fd, 0);
    return stream;
  }
}

}  // namespace socklab::net
