// What every demo server needs around its socket, written once for the lesson
// demos' Session and for demo-chat: the message for a failed bind(), and the
// capture of the server's traffic (or why there is none).
#pragma once

#include <expected>
#include <string>

#include "lesson.hpp"
#include "socklab/net/endpoint.hpp"
#include "socklab/net/error.hpp"

#if SOCKLAB_HAVE_PCAP
#include "socklab/capture/live.hpp"
#endif

namespace socklab::demo {

// True when traffic to `peer` stays on this machine, on the lo interface:
// 127.0.0.0/8, ::1, or one of this machine's own addresses.
[[nodiscard]] bool is_loopback(const net::Endpoint& peer);

// The message for a failed bind() of a server at `at` (--listen/--port), with
// the remedy: a port in use, an address that is not this machine's, a port
// below 1024 without privilege. Any other error: its own message.
[[nodiscard]] std::string explain_bind_failure(const net::Error& e, const net::Endpoint& at, const Lesson& common);

// Why --capture shows no wire, for the user.
struct CaptureProblem {
  std::string text;
  // The capture cannot run here at all: no privilege, or a build without
  // libpcap. Demos exit with exit_capture_not_permitted (4) for it.
  bool not_permitted = false;
};

// This build has no libpcap: the calls are shown without the wire.
[[nodiscard]] CaptureProblem no_capture_support(const Lesson& common);

#if SOCKLAB_HAVE_PCAP
// The capture of the traffic of a server at `server`: on "lo" when it is a
// loopback address, else on "any" (clients may come from anywhere); the
// packets of its port only (capture::port_filter); also written to
// `pcap_path` unless it is empty.
[[nodiscard]] capture::LiveCaptureConfig capture_config_for(const net::Endpoint& server, const std::string& pcap_path);

// Starts a capture, or says why it cannot: a missing privilege names its remedy.
[[nodiscard]] std::expected<capture::LiveCapture, CaptureProblem> start_capture(capture::LiveCaptureConfig config);
#endif

}  // namespace socklab::demo
