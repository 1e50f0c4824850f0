// Text and bytes: the lessons send strings, the socket API speaks in bytes.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace socklab::demo {

inline std::span<const std::byte> bytes_of(std::string_view s) noexcept {
  return std::as_bytes(std::span(s.data(), s.size()));
}
inline std::string text_of(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace socklab::demo
