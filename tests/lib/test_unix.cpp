// UnixAddress, UnixListener, UnixStream: AF_UNIX stream sockets on a path in a
// private temporary directory and in the abstract namespace.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>

#include "socklab/net/unix.hpp"

using namespace socklab::net;

namespace {

// A directory of its own for the test's socket files, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = "/tmp/socklab-test-unix-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { (void)::rmdir(path.c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string unique_abstract_name() { return "socklab-test-" + std::to_string(::getpid()); }

}  // namespace

TEST_CASE("UnixAddress: paths, abstract names and their limits", "[lib][unix]") {
  auto p = UnixAddress::path("/tmp/x/echo.sock");
  REQUIRE(p);
  CHECK_FALSE(p->is_abstract());
  CHECK(p->to_string() == "/tmp/x/echo.sock");

  auto a = UnixAddress::abstract("socklab-echo");
  REQUIRE(a);
  CHECK(a->is_abstract());
  CHECK(a->name() == "socklab-echo");
  CHECK(a->to_string() == "@socklab-echo");

  const std::string too_long(200, 'x');
  auto bad = UnixAddress::path(too_long);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_endpoint);
  CHECK(bad.error().message().find("sun_path holds 107") != std::string::npos);
  CHECK_FALSE(UnixAddress::path(""));
  CHECK_FALSE(UnixAddress::abstract(std::string("a\0b", 3)));
}

TEST_CASE("UnixListener/UnixStream: echo over a path, credentials, the file removed", "[lib][unix]") {
  TempDir dir;
  const std::string path = dir.path + "/echo.sock";
  CallRecorder recorder;
  const auto at = UnixAddress::path(path).value();
  {
    auto listener = UnixListener::bind(at, {.trace = {&recorder, Side::server}});
    REQUIRE(listener);
    CHECK(exists(path));
    bool echoed = false;  // Catch's assertions are for the test's own thread
    std::jthread client([&] {
      auto s = UnixStream::connect(at, {&recorder, Side::client});
      std::array<std::byte, 4> buf{};
      echoed = s && s->send_all("ping") == 4u && s->recv_exact(buf) == 4u;
    });
    auto accepted = listener->accept(std::chrono::seconds(10));
    REQUIRE(accepted);
    std::array<std::byte, 4> buf{};
    REQUIRE(accepted->recv_exact(buf) == 4u);
    REQUIRE(accepted->send_all(buf) == 4u);
    auto cred = accepted->peer_credentials();
    REQUIRE(cred);
    CHECK(cred->pid == ::getpid());
    CHECK(cred->uid == ::getuid());
    CHECK(cred->gid == ::getgid());
    client.join();
    CHECK(echoed);
  }
  CHECK_FALSE(exists(path));  // the listener removed its file

  bool socket_unix = false, bind_path = false, connect_path = false;
  for (const auto& e : recorder.snapshot()) {
    if (e.call == "socket" && e.args == "SOCK_STREAM AF_UNIX") socket_unix = true;
    if (e.call == "bind" && e.args == path && e.side == Side::server) bind_path = true;
    if (e.call == "connect" && e.args == path && e.result == 0) connect_path = true;
  }
  CHECK(socket_unix);
  CHECK(bind_path);
  CHECK(connect_path);
}

TEST_CASE("UnixListener: a stale socket file gives EADDRINUSE; connect() to it ECONNREFUSED", "[lib][unix]") {
  TempDir dir;
  const std::string path = dir.path + "/stale.sock";
  const auto at = UnixAddress::path(path).value();
  {
    auto crashed = UnixListener::bind(at, {.unlink_on_close = false});
    REQUIRE(crashed);
  }
  REQUIRE(exists(path));  // left behind, as by a server that crashed

  auto again = UnixListener::bind(at);
  REQUIRE_FALSE(again);
  CHECK(again.error().errno_value() == EADDRINUSE);
  CHECK(again.error().message().find(path) != std::string::npos);

  auto probe = UnixStream::connect(at);
  REQUIRE_FALSE(probe);
  CHECK(probe.error().errno_value() == ECONNREFUSED);

  REQUIRE(::unlink(path.c_str()) == 0);
  auto fixed = UnixListener::bind(at);
  REQUIRE(fixed);
  CHECK(UnixStream::connect(at));
}

TEST_CASE("UnixStream: no file gives ENOENT; the abstract namespace leaves no file", "[lib][unix]") {
  TempDir dir;
  auto missing = UnixStream::connect(UnixAddress::path(dir.path + "/none.sock").value());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().errno_value() == ENOENT);

  const auto at = UnixAddress::abstract(unique_abstract_name()).value();
  auto listener = UnixListener::bind(at);
  REQUIRE(listener);
  auto second = UnixListener::bind(at);
  REQUIRE_FALSE(second);
  CHECK(second.error().errno_value() == EADDRINUSE);
  auto client = UnixStream::connect(at);
  REQUIRE(client);
  auto accepted = listener->accept(std::chrono::seconds(10));
  REQUIRE(accepted);
  REQUIRE(client->send_all("x") == 1u);
  std::array<std::byte, 1> b{};
  CHECK(accepted->recv_some(b) == 1u);
  listener = UnixListener{};
  // With its last socket closed, the name is free again: nothing to clean up.
  CHECK(UnixListener::bind(at));
}
