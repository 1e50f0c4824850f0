// What demo-chat relays: one line of UTF-8 text that cannot take over a
// terminal or reorder what others see. Header-only, so its unit test
// (tests/demos/test_chat_text.cpp) checks the very function the server uses.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace socklab::demo::chat {

// Why bytes are not relayable text. The id is the note key's last part
// ("text.<id>" in lessons/<lang>/chat.md) and the "problem" of a refused frame.
enum class TextProblemKind { not_utf8, cut, invalid, control, c1_control, bidi, noncharacter };
inline constexpr std::array<std::string_view, 7> kTextProblemIds{
    "not_utf8", "cut", "invalid", "control", "c1_control", "bidi", "noncharacter"};

struct TextProblem {
  TextProblemKind kind;
  unsigned value = 0;   // the byte (not_utf8, control) or the code point (c1_control, bidi, noncharacter)
  std::size_t at = 0;   // byte offset in the message

  [[nodiscard]] std::string_view id() const { return kTextProblemIds[static_cast<std::size_t>(kind)]; }
  // "0x07" for a byte, "U+009B" for a code point.
  [[nodiscard]] std::string code() const {
    if (kind == TextProblemKind::not_utf8 || kind == TextProblemKind::control) return fmt::format("0x{:02x}", value);
    return fmt::format("U+{:04X}", value);
  }
};

// C1 controls reach a terminal as 8-bit escapes (U+009B is CSI, U+0085 NEL).
constexpr bool is_c1_control(unsigned cp) noexcept { return cp >= 0x80 && cp <= 0x9f; }
// The bidi embeddings, overrides and isolates ("Trojan Source", CVE-2021-42574):
// they reorder the text displayed after them, the sender's and everyone's after it.
constexpr bool is_bidi_control(unsigned cp) noexcept {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}
// Unicode's 66 noncharacters: U+FDD0..U+FDEF and the last two of every plane.
constexpr bool is_noncharacter(unsigned cp) noexcept {
  return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffeU) == 0xfffeU;
}

// The first problem of `bytes` as one relayable line of text, nullopt when there is none.
inline std::optional<TextProblem> text_problem(std::span<const std::byte> bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto b = std::to_integer<unsigned>(bytes[i]);
    std::size_t len = 0;
    unsigned cp = 0;
    if (b < 0x80) {
      if ((b < 0x20 && b != '\t') || b == 0x7f) return TextProblem{TextProblemKind::control, b, i};
      ++i;
      continue;
    }
    if ((b & 0xe0U) == 0xc0) { len = 2; cp = b & 0x1fU; }
    else if ((b & 0xf0U) == 0xe0) { len = 3; cp = b & 0x0fU; }
    else if ((b & 0xf8U) == 0xf0) { len = 4; cp = b & 0x07U; }
    else return TextProblem{TextProblemKind::not_utf8, b, i};
    if (i + len > bytes.size()) return TextProblem{TextProblemKind::cut, 0, i};
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = std::to_integer<unsigned>(bytes[i + k]);
      if ((c & 0xc0U) != 0x80) return TextProblem{TextProblemKind::not_utf8, c, i + k};
      cp = (cp << 6U) | (c & 0x3fU);
    }
    constexpr std::array<unsigned, 5> min_of_len{0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_of_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return TextProblem{TextProblemKind::invalid, 0, i};
    if (is_c1_control(cp)) return TextProblem{TextProblemKind::c1_control, cp, i};
    if (is_bidi_control(cp)) return TextProblem{TextProblemKind::bidi, cp, i};
    if (is_noncharacter(cp)) return TextProblem{TextProblemKind::noncharacter, cp, i};
    i += len;
  }
  return std::nullopt;
}

}  // namespace socklab::demo::chat
