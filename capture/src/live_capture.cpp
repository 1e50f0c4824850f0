#include "socklab/capture/live.hpp"

#include <linux/filter.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <expected>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "first_fragments.hpp"
#include "socklab/capture/packet.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/pcap_writer.hpp"

namespace socklab::capture {

namespace {

net::Error pcap_failure(std::errc code, std::string context, std::string detail) {
  return net::Error{std::make_error_code(code), std::move(context), std::move(detail)};
}

// pcap_activate's status as an errno-like code, so callers can tell "no
// privilege" from "no such interface" without parsing text.
std::errc activate_code(int status) {
  switch (status) {
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED: return std::errc::operation_not_permitted;
    case PCAP_ERROR_NO_SUCH_DEVICE: return std::errc::no_such_device;
    case PCAP_ERROR_IFACE_NOT_UP: return std::errc::network_down;
    case PCAP_ERROR_RFMON_NOTSUP: return std::errc::operation_not_supported;
    default: return std::errc::io_error;
  }
}

// libpcap's own message for a failed activation, or the status's generic text.
std::string activate_detail(pcap_t* handle, int status) {
  std::string text = pcap_geterr(handle);
  if (text.empty()) return pcap_statustostr(status);
  return text;
}

bool is_loopback(const std::string& interface) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, interface.c_str(), IFNAMSIZ - 1);
  const bool loopback = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_LOOPBACK) != 0;
  ::close(fd);
  return loopback;
}

LinkType link_type_of(int dlt) {
  if (dlt == DLT_RAW) return LinkType::raw;
  return static_cast<LinkType>(dlt);
}

