// socklab::net error model — one for the whole library.
//
// Every operation that can fail returns Result<T> = std::expected<T, Error>.
// An Error carries the std::error_code of the failure (errno values use
// std::system_category(); socklab's own conditions use socklab::net::errc)
// and a short context naming what was being done and to what, so a message
// reads "connect 127.0.0.1:8080: Connection refused". For socklab's own
// conditions an optional detail says exactly what is wrong and replaces the
// generic reason: bad endpoint "1.2.3:x": port is not a number.
//
// - Nothing in lib throws for I/O or parsing failures; factories return Result
//   instead of throwing constructors. Callers that prefer exceptions call
//   value_or_throw(), which throws std::system_error with the same text.
// - No "last error" is cached on any object: the error belongs to the call.
// - EOF is not an error: recv_some() returns 0, recv_exact() a short count.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace socklab::net {

// Conditions that are not errno values.
enum class errc {
  invalid_endpoint = 1,   // text that is not "host:port", "[v6]:port"
  frame_too_large,        // a frame header announced more than the codec's maximum
  malformed_frame,        // bytes that cannot be a frame (negative length, bad JSON header)
  eof_in_frame,           // the peer closed with a frame half received
  timed_out,              // a deadline passed (connect, accept, wait_*)
  not_supported,          // the kernel or socket type cannot do this
};

const std::error_category& socklab_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

struct Error {
  std::error_code code{};
  std::string context{};  // what was being done, e.g. "connect 127.0.0.1:8080"
  std::string detail{};   // what exactly is wrong (optional); replaces code.message() in message()

  // "context: reason" (reason = detail if set, else code.message()), or just
  // the reason when there is no context.
  [[nodiscard]] std::string message() const;
  // The errno value when the code is a system error, else 0.
  [[nodiscard]] int errno_value() const noexcept;
};

template <class T>
using Result = std::expected<T, Error>;

// An Error from an errno value (pass errno right after the failing call).
Error system_error(int errnum, std::string context);
// An Error from one of socklab's own conditions (detail: what exactly is wrong).
Error make_error(errc e, std::string context, std::string detail = {});

// The errno constant's name, as learners look it up: "ECONNREFUSED" for 111;
// "errno 4242" for a value glibc does not name; "" for 0 (no error).
std::string errno_name(int err);

// What value_or_throw() throws: a std::system_error whose what() is Error::message(),
// carrying the Error itself so a catcher can say it in another language.
class NetException : public std::system_error {
 public:
  explicit NetException(const Error& e) : std::system_error(e.code), error_(e), message_(e.message()) {}
  [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }
  [[nodiscard]] const Error& error() const noexcept { return error_; }

 private:
  Error error_;
  std::string message_;
};

// Unwraps a Result or throws NetException (a std::system_error with message()).
template <class T>
T value_or_throw(Result<T>&& r) {
  if (!r) throw NetException(r.error());
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

}  // namespace socklab::net

template <>
struct std::is_error_code_enum<socklab::net::errc> : std::true_type {};
