#include "error_text.hpp"

#include <cerrno>
#include <cstring>
#include <string_view>

#include "common_notes.hpp"
#include "stage.hpp"

namespace socklab::demo {

namespace {

// The errnos a lesson's sockets meet, each with its note in common.md.
struct ErrnoNote {
  int value;
  CommonNote key;
};
constexpr ErrnoNote kErrnoNotes[]{
    {ECONNREFUSED, CommonNote{"errno.econnrefused"}},
    {ECONNRESET, CommonNote{"errno.econnreset"}},
    {EPIPE, CommonNote{"errno.epipe"}},
    {ETIMEDOUT, CommonNote{"errno.etimedout"}},
    {EHOSTUNREACH, CommonNote{"errno.ehostunreach"}},
    {ENETUNREACH, CommonNote{"errno.enetunreach"}},
    {ECONNABORTED, CommonNote{"errno.econnaborted"}},
    {EADDRINUSE, CommonNote{"errno.eaddrinuse"}},
    {EADDRNOTAVAIL, CommonNote{"errno.eaddrnotavail"}},
    {EACCES, CommonNote{"errno.eacces"}},
    {EPERM, CommonNote{"errno.eperm"}},
    {EMFILE, CommonNote{"errno.emfile"}},
    {ENFILE, CommonNote{"errno.enfile"}},
    {ENOBUFS, CommonNote{"errno.enobufs"}},
    {ENOMEM, CommonNote{"errno.enomem"}},
};

// Calls whose name may head a context: protocol tokens in every language.
constexpr std::string_view kCalls[]{"connect", "accept", "bind", "listen", "send", "recv", "sendto", "recvfrom",
                                    "socket", "close", "shutdown", "poll", "setsockopt", "getsockopt", "ioctl",
                                    "fcntl", "getsockname", "getpeername", "signalfd", "eventfd", "read", "write",
                                    // the lessons' other system calls (a temporary directory, a socket
                                    // file, capabilities, a helper program)
                                    "mkdtemp", "unlink", "capget", "capset", "pipe", "posix_spawn",
                                    "open_memstream"};

bool names_a_call(std::string_view context) {
  const std::string_view first = context.substr(0, context.find(' '));
  for (std::string_view c : kCalls)
    if (first == c) return true;
  return false;
}

// socklab's own conditions (net::errc), named without lib's English detail.
CommonNote errc_note(net::errc e) {
  switch (e) {
    case net::errc::invalid_endpoint: return CommonNote{"errc.invalid_endpoint"};
    case net::errc::frame_too_large: return CommonNote{"errc.frame_too_large"};
    case net::errc::malformed_frame: return CommonNote{"errc.malformed_frame"};
    case net::errc::eof_in_frame: return CommonNote{"errc.eof_in_frame"};
    case net::errc::timed_out: return CommonNote{"errc.timed_out"};
    case net::errc::not_supported: break;
  }
  return CommonNote{"errc.not_supported"};
}

}  // namespace

std::string errno_text(int err, const Lesson& common, Lang lang) {
  for (const auto& [value, key] : kErrnoNotes)
    if (value == err) return common.note(key);
  // Not one a lesson expects: glibc's words in English, the errno's name otherwise.
  if (lang == Lang::en) return std::strerror(err);
  return common.note(CommonNote{"error_other"}, {{"code", net::errno_name(err)}});
}

std::string error_text(const net::Error& e, const Lesson& common, Lang lang) {
  if (lang == Lang::en && !e.detail.empty()) return e.message();  // lib's detail says exactly what, in English
  std::string reason;
  if (e.code.category() == std::system_category()) reason = errno_text(e.code.value(), common, lang);
  else if (e.code.category() == net::socklab_category()) reason = common.note(errc_note(static_cast<net::errc>(e.code.value())));
  else if (lang == Lang::en) return e.message();
  else reason = common.note(CommonNote{"error_other"}, {{"code", std::to_string(e.code.value())}});
  if (e.context.empty() || (lang != Lang::en && !names_a_call(e.context))) return reason;
  return common.note(CommonNote{"error_in_call"}, {{"call", e.context}, {"reason", reason}});
}

std::string failure_text(const std::exception& e, const Lesson& common, Lang lang) {
  if (const auto* f = dynamic_cast<const DemoFailure*>(&e); f != nullptr && f->error()) {
    return error_text(*f->error(), common, lang);
  }
  if (const auto* n = dynamic_cast<const net::NetException*>(&e)) return error_text(n->error(), common, lang);
  return e.what();
}

}  // namespace socklab::demo