// The kernel shows every loopback packet twice, as sent and as received, and
// libpcap drops the "sent" copy only after it took a ring slot. Rejecting it in
// the kernel halves the ring's load. libpcap's own copy of the filter must stay
// without "inbound": it runs it in user space on the first frames after
// pcap_setfilter(), where a packet-type test always fails and would lose the
// first packet. So the narrowed program goes to the socket directly.
std::expected<std::string, std::string> reject_sent_copies(pcap_t* h, const std::string& filter) {
  std::string text = filter.empty() ? "inbound" : "(" + filter + ") and inbound";
  bpf_program program{};
  if (pcap_compile(h, &program, text.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
    return std::unexpected(fmt::format("cannot compile \"{}\": {}", text, pcap_geterr(h)));
  // struct bpf_insn and the kernel's struct sock_filter have the same layout.
  sock_fprog kernel_program{static_cast<unsigned short>(program.bf_len),
                            reinterpret_cast<sock_filter*>(program.bf_insns)};
  const int rc = ::setsockopt(pcap_fileno(h), SOL_SOCKET, SO_ATTACH_FILTER, &kernel_program,
                              sizeof kernel_program);
  const int err = errno;
  pcap_freecode(&program);
  if (rc != 0) return std::unexpected(fmt::format("SO_ATTACH_FILTER: {}", std::strerror(err)));
  return text;
}

constexpr int reader_nice = -10;

struct Waiter {
  std::function<bool(const RawPacket&)> match;
  bool matched = false;
};

}  // namespace

struct LiveCapture::Impl {
  LiveCaptureConfig config;
  std::string installed_filter;
  pcap_t* handle = nullptr;
  LinkType link = LinkType::ethernet;
  std::optional<PcapWriter> writer;
  // pcapng: the writer and the analyser whose phase and flags annotate each packet.
  std::optional<PcapngWriter> ng_writer;
  std::uint32_t ng_interface = 0;
  std::optional<PacketAnalyzer> annotator;
  TextBuffer comment;
  pcap_stat stats_at_start{};
  int stop_fd = -1;  // eventfd: tells the capture thread to drain and finish
  int flush_fd = -1;  // eventfd: asks the capture thread to drain and say so (flush())
  std::thread reader;

  std::atomic<std::uint64_t> captured{0};
  std::uint64_t stray_fragments = 0;  // capture thread only (read after it is joined)
  detail::FirstFragments first_fragments;
  std::atomic<bool> has_waiters{false};
  mutable std::mutex mutex;  // guards everything below
  std::condition_variable changed;
  std::vector<RawPacket> kept;
  std::vector<Waiter*> waiters;
  bool reader_done = false;
  std::uint64_t flush_asked = 0;  // flush() requests made, and answered (drained after the ask)
  std::uint64_t flush_done = 0;
  std::optional<net::Error> failure;  // the first error of the capture thread
  std::optional<CaptureStats> final_stats;

  ~Impl() {
    if (reader.joinable()) {
      request_stop();
      reader.join();
    }
    writer.reset();  // without commit: the temporary file goes
    ng_writer.reset();
    if (handle != nullptr) pcap_close(handle);
    if (stop_fd >= 0) ::close(stop_fd);
    if (flush_fd >= 0) ::close(flush_fd);
  }

  void request_stop() const {
    const std::uint64_t one = 1;
    // An eventfd write of 1 cannot fail short of a bad descriptor.
    [[maybe_unused]] auto n = ::write(stop_fd, &one, sizeof one);
  }

  void fail(net::Error e) {
    bool first = false;
    {
      std::lock_guard lock(mutex);
      first = !failure;
      if (first) failure = std::move(e);
    }
    if (first && config.on_error) config.on_error();
  }

  net::Result<void> write_packet(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t wire_len) {
    if (writer) return writer->write(ts_ns, data, wire_len);
    if (!ng_writer) return {};
    comment.clear();
    append_notes(comment, annotator->next(ts_ns, data, wire_len));
    return ng_writer->write(ng_interface, ts_ns, data, wire_len, std::string_view(comment.data(), comment.size()));
  }

  static void on_packet(u_char* user, const pcap_pkthdr* hdr, const u_char* bytes) {
    auto* self = reinterpret_cast<Impl*>(user);
    try {
      self->handle_packet(*hdr, bytes);
    } catch (const std::exception& e) {
      // An exception must not cross libpcap's C frames: stop the capture instead.
      self->fail(pcap_failure(std::errc::io_error, "capture on " + self->config.interface,
                              fmt::format("packet handler failed: {}", e.what())));
      pcap_breakloop(self->handle);
    }
  }

  void handle_packet(const pcap_pkthdr& hdr, const u_char* bytes) {
    const std::uint64_t max = config.max_packets;
    if (max != 0 && captured.load(std::memory_order_relaxed) >= max) return;
    // The handle is in nanosecond precision: tv_usec holds nanoseconds.
    const std::int64_t ts_ns = static_cast<std::int64_t>(hdr.ts.tv_sec) * 1'000'000'000 +
                               static_cast<std::int64_t>(hdr.ts.tv_usec);
    const std::span<const std::uint8_t> data(bytes, hdr.caplen);
    if (!config.keep_stray_fragments && is_stray_fragment(ts_ns, data, hdr.len)) {
      ++stray_fragments;
      return;
    }
    if (auto w = write_packet(ts_ns, data, hdr.len); !w) {
      fail(w.error());
      pcap_breakloop(handle);
      return;
    }
    const bool waiting = has_waiters.load(std::memory_order_acquire);
    if (config.keep_packets || config.sink || waiting) {
      RawPacket packet{ts_ns, hdr.len, std::vector<std::uint8_t>(data.begin(), data.end())};
      if (config.sink) config.sink(packet);
      std::lock_guard lock(mutex);
      for (Waiter* w : waiters)
        if (!w->matched && w->match(packet)) w->matched = true;
      if (config.keep_packets) kept.push_back(std::move(packet));
      captured.fetch_add(1, std::memory_order_release);
    } else {
      captured.fetch_add(1, std::memory_order_release);
    }
    if (max != 0 && captured.load(std::memory_order_relaxed) == max && config.on_limit) config.on_limit();
  }

  // A later fragment whose first fragment this capture did not keep.
  bool is_stray_fragment(std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t wire_len) {
    const DecodedPacket d = decode(link, data, wire_len, ts_ns);
    if (d.reached < Layer::network || !d.ip.fragmented()) return false;
    if (d.ip.fragment_offset == 0) {
      if (d.ip.more_fragments) first_fragments.remember(d.ip, ts_ns, {});
      return false;
    }
    return !first_fragments.find(d.ip, ts_ns);
  }

  void run() {
    // A reader that waits for the CPU lets the ring fill up (measured in
    // bench/live): ask for a larger share. Only root may; without it, carry on.
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), reader_nice);
    pollfd fds[3] = {{pcap_get_selectable_fd(handle), POLLIN, 0}, {stop_fd, POLLIN, 0}, {flush_fd, POLLIN, 0}};
    bool stopping = false;
    std::optional<std::uint64_t> flushing;  // the requests to answer once the ring is empty
    for (;;) {
      // Non-blocking: reads every frame the kernel has finished, returns 0 when none is left.
      const int n = pcap_dispatch(handle, -1, &Impl::on_packet, reinterpret_cast<u_char*>(this));
      if (n < 0) {
        if (n != PCAP_ERROR_BREAK)
          fail(pcap_failure(std::errc::io_error, "capture on " + config.interface, pcap_geterr(handle)));
        break;
      }
      if (n > 0) {
        // Taking the lock orders the counter update before a waiter's check.
        { std::lock_guard lock(mutex); }
        changed.notify_all();
        continue;
      }
      // The ring was empty after the stop request was seen: everything queued
      // before stop() has been read.
      if (stopping) break;
      // The same for a flush: everything queued before the request has been read.
      if (flushing) {
        {
          std::lock_guard lock(mutex);
          flush_done = *flushing;
        }
        changed.notify_all();
        flushing.reset();
      }
      if (::poll(fds, 3, -1) < 0 && errno != EINTR) {
        fail(net::system_error(errno, "capture on " + config.interface + ": poll"));
        break;
      }
      if ((fds[1].revents & POLLIN) != 0) stopping = true;
      if ((fds[2].revents & POLLIN) != 0) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto n = ::read(flush_fd, &count, sizeof count);
        std::lock_guard lock(mutex);
        flushing = flush_asked;
      }
    }
    {
      std::lock_guard lock(mutex);
      reader_done = true;
    }
    changed.notify_all();
  }
};

