#include "socklab/capture/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>

namespace socklab::capture {

namespace {

struct Range {
  char32_t first, last;
};

// Unicode East Asian Width W and F (Unicode 15), merged into ranges.
constexpr std::array<Range, 60> wide_ranges{{
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18CD5}, {0x1B000, 0x1B2FB}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
    {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F251}, {0x1F300, 0x1F64F},
    {0x1F680, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
}};

// Combining marks and invisible format characters: no column of their own.
constexpr std::array<Range, 12> zero_ranges{{
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},
    {0x064B, 0x065F}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F},
    {0x2028, 0x202E}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
}};

bool in(const auto& ranges, char32_t c) {
  const auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                                   [](char32_t v, const Range& r) { return v < r.first; });
  return it != ranges.begin() && c <= std::prev(it)->last;
}

int char_width(char32_t c) {
  if (c < 0x20 || (c >= 0x7f && c < 0xa0)) return 0;
  if (c < 0x300) return 1;
  if (in(zero_ranges, c)) return 0;
  return in(wide_ranges, c) ? 2 : 1;
}

// One UTF-8 character from text[pos]: its code point and length. An invalid
// byte is taken alone (as U+FFFD, one column), so nothing is ever read past the end.
struct Decoded {
  char32_t c;
  std::size_t len;
};
Decoded decode(std::string_view s, std::size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) return {b0, 1};
  std::size_t len = 0;
  char32_t c = 0;
  if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    c = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    c = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    c = b0 & 0x07;
  } else {
    return {0xfffd, 1};
  }
  if (pos + len > s.size()) return {0xfffd, 1};
  for (std::size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xc0) != 0x80) return {0xfffd, 1};
    c = (c << 6) | (b & 0x3f);
  }
  return {c, len};
}

bool is_cjk(char32_t c) { return c >= 0x2E80 && char_width(c) == 2; }

// Marks that must not begin a line (kinsoku): closing punctuation, Chinese and ASCII.
bool no_break_before(char32_t c) {
  constexpr std::u32string_view closing = U"，。、：；！？）」』】》〉〕’”…,.;:!?)]}";
  return closing.find(c) != std::u32string_view::npos;
}
// Marks that must not end a line: opening brackets.
bool no_break_after(char32_t c) {
  constexpr std::u32string_view opening = U"（「『【《〈〔‘“([{";
  return opening.find(c) != std::u32string_view::npos;
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

}  // namespace

std::optional<ColorMode> parse_color_mode(std::string_view text) noexcept {
  if (text == "auto") return ColorMode::auto_detect;
  if (text == "always") return ColorMode::always;
  if (text == "never") return ColorMode::never;
  return std::nullopt;
}

bool use_color(ColorMode mode, int fd) noexcept {
  if (env_set("NO_COLOR")) return false;
  switch (mode) {
    case ColorMode::never: return false;
    case ColorMode::always: return true;
    case ColorMode::auto_detect: break;
  }
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") return false;
  return ::isatty(fd) == 1;
}

bool locale_is_utf8() noexcept {
  // The first of these that is set decides, as for setlocale(LC_CTYPE, "").
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    std::string value(v);
    std::transform(value.begin(), value.end(), value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return value.find("utf-8") != std::string::npos || value.find("utf8") != std::string::npos;
  }
  return false;
}

int terminal_width(int fd, int fallback) noexcept {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return fallback;
}

std::size_t display_width(std::string_view text) noexcept {
  std::size_t width = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const auto [c, len] = decode(text, pos);
    width += static_cast<std::size_t>(char_width(c));
    pos += len;
  }
  return width;
}

std::string fit(std::string_view text, std::size_t width, bool unicode) {
  if (display_width(text) <= width) return std::string(text);
  const std::string_view mark = unicode ? "…" : "~";
  if (width == 0) return {};
  std::string out;
  std::size_t used = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const auto [c, len] = decode(text, pos);
    const auto w = static_cast<std::size_t>(char_width(c));
    if (used + w + 1 > width) break;  // keep one column for the mark
    out.append(text.substr(pos, len));
    used += w;
    pos += len;
  }
  out += mark;
  return out;
}

std::vector<std::string> wrap(std::string_view text, std::size_t width) {
  width = std::max<std::size_t>(width, 2);  // room for one wide character
  // Pieces that stay together: runs of non-space characters, where each
  // Chinese character is a piece of its own (closing marks stick to the piece
  // before them, opening marks to the one after).
  struct Piece {
    std::string text;
    std::size_t width;
    bool space_before;
  };
  std::vector<Piece> pieces;
  bool space = false;
  bool glue_next = false;  // the last piece ended with an opening mark
  bool prev_cjk = false;
  for (std::size_t pos = 0; pos < text.size();) {
    const auto [c, len] = decode(text, pos);
    const std::string_view bytes = text.substr(pos, len);
    pos += len;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !pieces.empty();
      glue_next = false;
      prev_cjk = false;
      continue;
    }
    const auto w = static_cast<std::size_t>(char_width(c));
    // A Chinese character may start a line, and so may whatever follows one.
    const bool starts_piece = pieces.empty() || space ||
                              (!glue_next && !no_break_before(c) && (is_cjk(c) || prev_cjk));
    if (starts_piece)
      pieces.push_back({std::string(bytes), w, space});
    else {
      pieces.back().text += bytes;
      pieces.back().width += w;
    }
    space = false;
    glue_next = no_break_after(c);
    prev_cjk = is_cjk(c);
  }

  std::vector<std::string> lines(1);
  std::size_t used = 0;
  for (auto& piece : pieces) {
    const std::size_t gap = (piece.space_before && used > 0) ? 1 : 0;
    if (used + gap + piece.width <= width) {
      if (gap) lines.back() += ' ';
      lines.back() += piece.text;
      used += gap + piece.width;
      continue;
    }
    if (piece.width <= width) {
      lines.emplace_back(piece.text);
      used = piece.width;
      continue;
    }
    // Longer than a whole line: split it by characters.
    if (used > 0) {
      lines.emplace_back();
      used = 0;
    }
    for (std::size_t pos = 0; pos < piece.text.size();) {
      const auto [c, len] = decode(piece.text, pos);
      const auto w = static_cast<std::size_t>(char_width(c));
      if (used + w > width) {
        lines.emplace_back();
        used = 0;
      }
      lines.back().append(piece.text, pos, len);
      used += w;
      pos += len;
    }
  }
  return lines;
}

std::string pad_right(std::string_view text, std::size_t width) {
  std::string out(text);
  const auto w = display_width(text);
  if (w < width) out.append(width - w, ' ');
  return out;
}

std::string pad_left(std::string_view text, std::size_t width) {
  const auto w = display_width(text);
  std::string out;
  if (w < width) out.append(width - w, ' ');
  out += text;
  return out;
}

}  // namespace socklab::capture
