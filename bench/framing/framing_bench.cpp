// bench-framing: what message framing costs over loopback TCP.
//
// For each message size, one run per mode over a fresh 127.0.0.1 connection
// (a sender thread, the receiver on the main thread), each sending for a fixed
// time; the receiver measures from its first recv() to EOF. Payload bytes only
// are counted (length prefixes are overhead, not throughput). The modes:
//
//   raw      the ceiling: the sender send()s one prepared buffer again and
//            again; the receiver recv()s into a large buffer and discards.
//            No message boundaries at all.
//   prefix   LengthPrefixCodec, batched: the sender encode()s as many frames
//            as fit in --batch bytes into one buffer and sends it with one
//            send_all(); the receiver recv()s into a large buffer and feed()s
//            it to the decoder, which hands out frames in place.
//   gather   LengthPrefixCodec, no copy on the sender: encode_header() for each
//            frame, then one sendmsg() with the headers and payloads as an
//            iovec list (up to --batch bytes); the receiver as for prefix.
//   naive    the pattern of a first socket course: per message one send() for
//            the header and one for the payload; the receiver recv_exact()s
//            the header, then the payload.
//
// Every mode but raw checks each message: its size and a sequence number in
// its first 8 bytes, so a lost, duplicated or reordered message fails the run.
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/utsname.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "socklab/net.hpp"

namespace net = socklab::net;
using Clock = std::chrono::steady_clock;

