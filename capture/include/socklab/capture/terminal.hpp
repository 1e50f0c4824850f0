// Terminal text: display width (Chinese characters take two columns), wrapping
// and cutting to a width, and the decisions every socklab program makes the same
// way: colour (--color auto|always|never, NO_COLOR, a terminal or not) and
// Unicode box drawing or plain ASCII.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace socklab::capture {

enum class ColorMode { auto_detect, always, never };

// "auto", "always", "never" (the values of --color); nullopt for anything else.
std::optional<ColorMode> parse_color_mode(std::string_view text) noexcept;

// Whether to colour output written to `fd`:
//   NO_COLOR set (to anything non-empty) -> never, whatever the mode: the
//     project promises "never with NO_COLOR set";
//   never -> no; always -> yes (even into a pipe or a file);
//   auto -> only when fd is a terminal (and TERM is not "dumb").
bool use_color(ColorMode mode, int fd) noexcept;

// Whether the user's locale is UTF-8 (LC_ALL, then LC_CTYPE, then LANG, as the
// C library reads them), so box-drawing characters will show.
bool locale_is_utf8() noexcept;

// Columns of the terminal on `fd`, or `fallback` when it is not a terminal.
int terminal_width(int fd, int fallback = 80) noexcept;

// Columns `text` (UTF-8) takes on a terminal: East Asian wide and fullwidth
// characters count two, combining marks zero, everything else one (an invalid
// byte counts one). Not locale-dependent.
std::size_t display_width(std::string_view text) noexcept;

// `text` cut to at most `width` columns, ending in "…" (ASCII: "~") when cut.
std::string fit(std::string_view text, std::size_t width, bool unicode = true);

// `text` broken into lines of at most `width` columns: at spaces, and between
// Chinese characters (never before a closing mark such as "，" or "。"). A word
// longer than the width is split. Always at least one line.
std::vector<std::string> wrap(std::string_view text, std::size_t width);

// `text` padded with spaces to `width` columns (left- or right-aligned).
std::string pad_right(std::string_view text, std::size_t width);
std::string pad_left(std::string_view text, std::size_t width);

}  // namespace socklab::capture
