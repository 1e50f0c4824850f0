// Endpoint: an IPv4 or IPv6 address with a port, as the kernel's sockaddr.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "socklab/net/error.hpp"

namespace socklab::net {

class Endpoint {
 public:
  // 0.0.0.0:0 (AF_INET). An Endpoint is always a valid address.
  Endpoint() noexcept;

  // Parses "127.0.0.1:8080", "[::1]:8080", "localhost:0", "example.org:80".
  // Numeric addresses are taken as written; a host name is resolved with
  // getaddrinfo (family_hint AF_INET / AF_INET6 / AF_UNSPEC; with AF_UNSPEC
  // an IPv4 answer is preferred, so "localhost" is 127.0.0.1).
  // Errors (errc::invalid_endpoint) quote the text: bad endpoint "1.2.3:x": port is not a number.
  static Result<Endpoint> parse(std::string_view text, int family_hint = AF_UNSPEC);
  // An address without a port ("127.0.0.1", "::1", "localhost") and a port.
  static Result<Endpoint> from_host_port(std::string_view host, std::uint16_t port,
                                         int family_hint = AF_UNSPEC);
  // Every address getaddrinfo() gives for `host` (SOCK_STREAM), in its order
  // (the order a client should try them in), each with `port`. A numeric
  // address comes back as the only one, without a lookup of names.
  static Result<std::vector<Endpoint>> resolve(std::string_view host, std::uint16_t port,
                                               int family_hint = AF_UNSPEC);

  static Endpoint loopback_v4(std::uint16_t port = 0) noexcept;   // 127.0.0.1
  static Endpoint loopback_v6(std::uint16_t port = 0) noexcept;   // ::1
  static Endpoint any_v4(std::uint16_t port = 0) noexcept;        // 0.0.0.0
  static Endpoint any_v6(std::uint16_t port = 0) noexcept;        // ::
  // From a kernel address (AF_INET or AF_INET6); errc::invalid_endpoint otherwise.
  static Result<Endpoint> from_sockaddr(const sockaddr* sa, socklen_t len);

  [[nodiscard]] int family() const noexcept;           // AF_INET or AF_INET6
  [[nodiscard]] bool is_v6() const noexcept { return family() == AF_INET6; }
  [[nodiscard]] std::uint16_t port() const noexcept;
  [[nodiscard]] Endpoint with_port(std::uint16_t port) const noexcept;
  [[nodiscard]] std::string address() const;            // "127.0.0.1", "::1"
  [[nodiscard]] std::string to_string() const;          // "127.0.0.1:8080", "[::1]:8080"

  [[nodiscard]] const sockaddr* data() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  [[nodiscard]] socklen_t size() const noexcept { return size_; }

  friend bool operator==(const Endpoint& a, const Endpoint& b) noexcept;
  // Writes to_string(): lets test frameworks and streams print endpoints.
  friend std::ostream& operator<<(std::ostream& os, const Endpoint& e);

 private:
  sockaddr_storage storage_{};
  socklen_t size_ = 0;
};

}  // namespace socklab::net
