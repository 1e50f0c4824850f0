#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include <sys/un.h>

#include <string>

#include "socklab/net/endpoint.hpp"

using socklab::net::Endpoint;
using socklab::net::errc;

TEST_CASE("Endpoint parses IPv4, IPv6 and host names and formats them back", "[lib][endpoint]") {
  auto v4 = Endpoint::parse("127.0.0.1:8080");
  REQUIRE(v4);
  CHECK(v4->family() == AF_INET);
  CHECK(v4->port() == 8080);
  CHECK(v4->address() == "127.0.0.1");
  CHECK(v4->to_string() == "127.0.0.1:8080");
  CHECK(v4->size() == sizeof(sockaddr_in));

  auto v6 = Endpoint::parse("[::1]:8080");
  REQUIRE(v6);
  CHECK(v6->is_v6());
  CHECK(v6->port() == 8080);
  CHECK(v6->address() == "::1");
  CHECK(v6->to_string() == "[::1]:8080");
  CHECK(v6->size() == sizeof(sockaddr_in6));
  CHECK(*v6 == Endpoint::loopback_v6(8080));

  auto local = Endpoint::parse("localhost:0");
  REQUIRE(local);
  CHECK(local->to_string() == "127.0.0.1:0");  // IPv4 preferred for names

  auto edge = Endpoint::parse("0.0.0.0:65535");
  REQUIRE(edge);
  CHECK(edge->port() == 65535);
  CHECK(*edge == Endpoint::any_v4(65535));

  auto long_v6 = Endpoint::parse("[2001:db8::10]:443");
  REQUIRE(long_v6);
  CHECK(long_v6->to_string() == "[2001:db8::10]:443");
}

TEST_CASE("Endpoint helpers and equality", "[lib][endpoint]") {
  CHECK(Endpoint().to_string() == "0.0.0.0:0");
  CHECK(Endpoint::loopback_v4(7).to_string() == "127.0.0.1:7");
  CHECK(Endpoint::any_v6(9).to_string() == "[::]:9");
  CHECK(Endpoint::loopback_v4(1).with_port(2) == Endpoint::loopback_v4(2));
  CHECK_FALSE(Endpoint::loopback_v4(1) == Endpoint::loopback_v4(2));
  CHECK_FALSE(Endpoint::loopback_v4(1) == Endpoint::loopback_v6(1));

  auto hp = Endpoint::from_host_port("::1", 53);
  REQUIRE(hp);
  CHECK(hp->to_string() == "[::1]:53");
  auto wrong_family = Endpoint::from_host_port("127.0.0.1", 53, AF_INET6);
  REQUIRE_FALSE(wrong_family);
  CHECK(wrong_family.error().message() == "bad host \"127.0.0.1\": is IPv4 but IPv6 was asked for");
}

TEST_CASE("Endpoint::resolve gives every address getaddrinfo gives, each with the port", "[lib][endpoint]") {
  // A numeric address: itself, alone.
  auto v4 = Endpoint::resolve("127.0.0.1", 8080);
  REQUIRE(v4);
  CHECK(*v4 == std::vector<Endpoint>{Endpoint::loopback_v4(8080)});
  auto v6 = Endpoint::resolve("::1", 80);
  REQUIRE(v6);
  CHECK(*v6 == std::vector<Endpoint>{Endpoint::loopback_v6(80)});
  // A name: what the resolver says; localhost is loopback on every machine,
  // and from_host_port picks its IPv4 answer among them.
  auto local = Endpoint::resolve("localhost", 7);
  REQUIRE(local);
  REQUIRE_FALSE(local->empty());
  for (const auto& e : *local) {
    CHECK((e == Endpoint::loopback_v4(7) || e == Endpoint::loopback_v6(7) || e.address().starts_with("127.")));
  }
  auto picked = Endpoint::from_host_port("localhost", 7);
  REQUIRE(picked);
  CHECK(std::find(local->begin(), local->end(), *picked) != local->end());
  // The same errors as from_host_port.
  auto empty = Endpoint::resolve("", 1);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().message() == "bad host \"\": host is empty");
  auto hint = Endpoint::resolve("localhost", 1, AF_UNIX);
  REQUIRE_FALSE(hint);
  CHECK(hint.error().code == errc::invalid_endpoint);
}

TEST_CASE("Endpoint::from_sockaddr accepts IPv4/IPv6 only", "[lib][endpoint]") {
  const Endpoint e = Endpoint::loopback_v6(99);
  auto back = Endpoint::from_sockaddr(e.data(), e.size());
  REQUIRE(back);
  CHECK(*back == e);

  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  auto bad = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&un), sizeof un);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_endpoint);

  // A length too short for the family is refused, not read past.
  auto short_len = Endpoint::from_sockaddr(e.data(), sizeof(sockaddr_in));
  REQUIRE_FALSE(short_len);
  CHECK(short_len.error().code == errc::invalid_endpoint);
}

TEST_CASE("Endpoint::parse rejects bad text, quoting it and saying what is wrong",
          "[lib][endpoint][errors]") {
  struct Case {
    std::string text;
    std::string why;
  };
  const Case cases[] = {
      {"", "empty text, expected host:port"},
      {"127.0.0.1", "no ':port', expected host:port"},
      {"127.0.0.1:", "port is missing"},
      {"1.2.3.4:x", "port is not a number"},
      {"1.2.3.4:80x", "port is not a number"},
      {"1.2.3.4:-1", "port is not a number"},
      {"1.2.3.4:+1", "port is not a number"},
      {"1.2.3.4: 80", "port is not a number"},
      {"1.2.3.4:65536", "port 65536 is out of range (0-65535)"},
      {"1.2.3.4:99999999999999999999", "port 99999999999999999999 is out of range (0-65535)"},
      {":80", "host is empty"},
      {"::1:80", "an IPv6 address needs brackets, as in [::1]:8080"},
      {"[::1]80", "expected ':port' after ']'"},
      {"[::1]", "expected ':port' after ']'"},
      {"[::1:80", "'[' without a closing ']'"},
      {"[]:80", "host is empty"},
      {"[127.0.0.1]:80", "brackets must hold an IPv6 address"},
      {"[::1]:", "port is missing"},
  };
  for (const auto& c : cases) {
    INFO("input: \"" << c.text << "\"");
    auto r = Endpoint::parse(c.text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_endpoint);
    CHECK(r.error().message() == "bad endpoint \"" + c.text + "\": " + c.why);
  }

  // Control bytes are shown escaped; a NUL must not cut the text short silently.
  auto newline = Endpoint::parse("1.2.3.4:8080\n");
  REQUIRE_FALSE(newline);
  CHECK(newline.error().message() == "bad endpoint \"1.2.3.4:8080\\n\": port is not a number");
  const std::string with_nul("[::1\0junk]:80", 13);
  auto nul = Endpoint::parse(with_nul);
  REQUIRE_FALSE(nul);
  CHECK(nul.error().message() == "bad endpoint \"[::1\\x00junk]:80\": contains a NUL byte");

  // Huge input gives a bounded message.
  auto huge = Endpoint::parse(std::string(100000, '9'));
  REQUIRE_FALSE(huge);
  CHECK(huge.error().message().size() < 400);
}
