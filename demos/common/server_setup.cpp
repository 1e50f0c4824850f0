#include "server_setup.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <mutex>
#include <utility>

#include "common_notes.hpp"
#include "error_text.hpp"
#include "options.hpp"

namespace socklab::demo {

std::string explain_bind_failure(const net::Error& e, const net::Endpoint& at, const Lesson& common, Lang lang) {
  const Values values{{"endpoint", at.to_string()}, {"port", std::to_string(at.port())}, {"address", at.address()}};
  switch (e.errno_value()) {
    case EADDRINUSE: return common.note(CommonNote{"port_in_use"}, values);
    case EADDRNOTAVAIL: return common.note(CommonNote{"address_not_here"}, values);
    case EACCES: return common.note(CommonNote{"port_privileged"}, values);
    default: return error_text(e, common, lang);
  }
}

std::string own_program_file() {
  std::error_code ec;
  const auto program = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("PROGRAM") : shell_quote(program.string());
}

CaptureProblem no_capture_support(const Lesson& common) {
  return {common.note(CommonNote{"no_capture_support"}), true};
}

bool is_loopback_address(const net::Endpoint& e) {
  const std::string a = e.address();
  return a.starts_with("127.") || a == "::1" || a.starts_with("::ffff:127.");
}

bool is_loopback(const net::Endpoint& peer) {
  const std::string a = peer.address();
  if (is_loopback_address(peer)) return true;
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

net::Result<UdpAndTcp> bind_udp_and_tcp(const net::Endpoint& at, const net::UdpOptions& udp_options,
                                        const net::ListenOptions& tcp_options, const std::function<void()>& udp_bound) {
  for (int attempt = 1;; ++attempt) {
    auto udp = net::UdpSocket::bind(at, udp_options);
    if (!udp) return std::unexpected(udp.error());
    if (udp_bound) udp_bound();
    auto bound = udp->local_endpoint();
    if (!bound) return std::unexpected(bound.error());
    auto tcp = net::TcpListener::bind(*bound, tcp_options);
    if (tcp) return UdpAndTcp{std::move(*udp), std::move(*tcp)};
    if (at.port() != 0 || tcp.error().errno_value() != EADDRINUSE || attempt == 10) return std::unexpected(tcp.error());
  }
}

bool is_unspecified(const net::Endpoint& e) {
  const std::string a = e.address();
  return a == "0.0.0.0" || a == "::";
}

std::vector<std::string> reachable_addresses(int family) {
  std::vector<std::string> v4, v6;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return {};
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
    const int f = i->ifa_addr->sa_family;
    if (f != AF_INET && f != AF_INET6) continue;
    if (family != AF_UNSPEC && f != family) continue;
    const socklen_t len = f == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    auto e = net::Endpoint::from_sockaddr(i->ifa_addr, len);
    if (!e) continue;
    // fe80:: needs its interface named (%eth0) and only reaches the same link: not worth a student's typing.
    if (f == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr)) continue;
    auto& out = f == AF_INET ? v4 : v6;
    if (std::find(out.begin(), out.end(), e->address()) == out.end()) out.push_back(e->address());
  }
  ::freeifaddrs(list);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

std::string server_ready_text(const net::Endpoint& bound, const Lesson& common,
                              const std::function<std::string(const std::string& host)>& client_command) {
  if (is_loopback_address(bound)) {  // this machine's other addresses are reachable from elsewhere
    return common.note(CommonNote{"server_waiting"}, {{"endpoint", bound.to_string()}, {"command", client_command(bound.address())}}) +
           "\n" + common.note(CommonNote{"server_loopback_only"}, {{"any", bound.is_v6() ? "::" : "0.0.0.0"}});
  }
  if (!is_unspecified(bound)) {
    return common.note(CommonNote{"server_waiting"}, {{"endpoint", bound.to_string()}, {"command", client_command(bound.address())}});
  }
  // A socket on :: takes IPv4 clients too (net.ipv6.bindv6only is 0 by default).
  const auto addresses = reachable_addresses(bound.is_v6() ? AF_UNSPEC : AF_INET);
  if (addresses.empty()) {
    const std::string placeholder = "<" + common.note(CommonNote{"this_machine_address"}) + ">";
    return common.note(CommonNote{"server_waiting"}, {{"endpoint", bound.to_string()}, {"command", client_command(placeholder)}}) +
           "\n" + common.note(CommonNote{"server_no_address"});
  }
  std::string list;
  for (const auto& a : addresses) list += (list.empty() ? "" : ", ") + a;
  return common.note(CommonNote{"server_waiting"}, {{"endpoint", bound.to_string()}, {"command", client_command(addresses.front())}}) +
         "\n" + common.note(CommonNote{"server_addresses"}, {{"addresses", list}});
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
  // On "any", classmates on the same machine (and other programs) talking to the
  // same server port pass the filter too: room for a class's packets at once. In
  // immediate mode each ring slot is as large as the snapshot length, and the
  // default (256 KiB) would leave 128 slots: the largest IP packet (64 KiB, a
  // TSO send included) plus its link header fits in 65,600 bytes.
  if (config.interface == "any") {
    config.snaplen = 65600;
    config.buffer_bytes = 32 << 20;
  }
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

std::expected<capture::LiveCapture, CaptureProblem> start_capture(capture::LiveCaptureConfig config,
                                                                  const Lesson& common, const std::string& rerun,
                                                                  Lang lang) {
  const std::string interface = config.interface;
  auto started = capture::LiveCapture::start(std::move(config));
  if (started) return std::move(*started);
  if (!capture::is_missing_privilege(started.error())) {
    return std::unexpected(CaptureProblem{error_text(started.error(), common, lang), false});
  }
  return std::unexpected(CaptureProblem{
      common.note(CommonNote{"capture_not_permitted"},
                  {{"interface", interface}, {"command", rerun}, {"program", own_program_file()}}),
      true});
}
#endif

struct StreamingCapture::Impl {
  std::mutex mutex;  // the records: the capture's thread decodes, start() sets them up
  std::optional<capture::RecordBuilder> records;
  Sink sink;
#if SOCKLAB_HAVE_PCAP
  std::optional<capture::LiveCapture> live;
#endif
};

StreamingCapture::StreamingCapture() : impl_(std::make_unique<Impl>()) {}
StreamingCapture::~StreamingCapture() = default;

bool StreamingCapture::running() const noexcept {
#if SOCKLAB_HAVE_PCAP
  return impl_->live.has_value();
#else
  return false;
#endif
}

std::optional<CaptureProblem> StreamingCapture::start(const net::Endpoint& server, const CommonOptions& opts,
                                                      const Lesson& common, Sink sink) {
#if SOCKLAB_HAVE_PCAP
  impl_->sink = std::move(sink);
  auto config = capture_config_for(server, opts.pcap_path);
  config.keep_packets = false;  // a server runs for long: each packet is shown, none kept
  config.sink = [impl = impl_.get()](const capture::RawPacket& p) {
    std::lock_guard lock(impl->mutex);
    if (impl->records) impl->sink(impl->records->next(p));
  };
  auto started = start_capture(std::move(config), common, rerun_command(opts, "", true));
  if (!started) return std::move(started.error());
  {
    std::lock_guard lock(impl_->mutex);
    impl_->records.emplace(started->link_type());
  }
  impl_->live.emplace(std::move(*started));
  return std::nullopt;
#else
  (void)server, (void)opts, (void)sink;
  return no_capture_support(common);
#endif
}

net::Result<StreamingCapture::Counts> StreamingCapture::stop() {
#if SOCKLAB_HAVE_PCAP
  if (!impl_->live) return Counts{};
  auto stats = impl_->live->stop();
  impl_->live.reset();
  if (!stats) return std::unexpected(stats.error());
  return Counts{stats->captured, stats->dropped_by_kernel};
#else
  return Counts{};
#endif
}

}  // namespace socklab::demo
