// AF_UNIX stream sockets: UnixAddress (a file-system path, or a name in Linux's
// abstract namespace), UnixListener (bind, listen, accept) and UnixStream
// (connect, and the send/recv of StreamSocket). Both ends are on one machine:
// the kernel copies the bytes from one socket to the other, with no IP, no
// port, and nothing on any network interface.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "socklab/net/socket.hpp"
#include "socklab/net/stream_socket.hpp"

namespace socklab::net {

class UnixAddress {
 public:
  // A socket file at `path` (bind creates it). errc::invalid_endpoint for an
  // empty path, one with a NUL byte, or one longer than sun_path holds (107 bytes).
  static Result<UnixAddress> path(std::string_view path);
  // A name in the abstract namespace (no file; gone with the last socket).
  // The same limits, less the leading NUL byte that marks it.
  static Result<UnixAddress> abstract(std::string_view name);
  // From a kernel address; an unnamed socket (a client that never bound) is
  // an address whose to_string() is empty.
  static Result<UnixAddress> from_sockaddr(const sockaddr* sa, socklen_t len);

  [[nodiscard]] bool is_abstract() const noexcept;
  [[nodiscard]] bool is_unnamed() const noexcept;
  // The path, or the abstract name without its NUL.
  [[nodiscard]] std::string name() const;
  // "/tmp/x/echo.sock", "@name" for an abstract name (as ss prints it), "" unnamed.
  [[nodiscard]] std::string to_string() const;

  [[nodiscard]] const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&addr_); }
  [[nodiscard]] socklen_t size() const noexcept { return size_; }

 private:
  sockaddr_un addr_{};
  socklen_t size_ = 0;
};

// SO_PEERCRED: the process at the other end, as the kernel recorded it at connect()/listen().
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

class UnixStream : public StreamSocket {
 public:
  UnixStream() noexcept = default;
  explicit UnixStream(int fd, Trace trace = {}) noexcept : StreamSocket(fd, trace) {}

  // socket(AF_UNIX, SOCK_STREAM) + connect. A path nobody listens on gives
  // ECONNREFUSED (a stale socket file) or ENOENT (no file), with the path in the context.
  static Result<UnixStream> connect(const UnixAddress& to, Trace trace = {});

  [[nodiscard]] Result<PeerCredentials> peer_credentials() const;
};

struct UnixListenOptions {
  int backlog = 128;
  // Remove the socket file when the listener is destroyed (a path address
  // only). bind() never removes an existing file: that is the caller's
  // decision (see the stale-file lesson), never a silent one.
  bool unlink_on_close = true;
  Trace trace{};                  // accepted streams inherit the trace
};

class UnixListener : public Socket {
 public:
  UnixListener() noexcept = default;
  UnixListener(UnixListener&& other) noexcept;
  UnixListener& operator=(UnixListener&& other) noexcept;
  ~UnixListener();

  // socket + bind + listen. A path where a socket file exists gives
  // EADDRINUSE, also when no process listens there any more.
  static Result<UnixListener> bind(const UnixAddress& at, const UnixListenOptions& opts = {});

  // Waits for a connection (forever, or up to timeout: errc::timed_out).
  Result<UnixStream> accept(std::optional<std::chrono::milliseconds> timeout = {});

  [[nodiscard]] const UnixAddress& address() const noexcept { return address_; }

 private:
  void remove_file() noexcept;

  UnixAddress address_;
  bool owns_file_ = false;
};

}  // namespace socklab::net
