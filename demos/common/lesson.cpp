#include "lesson.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "socklab_lessons.hpp"

namespace socklab::demo {

std::string_view to_string(Lang l) noexcept { return l == Lang::zh ? "zh" : "en"; }

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool non_ascii(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// Joins a wrapped source line to the text so far, as Markdown would: with a
// space, except between two non-ASCII (Chinese) characters, where a space would show.
void join_line(std::string& text, std::string_view line) {
  if (!text.empty() && !line.empty() && !(non_ascii(text.back()) && non_ascii(line.front()))) {
    text += ' ';
  }
  text += line;
}

// The terminal shows text, not Markdown: drop `code` and **bold** marks.
std::string plain(std::string_view md) {
  std::string out;
  out.reserve(md.size());
  for (std::size_t i = 0; i < md.size(); ++i) {
    if (md[i] == '`') continue;
    if (md[i] == '*' && i + 1 < md.size() && md[i + 1] == '*') {
      ++i;
      continue;
    }
    out += md[i];
  }
  return out;
}

bool valid_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::expected<Lesson, std::string> Lesson::load(std::string_view name, Lang lang) {
  const std::string path = fmt::format("{}/{}.md", to_string(lang), name);
  const auto text = socklab::lessons::find(path);
  if (!text) return std::unexpected(fmt::format("lesson text lessons/{} is not built into this program", path));
  return parse(path, *text);
}

std::expected<Lesson, std::string> Lesson::parse(std::string_view path, std::string_view markdown) {
  Lesson l;
  l.path_ = path;
  l.markdown_ = markdown;
  enum class Where { before_title, goal_search, goal, body, notes } where = Where::before_title;
  std::string* last_note = nullptr;
  bool in_code = false;
  bool in_comment = false;  // <!-- ... --> may span lines
  std::size_t line_no = 0;
  auto error = [&](std::string_view what) {
    return std::unexpected(fmt::format("lessons/{}:{}: {}", path, line_no, what));
  };

  std::size_t pos = 0;
  while (pos <= markdown.size()) {
    const std::size_t eol = std::min(markdown.find('\n', pos), markdown.size());
    const std::string_view raw = markdown.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    const std::string_view line = trim(raw);

    if (in_comment) {
      in_comment = line.find("-->") == std::string_view::npos;
      continue;
    }
    if (line.starts_with("<!--")) {
      in_comment = line.find("-->") == std::string_view::npos;
      continue;
    }
    if (line.starts_with("```")) {
      in_code = !in_code;
      if (where == Where::goal) where = Where::body;
      continue;
    }
    if (in_code) continue;

    if (line.starts_with("# ") && where == Where::before_title) {
      l.title_ = plain(trim(line.substr(2)));
      where = Where::goal_search;
      continue;
    }
    if (line.starts_with("#")) {
      const bool notes_heading = line.starts_with("## ") && line.find("Notes") != std::string_view::npos;
      if (notes_heading && where != Where::notes && l.notes_.empty()) {
        where = Where::notes;
      } else if (where != Where::before_title) {
        where = Where::body;
      }
      last_note = nullptr;
      continue;
    }

    switch (where) {
      case Where::before_title:
        if (!line.empty()) return error("the lesson must start with a \"# Title\" line");
        break;
      case Where::goal_search:
        if (!line.empty()) {
          where = Where::goal;
          join_line(l.goal_, line);
        }
        break;
      case Where::goal:
        if (line.empty()) {
          where = Where::body;
        } else {
          join_line(l.goal_, line);
        }
        break;
      case Where::body:
        break;
      case Where::notes: {
        if (line.empty()) {
          last_note = nullptr;
          break;
        }
        if (line.starts_with("- ")) {
          const std::string_view item = line.substr(2);
          const std::size_t colon = item.find(':');
          if (colon == std::string_view::npos) return error("a note must read \"- key: text\"");
          const std::string_view key = trim(item.substr(0, colon));
          if (!valid_key(key)) {
            return error(fmt::format("note key \"{}\" may use only a-z, 0-9, _ and .", key));
          }
          if (l.notes_.contains(key)) return error(fmt::format("note key \"{}\" appears twice", key));
          auto [it, inserted] = l.notes_.emplace(std::string(key), std::string(trim(item.substr(colon + 1))));
          last_note = &it->second;
          break;
        }
        if (raw.starts_with("  ") && last_note != nullptr) {
          join_line(*last_note, line);
          break;
        }
        return error("inside the Notes section, write \"- key: text\" (indent a line to continue a note)");
      }
    }
  }
  if (in_code) return error("a ``` code block is not closed");
  if (in_comment) return error("a <!-- comment is not closed");
  if (l.title_.empty()) return error("no \"# Title\" line");
  if (l.goal_.empty()) return error("no goal paragraph after the title");
  l.goal_ = plain(l.goal_);
  for (auto& [key, text] : l.notes_) {
    if (text.empty()) {
      return std::unexpected(fmt::format("lessons/{}: note \"{}\" has no text", path, key));
    }
    text = plain(text);
  }
  return l;
}

bool Lesson::has(std::string_view key) const { return notes_.contains(key); }

std::vector<std::string> Lesson::keys() const {
  std::vector<std::string> out;
  for (const auto& [key, text] : notes_) out.push_back(key);
  return out;
}

std::string Lesson::note(NoteKey key, const Values& values) const { return note(key.name(), values); }

std::string Lesson::note(std::string_view key, const Values& values) const {
  const auto it = notes_.find(key);
  if (it == notes_.end()) {
    throw std::logic_error(fmt::format("lessons/{} has no note \"{}\" (add \"- {}: ...\" to its Notes section)",
                                       path_, key, key));
  }
  return fill(it->second, values, fmt::format("note \"{}\" of lessons/{}", key, path_));
}

std::string fill(std::string_view text, const Values& values, std::string_view what) {
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    const std::size_t close = text.find('}', i);
    if (close == std::string_view::npos) {
      throw std::logic_error(fmt::format("{}: \"{{\" without \"}}\"", what));
    }
    const std::string_view inside = text.substr(i + 1, close - i - 1);
    // {n|packet|packets}: the word for the count n, not n itself (English needs it; Chinese does not).
    const std::size_t bar = inside.find('|');
    const std::string_view name = inside.substr(0, bar);
    bool found = false;
    for (const auto& [k, v] : values) {
      if (k == name) {
        if (bar == std::string_view::npos) {
          out += v;
        } else {
          const std::string_view forms = inside.substr(bar + 1);
          const std::size_t second = forms.find('|');
          if (second == std::string_view::npos) {
            throw std::logic_error(fmt::format("{}: {{{}}} needs two forms, {{n|one|other}}", what, inside));
          }
          out += v == "1" ? forms.substr(0, second) : forms.substr(second + 1);
        }
        found = true;
        break;
      }
    }
    if (!found) throw std::logic_error(fmt::format("{}: no value for {{{}}}", what, name));
    i = close;
  }
  return out;
}

}  // namespace socklab::demo
