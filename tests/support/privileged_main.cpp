// Runner for tests that need capture privilege (CAP_NET_RAW).
//
// Without the privilege the program exits 77, which CTest reports as skipped,
// unless SOCKLAB_REQUIRE_CAPTURE=1 is set (CI runs as root and sets it): then a
// missing privilege is a failure, so privileged tests can never silently skip there.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <linux/if_ether.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {
bool can_capture() {
  // Opening a packet socket is exactly what libpcap needs on Linux.
  const int fd = ::socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}
}  // namespace

int main(int argc, char* argv[]) {
  if (!can_capture()) {
    const char* require = std::getenv("SOCKLAB_REQUIRE_CAPTURE");
    if (require != nullptr && std::string_view(require) == "1") {
      std::fprintf(stderr,
                   "SOCKLAB_REQUIRE_CAPTURE=1 but this process cannot open a packet socket "
                   "(needs CAP_NET_RAW: run as root)\n");
      return 1;
    }
    std::fprintf(stderr, "skipped: capture privilege (CAP_NET_RAW) is missing; run as root\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
