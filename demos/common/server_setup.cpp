#include "server_setup.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cerrno>
#include <utility>

#include "common_notes.hpp"

namespace socklab::demo {

std::string explain_bind_failure(const net::Error& e, const net::Endpoint& at, const Lesson& common) {
  const Values values{{"endpoint", at.to_string()}, {"port", std::to_string(at.port())}, {"address", at.address()}};
  switch (e.errno_value()) {
    case EADDRINUSE: return common.note(CommonNote{"port_in_use"}, values);
    case EADDRNOTAVAIL: return common.note(CommonNote{"address_not_here"}, values);
    case EACCES: return common.note(CommonNote{"port_privileged"}, values);
    default: return e.message();
  }
}

CaptureProblem no_capture_support(const Lesson& common) {
  return {common.note(CommonNote{"no_capture_support"}), true};
}

bool is_loopback(const net::Endpoint& peer) {
  const std::string a = peer.address();
  if (a.starts_with("127.") || a == "::1" || a.starts_with("::ffff:127.")) return true;
  // Linux routes traffic to its own addresses through lo too.
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool own = false;
  for (const ifaddrs* i = list; i != nullptr && !own; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != peer.family()) continue;
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = i->ifa_addr->sa_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr);
    own = ::inet_ntop(i->ifa_addr->sa_family, raw, text, sizeof text) != nullptr && a == text;
  }
  ::freeifaddrs(list);
  return own;
}

#if SOCKLAB_HAVE_PCAP

capture::LiveCaptureConfig capture_config_for(const net::Endpoint& server, const std::string& pcap_path) {
  capture::LiveCaptureConfig config;
  config.interface = is_loopback(server) ? "lo" : "any";
  config.filter = capture::port_filter(server.port());
  // A lesson sends tens of packets, and the capture thread reads them as they
  // come: 8 MiB (about 120 whole loopback packets not yet read) is plenty, and
  // it is set up in under 20 ms. The 64 MiB default takes ~280 ms to map, which
  // would show in the timeline as a pause between the server and the client.
  config.buffer_bytes = 8 << 20;
  // Written as it is captured; a .pcapng name gets each packet's phase and
  // analysis flags as its comment (a lesson demo writes its pcapng itself, at
  // the end, with the lesson's notes: Session::write_capture_file).
  if (!pcap_path.empty()) config.write_to = pcap_path;
  config.pcapng_section.application = "socklab";
  return config;
}

std::expected<capture::LiveCapture, CaptureProblem> start_capture(capture::LiveCaptureConfig config) {
  auto started = capture::LiveCapture::start(std::move(config));
  if (!started) {
    return std::unexpected(CaptureProblem{capture::explain_capture_error(started.error()),
                                          capture::is_missing_privilege(started.error())});
  }
  return std::move(*started);
}
#endif

}  // namespace socklab::demo
