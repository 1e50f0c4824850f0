// --help text that fits the terminal, for every socklab program (the demos and
// socklab-capture): CLI11's layout, with each line longer than the width wrapped
// at spaces, continuation lines indented under the description column.
//
//   CLI::App app{"Lesson 1", "demo-handshake"};
//   socklab::cli::use_wrapping_help(app);   // before subcommands are added
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace socklab::cli {

// The width help wraps to: $COLUMNS when it is a number from 20 up, else the
// terminal's width when stdout is one, else 80.
[[nodiscard]] std::size_t help_width();

// `text` (lines of CLI11 help) with every line wider than `width` columns
// broken at spaces; a continuation starts under the line's description (after
// its first run of two or more spaces), or under its own indent.
[[nodiscard]] std::string wrap_help(std::string_view text, std::size_t width);

class WrappingFormatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override;
  // Help in another language: each `english` phrase CLI11 writes itself and
  // has no label for ("[Option Group: ") becomes `translated`, before wrapping.
  // (The phrases with a label, "Usage" and "OPTIONS", go through label().)
  void translate(std::string english, std::string translated);
  // The name in the left column, the description wrapped beside it (below it
  // when the name leaves fewer than two spaces).
  std::string make_option(const CLI::Option* opt, bool is_positional) const override;
  // CLI11's, with each word of a type name labelled on its own (label("TEXT", ...)).
  std::string make_option_opts(const CLI::Option* opt) const override;
  // An option group's (or subcommand's) lines, which CLI11 indents by two more
  // columns: its options are wrapped that much narrower, so no line is wrapped twice.
  std::string make_expanded(const CLI::App* sub) const override;

 private:
  std::vector<std::pair<std::string, std::string>> translations_;
  mutable std::size_t nested_ = 0;  // columns the group being made is indented by
};

// Gives `app` the wrapping formatter; subcommands added after this inherit it.
void use_wrapping_help(CLI::App& app);

}  // namespace socklab::cli
