#include "socklab/cli/help_format.hpp"

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <memory>

#include "socklab/capture/terminal.hpp"

namespace socklab::cli {

namespace {

// Below this a description column is not worth keeping: continuations go under the line's own indent.
constexpr std::size_t kMinDescriptionColumns = 24;

// Where a continuation of `line` starts: the bytes of the line before it, and
// the columns they take. {0, 0} when there is no column worth keeping.
struct Hang {
  std::size_t bytes = 0;
  std::size_t columns = 0;
};

Hang hanging_indent(std::string_view line, std::size_t width) {
  const std::size_t lead = line.find_first_not_of(' ');
  if (lead == std::string_view::npos) return {};
  if (const std::size_t gap = line.find("  ", lead); gap != std::string_view::npos) {
    const std::size_t desc = line.find_first_not_of(' ', gap);
    const std::size_t columns = capture::display_width(line.substr(0, desc));
    if (desc != std::string_view::npos && columns + kMinDescriptionColumns <= width) return {desc, columns};
  }
  return lead + kMinDescriptionColumns <= width ? Hang{lead, lead} : Hang{};
}

void wrap_line(std::string_view line, std::size_t width, std::string& out) {
  if (capture::display_width(line) <= width) {
    out.append(line);
    out += '\n';
    return;
  }
  // The head (the option's name, or the indent) stays as CLI11 laid it out;
  // the rest is wrapped to the columns right of it.
  const Hang hang = hanging_indent(line, width);
  const auto lines = capture::wrap(line.substr(hang.bytes), width - hang.columns);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += i == 0 ? std::string(line.substr(0, hang.bytes)) : std::string(hang.columns, ' ');
    out += lines[i];
    out += '\n';
  }
}

}  // namespace

std::size_t help_width() {
  if (const char* columns = std::getenv("COLUMNS"); columns != nullptr) {
    const std::string_view text(columns);
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc{} && end == text.data() + text.size() && n >= 20) return n;
  }
  return static_cast<std::size_t>(capture::terminal_width(STDOUT_FILENO, 80));
}

std::string wrap_help(std::string_view text, std::size_t width) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    wrap_line(text.substr(0, nl), width, out);
    if (nl == std::string_view::npos) {
      out.pop_back();  // the text had no final newline: add none
      break;
    }
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string WrappingFormatter::make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const {
  std::string text = CLI::Formatter::make_help(app, std::move(name), mode);
  for (const auto& [english, translated] : translations_) {
    for (std::size_t at = text.find(english); at != std::string::npos; at = text.find(english, at + translated.size())) {
      text.replace(at, english.size(), translated);
    }
  }
  return wrap_help(text, help_width());
}

void WrappingFormatter::translate(std::string english, std::string translated) {
  if (!english.empty()) translations_.emplace_back(std::move(english), std::move(translated));
}

std::string WrappingFormatter::make_option_opts(const CLI::Option* opt) const {
  // CLI11 labels a type name as a whole ("UINT:INT in [0 - 65535]"): each word is labelled
  // here, so that a program's labels (TEXT, INT, in) translate every part of it.
  const std::string opts = CLI::Formatter::make_option_opts(opt);
  std::string out;
  for (std::size_t i = 0; i < opts.size();) {
    if (std::isalpha(static_cast<unsigned char>(opts[i])) == 0) {
      out += opts[i++];
      continue;
    }
    std::size_t end = i;
    while (end < opts.size() && std::isalpha(static_cast<unsigned char>(opts[end])) != 0) ++end;
    out += get_label(opts.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string WrappingFormatter::make_option(const CLI::Option* opt, bool is_positional) const {
  const std::string name = "  " + make_option_name(opt, is_positional) + make_option_opts(opt);
  const std::string desc = make_option_desc(opt);
  const std::size_t full = help_width();
  const std::size_t width = full > nested_ + 20 ? full - nested_ : full;
  const std::size_t column = get_column_width();
  std::string out = name;
  if (desc.empty()) return out + "\n";
  if (capture::display_width(name) + 2 > column) {
    out += "\n";
  } else {
    out += std::string(column - capture::display_width(name), ' ');
  }
  // Below kMinDescriptionColumns left, the description takes its own lines from the indent.
  const std::size_t indent = column + kMinDescriptionColumns <= width ? column : 4;
  bool first = capture::display_width(name) + 2 <= column;
  for (const auto& line : capture::wrap(desc, width - indent)) {
    if (!first) out += std::string(indent, ' ');
    first = false;
    out += line + "\n";
  }
  return out;
}

std::string WrappingFormatter::make_expanded(const CLI::App* sub) const {
  // CLI11 indents every line after the group's name by two columns.
  struct Nest {
    std::size_t& depth;
    explicit Nest(std::size_t& d) : depth(d) { depth += 2; }
    ~Nest() { depth -= 2; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;
  } nest(nested_);
  return CLI::Formatter::make_expanded(sub);
}

void use_wrapping_help(CLI::App& app) { app.formatter(std::make_shared<WrappingFormatter>()); }

}  // namespace socklab::cli