LiveCapture::LiveCapture(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
LiveCapture::LiveCapture(LiveCapture&&) noexcept = default;
LiveCapture& LiveCapture::operator=(LiveCapture&&) noexcept = default;
LiveCapture::~LiveCapture() = default;

net::Result<LiveCapture> LiveCapture::start(LiveCaptureConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  const LiveCaptureConfig& cfg = impl->config;
  const std::string context = "capture on " + cfg.interface;
  if (cfg.interface.empty())
    return std::unexpected(pcap_failure(std::errc::invalid_argument, "capture", "no interface named"));
  if (cfg.snaplen < 64 || cfg.snaplen > 262144)
    return std::unexpected(pcap_failure(std::errc::invalid_argument, context,
                                        fmt::format("snaplen {} is not in 64..262144", cfg.snaplen)));
  if (cfg.buffer_bytes < (1 << 20))
    return std::unexpected(pcap_failure(std::errc::invalid_argument, context,
                                        fmt::format("buffer of {} bytes is under 1 MiB", cfg.buffer_bytes)));

  char errbuf[PCAP_ERRBUF_SIZE] = {};
  impl->handle = pcap_create(cfg.interface.c_str(), errbuf);
  if (impl->handle == nullptr)
    return std::unexpected(pcap_failure(std::errc::io_error, context, errbuf));
  pcap_t* h = impl->handle;
  if (pcap_set_snaplen(h, cfg.snaplen) != 0 || pcap_set_promisc(h, 0) != 0 ||
      pcap_set_immediate_mode(h, 1) != 0 || pcap_set_buffer_size(h, cfg.buffer_bytes) != 0 ||
      pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO) != 0)
    return std::unexpected(pcap_failure(std::errc::invalid_argument, context, pcap_geterr(h)));

  const int status = pcap_activate(h);
  if (status < 0)
    return std::unexpected(pcap_failure(activate_code(status), context, activate_detail(h, status)));
  impl->link = link_type_of(pcap_datalink(h));

  bpf_program program{};
  if (!cfg.filter.empty()) {
    if (pcap_compile(h, &program, cfg.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
      return std::unexpected(pcap_failure(std::errc::invalid_argument, context,
                                          fmt::format("bad filter \"{}\": {}", cfg.filter, pcap_geterr(h))));
    const int set = pcap_setfilter(h, &program);
    pcap_freecode(&program);
    if (set != 0)
      return std::unexpected(pcap_failure(std::errc::io_error, context,
                                          fmt::format("cannot install filter: {}", pcap_geterr(h))));
  }
  impl->installed_filter = cfg.filter;
  if (pcap_datalink(h) == DLT_EN10MB && is_loopback(cfg.interface)) {
    if (auto narrowed = reject_sent_copies(h, cfg.filter); !narrowed)
      return std::unexpected(pcap_failure(std::errc::io_error, context, narrowed.error()));
    else
      impl->installed_filter = *narrowed;
  }
  // Between activation and the filter the ring took in any loopback traffic
  // (libpcap filters those frames again as it reads them). Count from here.
  pcap_stats(h, &impl->stats_at_start);
  if (pcap_setnonblock(h, 1, errbuf) != 0)
    return std::unexpected(pcap_failure(std::errc::io_error, context, errbuf));
  if (pcap_get_selectable_fd(h) < 0)
    return std::unexpected(pcap_failure(std::errc::not_supported, context, "no selectable descriptor"));

  if (!cfg.write_to.empty()) {
    const auto snaplen = static_cast<std::uint32_t>(pcap_snapshot(h));
    if (cfg.write_format.value_or(capture_format_for(cfg.write_to)) == CaptureFormat::pcapng) {
      auto w = PcapngWriter::create(cfg.write_to, cfg.pcapng_section);
      if (!w) return std::unexpected(std::move(w.error()));
      auto id = w->add_interface({.name = cfg.interface, .link = impl->link, .snaplen = snaplen});
      if (!id) return std::unexpected(std::move(id.error()));
      impl->ng_interface = *id;
      impl->ng_writer.emplace(std::move(*w));
      impl->annotator.emplace(impl->link);
    } else {
      auto w = PcapWriter::create(cfg.write_to, impl->link, snaplen);
      if (!w) return std::unexpected(std::move(w.error()));
      impl->writer.emplace(std::move(*w));
    }
  }

  impl->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->stop_fd < 0) return std::unexpected(net::system_error(errno, context + ": eventfd"));
  impl->flush_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->flush_fd < 0) return std::unexpected(net::system_error(errno, context + ": eventfd"));
  // The ring and filter are in place: from here on every matching packet is queued.
  impl->reader = std::thread([p = impl.get()] { p->run(); });
  return LiveCapture(std::move(impl));
}

