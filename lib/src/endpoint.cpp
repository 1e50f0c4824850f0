#include "socklab/net/endpoint.hpp"

#include "socklab/net/call_recorder.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <cstring>
#include <memory>
#include <ostream>
#include <vector>

namespace socklab::net {

namespace {

// The offending text, quoted, with control bytes escaped and long input cut.
std::string quoted(std::string_view text) {
  return "\"" + preview_bytes(std::as_bytes(std::span(text.data(), text.size())), 120) + "\"";
}

Error bad_endpoint(std::string_view text, std::string what) {
  return make_error(errc::invalid_endpoint, "bad endpoint " + quoted(text), std::move(what));
}

Error bad_host(std::string_view host, std::string what) {
  return make_error(errc::invalid_endpoint, "bad host " + quoted(host), std::move(what));
}

// Digits only: std::from_chars would accept neither "+1" nor " 1", but we also
// want to say *why* "80x" or "99999" is wrong.
Result<std::uint16_t> parse_port(std::string_view text, std::string_view port) {
  if (port.empty()) return std::unexpected(bad_endpoint(text, "port is missing"));
  for (char c : port) {
    if (c < '0' || c > '9') return std::unexpected(bad_endpoint(text, "port is not a number"));
  }
  if (port.size() > 5) {
    return std::unexpected(
        bad_endpoint(text, "port " + std::string(port) + " is out of range (0-65535)"));
  }
  unsigned value = 0;
  std::from_chars(port.data(), port.data() + port.size(), value);
  if (value > 65535) {
    return std::unexpected(
        bad_endpoint(text, "port " + std::string(port) + " is out of range (0-65535)"));
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

Endpoint::Endpoint() noexcept {
  // storage_ is zeroed: 0.0.0.0 port 0 once the family is set.
  storage_.ss_family = AF_INET;
  size_ = sizeof(sockaddr_in);
}

Endpoint Endpoint::loopback_v4(std::uint16_t port) noexcept {
  Endpoint e;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::memcpy(&e.storage_, &sin, sizeof sin);
  e.size_ = sizeof sin;
  return e;
}

Endpoint Endpoint::any_v4(std::uint16_t port) noexcept {
  Endpoint e;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_ANY);
  std::memcpy(&e.storage_, &sin, sizeof sin);
  e.size_ = sizeof sin;
  return e;
}

Endpoint Endpoint::loopback_v6(std::uint16_t port) noexcept {
  Endpoint e;
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  sin6.sin6_addr = in6addr_loopback;
  std::memcpy(&e.storage_, &sin6, sizeof sin6);
  e.size_ = sizeof sin6;
  return e;
}

Endpoint Endpoint::any_v6(std::uint16_t port) noexcept {
  Endpoint e;
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  sin6.sin6_addr = in6addr_any;
  std::memcpy(&e.storage_, &sin6, sizeof sin6);
  e.size_ = sizeof sin6;
  return e;
}

Result<Endpoint> Endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr) {
    return std::unexpected(make_error(errc::invalid_endpoint, "address", "null sockaddr"));
  }
  Endpoint e;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    std::memcpy(&e.storage_, sa, sizeof(sockaddr_in));
    e.size_ = sizeof(sockaddr_in);
    return e;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    std::memcpy(&e.storage_, sa, sizeof(sockaddr_in6));
    e.size_ = sizeof(sockaddr_in6);
    return e;
  }
  return std::unexpected(make_error(
      errc::invalid_endpoint, "address",
      "family " + std::to_string(sa->sa_family) + " with length " + std::to_string(len) +
          " is not IPv4 or IPv6"));
}

Result<Endpoint> Endpoint::from_host_port(std::string_view host, std::uint16_t port,
                                          int family_hint) {
  if (host.empty()) return std::unexpected(bad_host(host, "host is empty"));
  if (family_hint != AF_UNSPEC && family_hint != AF_INET && family_hint != AF_INET6) {
    return std::unexpected(bad_host(host, "family hint must be AF_INET, AF_INET6 or AF_UNSPEC"));
  }
  const std::string h(host);
  if (h.find('\0') != std::string::npos) return std::unexpected(bad_host(host, "contains a NUL byte"));

  // Numeric addresses first: no resolver call, and the family is what was written.
  Endpoint e;
  sockaddr_in sin{};
  if (::inet_pton(AF_INET, h.c_str(), &sin.sin_addr) == 1) {
    if (family_hint == AF_INET6) return std::unexpected(bad_host(host, "is IPv4 but IPv6 was asked for"));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    std::memcpy(&e.storage_, &sin, sizeof sin);
    e.size_ = sizeof sin;
    return e;
  }
  sockaddr_in6 sin6{};
  if (::inet_pton(AF_INET6, h.c_str(), &sin6.sin6_addr) == 1) {
    if (family_hint == AF_INET) return std::unexpected(bad_host(host, "is IPv6 but IPv4 was asked for"));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    std::memcpy(&e.storage_, &sin6, sizeof sin6);
    e.size_ = sizeof sin6;
    return e;
  }

  auto all = resolve(host, port, family_hint);
  if (!all) return std::unexpected(all.error());
  for (const auto& candidate : *all) {
    if (!candidate.is_v6()) return candidate;  // IPv4 preferred: localhost is 127.0.0.1
  }
  return all->front();
}