namespace {

enum class Mode { raw, prefix, gather, naive };

constexpr std::string_view name_of(Mode m) {
  switch (m) {
    case Mode::raw: return "raw";
    case Mode::prefix: return "prefix";
    case Mode::gather: return "gather";
    case Mode::naive: return "naive";
  }
  return "?";
}

struct Config {
  double seconds = 0.5;
  int repeat = 5;
  std::vector<std::size_t> sizes = {64, 1024, 65536};
  std::vector<std::string> modes = {"raw", "prefix", "gather", "naive"};
  std::size_t batch = 256 * 1024;
  std::size_t recv_buffer = 1024 * 1024;
  bool json = false;
};

struct RunResult {
  std::uint64_t messages = 0;
  std::uint64_t payload_bytes = 0;
  double seconds = 0;
  std::string error;  // empty when the run was clean
};

// The first 8 bytes of every message: its sequence number.
void stamp(std::span<std::byte> payload, std::uint64_t seq) { std::memcpy(payload.data(), &seq, sizeof seq); }
std::uint64_t stamp_of(std::span<const std::byte> payload) {
  std::uint64_t seq = 0;
  std::memcpy(&seq, payload.data(), sizeof seq);
  return seq;
}

// Hands the kernel every byte of the iovec list, resuming after short writes.
net::Result<void> sendmsg_all(int fd, std::vector<iovec>& iov) {
  std::size_t first = 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = iov.size() - first;
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(net::system_error(errno, "sendmsg"));
    }
    auto left = static_cast<std::size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (left > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return {};
}

// ------------------------------------------------------------ senders

net::Result<void> send_raw(net::TcpStream& out, const Config& cfg, Clock::time_point deadline) {
  const std::vector<std::byte> buffer(cfg.batch, std::byte{0x61});
  while (Clock::now() < deadline)
    if (auto r = out.send_all(buffer); !r) return std::unexpected(r.error());
  return {};
}

net::Result<void> send_prefix(net::TcpStream& out, const Config& cfg, std::size_t size, Clock::time_point deadline) {
  const net::LengthPrefixCodec codec(net::LengthPrefix::network_uint32(), size);
  const std::size_t per_batch = std::max<std::size_t>(1, cfg.batch / (size + codec.header_size()));
  std::vector<std::byte> payload(size, std::byte{0x62});
  std::vector<std::byte> batch;
  batch.reserve(per_batch * (size + codec.header_size()));
  std::uint64_t seq = 0;
  while (Clock::now() < deadline) {
    batch.clear();
    for (std::size_t i = 0; i < per_batch; ++i) {
      stamp(payload, seq++);
      if (auto r = codec.encode(payload, batch); !r) return r;
    }
    if (auto r = out.send_all(batch); !r) return std::unexpected(r.error());
  }
  return {};
}

net::Result<void> send_gather(net::TcpStream& out, const Config& cfg, std::size_t size, Clock::time_point deadline) {
  const net::LengthPrefixCodec codec(net::LengthPrefix::network_uint32(), size);
  // At most 512 frames per sendmsg(): two iovecs each, and IOV_MAX is 1024.
  const std::size_t per_batch =
      std::clamp<std::size_t>(cfg.batch / (size + codec.header_size()), 1, 512);
  std::vector<std::vector<std::byte>> payloads(per_batch, std::vector<std::byte>(size, std::byte{0x63}));
  std::vector<net::PrefixBytes> headers(per_batch);
  std::vector<iovec> iov;
  iov.reserve(2 * per_batch);
  std::uint64_t seq = 0;
  while (Clock::now() < deadline) {
    iov.clear();
    for (std::size_t i = 0; i < per_batch; ++i) {
      stamp(payloads[i], seq++);
      auto header = codec.encode_header(size);
      if (!header) return std::unexpected(header.error());
      headers[i] = *header;
      iov.push_back({headers[i].bytes.data(), headers[i].count});
      iov.push_back({payloads[i].data(), size});
    }
    if (auto r = sendmsg_all(out.fd(), iov); !r) return r;
  }
  return {};
}

net::Result<void> send_naive(net::TcpStream& out, std::size_t size, Clock::time_point deadline) {
  const net::LengthPrefixCodec codec(net::LengthPrefix::network_uint32(), size);
  std::vector<std::byte> payload(size, std::byte{0x64});
  for (std::uint64_t seq = 0;; ++seq) {
    if (seq % 64 == 0 && Clock::now() >= deadline) return {};
    stamp(payload, seq);
    auto header = codec.encode_header(size);
    if (!header) return std::unexpected(header.error());
    if (auto r = out.send_all(header->span()); !r) return std::unexpected(r.error());
    if (auto r = out.send_all(payload); !r) return std::unexpected(r.error());
  }
}

// ------------------------------------------------------------ receivers

net::Result<RunResult> receive_raw(net::TcpStream& in, const Config& cfg, std::size_t size) {
  std::vector<std::byte> buffer(cfg.recv_buffer);
  RunResult result;
  for (;;) {
    auto n = in.recv_some(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    result.payload_bytes += *n;
  }
  result.messages = result.payload_bytes / size;  // as many messages as these bytes would make
  return result;
}

net::Result<RunResult> receive_frames(net::TcpStream& in, const Config& cfg, std::size_t size) {
  net::LengthPrefixCodec codec(net::LengthPrefix::network_uint32(), size);
  std::vector<std::byte> buffer(cfg.recv_buffer);
  RunResult result;
  bool in_order = true;
  for (;;) {
    auto n = in.recv_some(buffer);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    auto fed = net::feed(codec, std::span<const std::byte>(buffer).first(*n), [&](const net::Frame& frame) {
      in_order &= frame.payload.size() == size && stamp_of(frame.payload) == result.messages;
      ++result.messages;
    });
    if (!fed) return std::unexpected(fed.error());
  }
  if (auto done = codec.finish(); !done) return std::unexpected(done.error());
  if (!in_order) result.error = "a message arrived with the wrong size or out of order";
  result.payload_bytes = result.messages * size;
  return result;
}

net::Result<RunResult> receive_naive(net::TcpStream& in, std::size_t size) {
  const net::LengthPrefixCodec codec(net::LengthPrefix::network_uint32(), size);
  std::array<std::byte, 4> header{};
  std::vector<std::byte> payload(size);
  RunResult result;
  bool in_order = true;
  for (;;) {
    auto got = in.recv_exact(header);
    if (!got) return std::unexpected(got.error());
    if (*got == 0) break;
    if (*got < header.size()) return std::unexpected(net::make_error(net::errc::eof_in_frame, "naive receiver"));
    auto length = codec.parse_header(header);
    if (!length) return std::unexpected(length.error());
    got = in.recv_exact(std::span(payload).first(*length));
    if (!got) return std::unexpected(got.error());
    if (*got < *length) return std::unexpected(net::make_error(net::errc::eof_in_frame, "naive receiver"));
    in_order &= *length == size && stamp_of(payload) == result.messages;
    ++result.messages;
  }
  if (!in_order) result.error = "a message arrived with the wrong size or out of order";
  result.payload_bytes = result.messages * size;
  return result;
}

// ------------------------------------------------------------ one run

RunResult run_once(Mode mode, std::size_t size, const Config& cfg) {
  auto listener = net::value_or_throw(net::TcpListener::bind(net::Endpoint::loopback_v4(0)));
  auto client = net::value_or_throw(net::TcpStream::connect(listener.endpoint()));
  auto server = std::move(net::value_or_throw(listener.accept()).stream);

  std::atomic<bool> go{false};
  std::string send_error;
  std::jthread sender([&] {
    go.wait(false);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(cfg.seconds));
    net::Result<void> sent;
    switch (mode) {
      case Mode::raw: sent = send_raw(client, cfg, deadline); break;
      case Mode::prefix: sent = send_prefix(client, cfg, size, deadline); break;
      case Mode::gather: sent = send_gather(client, cfg, size, deadline); break;
      case Mode::naive: sent = send_naive(client, size, deadline); break;
    }
    if (!sent) send_error = sent.error().message();
    (void)client.shutdown_write();
  });

  go = true;
  go.notify_one();
  const auto start = Clock::now();
  net::Result<RunResult> received;
  switch (mode) {
    case Mode::raw: received = receive_raw(server, cfg, size); break;
    case Mode::prefix:
    case Mode::gather: received = receive_frames(server, cfg, size); break;
    case Mode::naive: received = receive_naive(server, size); break;
  }
  const auto elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  sender.join();

  RunResult result = received ? *received : RunResult{};
  result.seconds = elapsed;
  if (!received) result.error = received.error().message();
  if (!send_error.empty()) result.error = "sender: " + send_error;
  return result;
}

// "2 CPUs, Linux 6.1.0, load average 1.20 0.80 0.50": the figures depend on all three.
std::string machine_line() {
  utsname u{};
  std::string kernel = ::uname(&u) == 0 ? std::string(u.sysname) + " " + u.release : "unknown kernel";
  std::string load, load5, load15;
  std::ifstream loadavg("/proc/loadavg");
  loadavg >> load >> load5 >> load15;
  return fmt::format("{} CPUs, {}, load average {} {} {}", std::thread::hardware_concurrency(), kernel, load,
                     load5, load15);
}

std::string size_label(std::size_t size) {
  if (size % 1024 == 0) return std::to_string(size / 1024) + " KiB";
  return std::to_string(size) + " B";
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"bench-framing: messages/s and MB/s over loopback TCP, raw stream vs length-prefix framing"};
  app.add_option("--seconds", cfg.seconds, "How long each run sends")->check(CLI::PositiveNumber);
  app.add_option("--repeat", cfg.repeat, "Rounds per size (each runs every mode once); medians are reported")
      ->check(CLI::Range(1, 100));
  app.add_option("--sizes", cfg.sizes, "Message sizes in bytes (at least 8)")->check(CLI::Range(8, 16 << 20));
  app.add_option("--modes", cfg.modes, "Modes to run: raw, prefix, gather, naive")
      ->check(CLI::IsMember({"raw", "prefix", "gather", "naive"}));
  app.add_option("--batch", cfg.batch, "Bytes per send() in the batched modes")->check(CLI::Range(1, 64 << 20));
  app.add_option("--recv-buffer", cfg.recv_buffer, "Bytes per recv() in the raw and framed receivers")
      ->check(CLI::Range(1, 64 << 20));
  app.add_flag("--json", cfg.json, "One JSON object per result line instead of the table");
  CLI11_PARSE(app, argc, argv);

