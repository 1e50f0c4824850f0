// A lesson text (lessons/<lang>/<demo>.md, built into the binary) and the short
// notes the demo prints from it.
//
// The Markdown convention (documented for lesson writers in demos/README.md):
//   - the first "# " line is the title; the first paragraph after it is the goal;
//   - the "## ... Notes ..." section (the first level-2 heading containing "Notes")
//     holds one note per line:   - key: text with {placeholders}
//     A line indented under a note continues it. Keys are [a-z0-9_.]+.
//   - `code` and **bold** marks are dropped from the printed notes and goal.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "note_key.hpp"

namespace socklab::demo {

enum class Lang { en, zh };
std::string_view to_string(Lang l) noexcept;  // "en", "zh"

// Values for the {placeholders} of a note: {"port", "8080"}, ...
using Values = std::vector<std::pair<std::string_view, std::string>>;

class Lesson {
 public:
  // The embedded lessons/<lang>/<name>.md, parsed. Errors name the file and line.
  static std::expected<Lesson, std::string> load(std::string_view name, Lang lang);
  // Parses Markdown text; `path` only names it in errors.
  static std::expected<Lesson, std::string> parse(std::string_view path, std::string_view markdown);

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const std::string& title() const noexcept { return title_; }
  [[nodiscard]] const std::string& goal() const noexcept { return goal_; }
  [[nodiscard]] const std::string& markdown() const noexcept { return markdown_; }
  [[nodiscard]] bool has(std::string_view key) const;
  [[nodiscard]] std::vector<std::string> keys() const;

  // The note's text with its placeholders filled. A key the lesson lacks, or a
  // placeholder without a value, throws std::logic_error naming both: a lesson
  // out of step with its demo is a bug the tests must catch, never a blank line.
  [[nodiscard]] std::string note(NoteKey key, const Values& values = {}) const;
  [[nodiscard]] std::string note(std::string_view key, const Values& values = {}) const;

 private:
  std::string path_;
  std::string markdown_;
  std::string title_;
  std::string goal_;
  std::map<std::string, std::string, std::less<>> notes_;
};

// Fills {name} placeholders ("{{" and "}}" are literal braces); {name|one|other}
// is the word for the count in name: "one" when it is 1, else "other". Throws
// std::logic_error for a placeholder without a value or an unclosed brace.
std::string fill(std::string_view text, const Values& values, std::string_view what);

}  // namespace socklab::demo