Result<std::vector<Endpoint>> Endpoint::resolve(std::string_view host, std::uint16_t port, int family_hint) {
  if (host.empty()) return std::unexpected(bad_host(host, "host is empty"));
  if (family_hint != AF_UNSPEC && family_hint != AF_INET && family_hint != AF_INET6) {
    return std::unexpected(bad_host(host, "family hint must be AF_INET, AF_INET6 or AF_UNSPEC"));
  }
  const std::string h(host);
  if (h.find('\0') != std::string::npos) return std::unexpected(bad_host(host, "contains a NUL byte"));
  addrinfo hints{};
  hints.ai_family = family_hint;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(h.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return std::unexpected(bad_host(host, std::string("cannot resolve: ") + ::gai_strerror(rc)));
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, &::freeaddrinfo);
  std::vector<Endpoint> out;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    auto r = from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    if (!r) return std::unexpected(bad_host(host, r.error().detail));
    out.push_back(r->with_port(port));
  }
  if (out.empty()) return std::unexpected(bad_host(host, "has no IPv4 or IPv6 address"));
  return out;
}

Result<Endpoint> Endpoint::parse(std::string_view text, int family_hint) {
  if (text.empty()) return std::unexpected(bad_endpoint(text, "empty text, expected host:port"));
  if (text.find('\0') != std::string_view::npos) {
    return std::unexpected(bad_endpoint(text, "contains a NUL byte"));
  }
  std::string_view host;
  std::string_view port;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return std::unexpected(bad_endpoint(text, "'[' without a closing ']'"));
    }
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return std::unexpected(bad_endpoint(text, "expected ':port' after ']'"));
    }
    port = rest.substr(1);
    if (host.empty()) return std::unexpected(bad_endpoint(text, "host is empty"));
    sockaddr_in6 probe{};
    if (::inet_pton(AF_INET6, std::string(host).c_str(), &probe.sin6_addr) != 1) {
      return std::unexpected(bad_endpoint(text, "brackets must hold an IPv6 address"));
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::unexpected(bad_endpoint(text, "no ':port', expected host:port"));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return std::unexpected(
          bad_endpoint(text, "an IPv6 address needs brackets, as in [::1]:8080"));
    }
    if (host.empty()) return std::unexpected(bad_endpoint(text, "host is empty"));
  }
  auto p = parse_port(text, port);
  if (!p) return std::unexpected(p.error());
  auto e = from_host_port(host, *p, family_hint);
  if (!e) return std::unexpected(bad_endpoint(text, e.error().detail));
  return e;
}

int Endpoint::family() const noexcept { return storage_.ss_family; }

std::uint16_t Endpoint::port() const noexcept {
  if (family() == AF_INET6) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &storage_, sizeof sin6);
    return ntohs(sin6.sin6_port);
  }
  sockaddr_in sin{};
  std::memcpy(&sin, &storage_, sizeof sin);
  return ntohs(sin.sin_port);
}

Endpoint Endpoint::with_port(std::uint16_t port) const noexcept {
  Endpoint e = *this;
  if (family() == AF_INET6) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &storage_, sizeof sin6);
    sin6.sin6_port = htons(port);
    std::memcpy(&e.storage_, &sin6, sizeof sin6);
  } else {
    sockaddr_in sin{};
    std::memcpy(&sin, &storage_, sizeof sin);
    sin.sin_port = htons(port);
    std::memcpy(&e.storage_, &sin, sizeof sin);
  }
  return e;
}

std::string Endpoint::address() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET6) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &storage_, sizeof sin6);
    ::inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof buf);
  } else {
    sockaddr_in sin{};
    std::memcpy(&sin, &storage_, sizeof sin);
    ::inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof buf);
  }
  return buf;
}

std::string Endpoint::to_string() const {
  const std::string port_text = std::to_string(port());
  if (is_v6()) return "[" + address() + "]:" + port_text;
  return address() + ":" + port_text;
}

bool operator==(const Endpoint& a, const Endpoint& b) noexcept {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.is_v6()) {
    sockaddr_in6 x{};
    sockaddr_in6 y{};
    std::memcpy(&x, &a.storage_, sizeof x);
    std::memcpy(&y, &b.storage_, sizeof y);
    return std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0 &&
           x.sin6_scope_id == y.sin6_scope_id;
  }
  sockaddr_in x{};
  sockaddr_in y{};
  std::memcpy(&x, &a.storage_, sizeof x);
  std::memcpy(&y, &b.storage_, sizeof y);
  return x.sin_addr.s_addr == y.sin_addr.s_addr;
}

std::ostream& operator<<(std::ostream& os, const Endpoint& e) { return os << e.to_string(); }

}  // namespace socklab::net