  std::vector<Mode> modes;
  for (const auto& m : cfg.modes)
    for (const Mode candidate : {Mode::raw, Mode::prefix, Mode::gather, Mode::naive})
      if (name_of(candidate) == m) modes.push_back(candidate);

  if (!cfg.json) fmt::print("{}; batch {} B, recv buffer {} B\n", machine_line(), cfg.batch, cfg.recv_buffer);
  if (!cfg.json)
    fmt::print("{:>8}  {:<7} {:>14} {:>10} {:>9}   (medians of {} rounds of {} s per mode; MB = 10^6 payload bytes)\n",
               "size", "mode", "messages/s", "MB/s", "% of raw", cfg.repeat, cfg.seconds);
  const auto rate = [](const RunResult& r) {
    return r.seconds > 0 ? static_cast<double>(r.payload_bytes) / r.seconds : 0.0;
  };
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  bool clean = true;
  for (const std::size_t size : cfg.sizes) {
    // Rounds run every mode once, back to back, so a change in the machine's
    // load (it is shared) hits all modes alike; each mode is compared with the
    // raw run of its own round.
    std::vector<std::vector<RunResult>> runs(modes.size());
    for (int round = 0; round < cfg.repeat; ++round) {
      for (std::size_t m = 0; m < modes.size(); ++m) {
        try {
          runs[m].push_back(run_once(modes[m], size, cfg));
        } catch (const std::exception& e) {
          runs[m].push_back(RunResult{0, 0, 0, e.what()});
        }
      }
    }
    const auto raw_at = std::find(modes.begin(), modes.end(), Mode::raw);
    for (std::size_t m = 0; m < modes.size(); ++m) {
      std::vector<double> mbps;
      std::vector<double> msgs;
      std::vector<double> of_raw;
      std::string error;
      for (std::size_t r = 0; r < runs[m].size(); ++r) {
        const RunResult& run = runs[m][r];
        if (!run.error.empty()) error = run.error;
        mbps.push_back(rate(run) / 1e6);
        msgs.push_back(run.seconds > 0 ? static_cast<double>(run.messages) / run.seconds : 0.0);
        if (raw_at != modes.end()) {
          const double raw = rate(runs[static_cast<std::size_t>(raw_at - modes.begin())][r]);
          of_raw.push_back(raw > 0 ? 100.0 * rate(run) / raw : 0.0);
        }
      }
      clean &= error.empty();
      if (cfg.json) {
        nlohmann::json line = {{"size", size},
                               {"mode", name_of(modes[m])},
                               {"messages_per_s", median(msgs)},
                               {"mb_per_s", median(mbps)},
                               {"rounds", cfg.repeat},
                               {"seconds", cfg.seconds}};
        if (!of_raw.empty()) line["percent_of_raw"] = median(of_raw);
        if (!error.empty()) line["error"] = error;
        fmt::print("{}\n", line.dump());
      } else {
        fmt::print("{:>8}  {:<7} {:>14.0f} {:>10.1f} {:>8}{}\n", size_label(size), name_of(modes[m]),
                   median(msgs), median(mbps), of_raw.empty() ? "-" : fmt::format("{:.1f}%", median(of_raw)),
                   error.empty() ? "" : "   ERROR: " + error);
      }
    }
  }
  return clean ? 0 : 1;
}