bool LiveCapture::wait_for(std::function<bool(const RawPacket&)> match,
                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  if (std::any_of(s.kept.begin(), s.kept.end(), match)) return true;
  Waiter waiter{std::move(match)};
  s.waiters.push_back(&waiter);
  s.has_waiters.store(true, std::memory_order_release);
  s.changed.wait_until(lock, deadline, [&] { return waiter.matched || s.reader_done; });
  std::erase(s.waiters, &waiter);
  s.has_waiters.store(!s.waiters.empty(), std::memory_order_release);
  return waiter.matched;
}

bool LiveCapture::flush() {
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  if (s.reader_done) return false;
  const std::uint64_t mine = ++s.flush_asked;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(s.flush_fd, &one, sizeof one);
  s.changed.wait(lock, [&] { return s.flush_done >= mine || s.reader_done; });
  return s.flush_done >= mine;
}

bool LiveCapture::wait_for_count(std::uint64_t n, std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  return s.changed.wait_for(lock, timeout, [&] {
    return s.captured.load(std::memory_order_acquire) >= n || s.reader_done;
  }) && s.captured.load() >= n;
}

std::uint64_t LiveCapture::captured() const noexcept {
  return impl_->captured.load(std::memory_order_acquire);
}
LinkType LiveCapture::link_type() const noexcept { return impl_->link; }
const std::string& LiveCapture::interface() const noexcept { return impl_->config.interface; }
const std::string& LiveCapture::filter() const noexcept { return impl_->installed_filter; }

net::Result<CaptureStats> LiveCapture::stop() {
  Impl& s = *impl_;
  if (s.final_stats) return *s.final_stats;
  if (s.reader.joinable()) {
    s.request_stop();
    s.reader.join();
  }
  CaptureStats stats;
  stats.captured = s.captured.load();
  stats.stray_fragments = s.stray_fragments;
  pcap_stat ps{};
  if (s.handle != nullptr && pcap_stats(s.handle, &ps) == 0) {
    // libpcap's counters are unsigned and may wrap: the difference is still right.
    stats.received = ps.ps_recv - s.stats_at_start.ps_recv;
    stats.dropped_by_kernel = ps.ps_drop - s.stats_at_start.ps_drop;
    stats.dropped_by_interface = ps.ps_ifdrop - s.stats_at_start.ps_ifdrop;
  }
  if (s.handle != nullptr) {
    pcap_close(s.handle);
    s.handle = nullptr;
  }
  std::optional<net::Error> failure;
  {
    std::lock_guard lock(s.mutex);
    failure = s.failure;
  }
  // The file keeps what was written, also after an error: a write error's
  // commit() says how many packets it kept; another error gets that added.
  net::Result<void> committed;
  if (s.writer) committed = s.writer->commit();
  if (s.ng_writer) committed = s.ng_writer->commit();
  const bool had_file = s.writer || s.ng_writer;
  s.writer.reset();
  s.ng_writer.reset();
  if (!committed) return std::unexpected(std::move(committed.error()));
  if (failure) {
    if (had_file)
      failure->detail = fmt::format("{}; the {} packets captured before it are in {}",
                                    failure->detail.empty() ? failure->code.message() : failure->detail,
                                    stats.captured, s.config.write_to.string());
    return std::unexpected(std::move(*failure));
  }
  s.final_stats = stats;
  return stats;
}

std::vector<RawPacket> LiveCapture::take_packets() {
  std::lock_guard lock(impl_->mutex);
  return std::exchange(impl_->kept, {});
}

}  // namespace socklab::capture
