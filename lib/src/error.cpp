#include "socklab/net/error.hpp"

#include <cstring>

namespace socklab::net {

namespace {

class SocklabCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "socklab"; }
  [[nodiscard]] std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::invalid_endpoint: return "invalid endpoint";
      case errc::frame_too_large: return "frame too large";
      case errc::malformed_frame: return "malformed frame";
      case errc::eof_in_frame: return "connection closed in the middle of a frame";
      case errc::timed_out: return "timed out";
      case errc::not_supported: return "not supported";
    }
    return "unknown socklab error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& socklab_category() noexcept {
  static const SocklabCategory category;
  return category;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), socklab_category()};
}

std::string Error::message() const {
  std::string reason = detail.empty() ? code.message() : detail;
  if (context.empty()) return reason;
  return context + ": " + reason;
}

int Error::errno_value() const noexcept {
  return code.category() == std::system_category() ? code.value() : 0;
}

Error system_error(int errnum, std::string context) {
  return Error{std::error_code(errnum, std::system_category()), std::move(context), {}};
}

Error make_error(errc e, std::string context, std::string detail) {
  return Error{make_error_code(e), std::move(context), std::move(detail)};
}

std::string errno_name(int err) {
  if (err == 0) return {};
  if (const char* name = ::strerrorname_np(err)) return name;
  return "errno " + std::to_string(err);
}

}  // namespace socklab::net
