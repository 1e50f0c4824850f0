#include "quiz.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common_notes.hpp"
#include "render.hpp"
#include "session.hpp"
#include "socklab/capture/terminal.hpp"

namespace socklab::demo::quiz {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// One bracket: "default --backlog; number; capture; verdict x observed count".
std::optional<std::string> read_spec(std::string_view spec, Question& q) {
  std::vector<std::string> kept;  // the fields without the choices' labels, for compare()
  std::size_t start = 0;
  bool first = true;
  while (start <= spec.size()) {
    const std::size_t end = std::min(spec.find(';', start), spec.size());
    const auto w = words(trim(spec.substr(start, end - start)));
    start = end + 1;
    if (w.empty()) return "an empty field in [...]";
    if (first) {
      first = false;
      q.when = w[0] == "default" ? "default" : join(w, " ");
      if (w[0] == "default") q.keeps.assign(w.begin() + 1, w.end());
      if (w[0] != "default" && !w[0].starts_with("--")) return "the first field says when: \"default\" or the variant's flags";
      kept.push_back(join(w, " "));
    } else if (w[0] == "number" && w.size() == 1) {
      kept.emplace_back("number");
    } else if (w[0] == "choice" && w.size() >= 3) {
      std::string tokens = "choice";
      for (std::size_t i = 1; i < w.size(); ++i) {
        const std::size_t eq = w[i].find('=');
        Choice c{w[i].substr(0, eq), eq == std::string::npos ? w[i] : w[i].substr(eq + 1)};
        if (c.token.empty() || c.label.empty()) return fmt::format("choice \"{}\" needs a token (and token=label)", w[i]);
        tokens += " " + c.token;
        q.choices.push_back(std::move(c));
      }
      kept.push_back(tokens);
    } else if (w[0] == "capture" && w.size() == 1) {
      q.needs_capture = true;
      kept.emplace_back("capture");
    } else if ((w[0] == "verdict" || w[0] == "fact") && (w.size() == 3 || w.size() == 4)) {
      q.source = w[0];
      q.name = w[1];
      q.field = w[2];
      const std::string head = q.field.substr(0, q.field.find('.'));
      const bool field_ok = q.source == "fact" ? head == "value" : (head == "observed" || head == "expected");
      if (!field_ok) return fmt::format("\"{}\" has no field \"{}\" (a verdict: observed, expected; a fact: value)", q.source, head);
      if (w.size() == 4) {
        q.transform = w[3];
        if (q.transform != "count" && !(q.transform.starts_with("gt:") && q.transform.find(',') != std::string::npos)) {
          return fmt::format("\"{}\": the last word of the source is count or gt:a,b", q.transform);
        }
      }
      kept.push_back(join(w, " "));
    } else {
      return fmt::format("\"{}\" is not a field of a question (when; number or choice ...; capture; verdict/fact ...)",
                         join(w, " "));
    }
  }
  if (q.source.empty()) return "no source: \"verdict NAME observed\" or \"fact NAME value\"";
  if (q.transform.starts_with("gt:") && q.choices.empty()) return "gt:a,b answers yes or no: make it \"choice yes no\"";
  q.spec = join(kept, "; ");
  return std::nullopt;
}

// The run's value at the question's source, or null when this run has none.
nlohmann::json observe(const Question& q, const Session& s) {
  const nlohmann::json* at = nullptr;
  const std::string head = q.field.substr(0, q.field.find('.'));
  nlohmann::json holder;
  if (q.source == "verdict") {
    for (const auto& v : s.verdicts()) {
      if (v.name == q.name) holder = head == "observed" ? v.observed : v.expected;
    }
  } else {
    for (const auto& f : s.facts()) {
      if (f.name == q.name) holder = f.value;
    }
  }
  at = &holder;
  for (std::size_t dot = q.field.find('.'); dot != std::string::npos && at->is_object();) {
    const std::size_t next = q.field.find('.', dot + 1);
    const std::string key = q.field.substr(dot + 1, next == std::string::npos ? std::string::npos : next - dot - 1);
    if (!at->contains(key)) return nullptr;
    at = &(*at)[key];
    dot = next;
  }
  if (at->is_null()) return nullptr;
  if (q.transform == "count") return at->is_array() ? nlohmann::json(at->size()) : nlohmann::json();
  if (q.transform.starts_with("gt:")) {
    const std::string pair = q.transform.substr(3);
    const std::string a = pair.substr(0, pair.find(',')), b = pair.substr(pair.find(',') + 1);
    if (!at->is_object() || !at->contains(a) || !at->contains(b) || !(*at)[a].is_number() || !(*at)[b].is_number()) {
      return nullptr;
    }
    return (*at)[a].get<double>() > (*at)[b].get<double>() ? "yes" : "no";
  }
  return *at;
}

}  // namespace

std::expected<std::vector<Question>, std::string> parse(const Lesson& lesson) {
  std::vector<Question> out;
  const std::string& md = lesson.markdown();
  bool in_quiz = false, in_code = false;
  std::size_t line_no = 0;
  Question* last = nullptr;
  for (std::size_t pos = 0; pos <= md.size();) {
    const std::size_t eol = std::min(md.find('\n', pos), md.size());
    const std::string_view raw(md.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    const std::string_view line = trim(raw);
    auto error = [&](std::string_view what) {
      return std::unexpected(fmt::format("lessons/{}:{}: {}", lesson.path(), line_no, what));
    };
    if (line.starts_with("```")) in_code = !in_code;
    if (in_code) continue;
    if (line.starts_with("#")) {
      in_quiz = line.starts_with("## ") && line.find("Quiz") != std::string_view::npos;
      last = nullptr;
      continue;
    }
    if (!in_quiz || line.empty() || line.starts_with("<!--")) {
      last = nullptr;
      continue;
    }
    if (raw.starts_with("  ") && last != nullptr) {
      last->text += ' ';
      last->text += line;
      continue;
    }
    if (!line.starts_with("- ")) continue;  // the section's prose
    const std::size_t open = line.find(" ["), close = line.find("]:");
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
      return error("a question reads \"- id [when; kind; source]: text\"");
    }
    Question q;
    q.id = std::string(trim(line.substr(2, open - 2)));
    if (q.id.empty() || q.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
      return error(fmt::format("question id \"{}\" may use only a-z, 0-9 and _", q.id));
    }
    if (auto problem = read_spec(line.substr(open + 2, close - open - 2), q)) return error(*problem);
    for (const auto& other : out) {
      if (other.id == q.id && other.when == q.when) return error(fmt::format("question \"{}\" appears twice", q.id));
    }
    q.text = std::string(trim(line.substr(close + 2)));
    if (q.text.empty()) return error(fmt::format("question \"{}\" has no text", q.id));
    out.push_back(std::move(q));
    last = &out.back();
  }
  for (auto& q : out) q.text.erase(std::remove(q.text.begin(), q.text.end(), '`'), q.text.end());
  return out;
}

std::vector<std::string> compare(const Lesson& en, const Lesson& zh) {
  std::vector<std::string> problems;
  auto a = parse(en), b = parse(zh);
  if (!a) problems.push_back(a.error());
  if (!b) problems.push_back(b.error());
  if (!a || !b) return problems;
  if (a->size() != b->size()) {
    problems.push_back(fmt::format("lessons/{} has {} quiz questions, lessons/{} {}", en.path(), a->size(), zh.path(), b->size()));
    return problems;
  }
  for (std::size_t i = 0; i < a->size(); ++i) {
    const auto &x = (*a)[i], &y = (*b)[i];
    if (x.id != y.id || x.spec != y.spec) {
      problems.push_back(fmt::format("quiz question {}: lessons/{} has \"{} [{}]\", lessons/{} \"{} [{}]\"", i + 1,
                                     en.path(), x.id, x.spec, zh.path(), y.id, y.spec));
    }
  }
  return problems;
}

std::expected<Quiz, std::string> Quiz::prepare(const Lesson& lesson, const Lesson& common, const CLI::App& app,
                                               const std::set<std::string>& common_options, const CommonOptions& opts,
                                               const std::string& program) {
  auto all = parse(lesson);
  if (!all) return std::unexpected(all.error());
  // The demo's own options on this command line: they select the variant.
  // Option groups ("Variants") are nameless sub-apps: their options are read too.
  std::map<std::string, std::string> given;
  std::vector<const CLI::App*> apps{&app};
  for (const CLI::App* g : app.get_subcommands([](const CLI::App* a) { return a->get_name().empty(); })) apps.push_back(g);
  for (const CLI::App* a : apps) {
    for (const CLI::Option* o : a->get_options()) {
      const std::string name = o->get_name();
      if (common_options.contains(name) || o->count() == 0) continue;
      given[name] = o->get_expected_min() == 0 ? "" : o->as<std::string>();
    }
  }
  auto applies = [&](const Question& q) {
    if (q.when == "default") {
      return std::ranges::all_of(given, [&](const auto& g) { return std::ranges::find(q.keeps, g.first) != q.keeps.end(); });
    }
    const auto w = words(q.when);
    const auto it = given.find(w[0]);
    return it != given.end() && (w.size() == 1 || it->second == w[1]);
  };
  Quiz quiz;
  quiz.common_ = &common;
  std::vector<std::string> covered;
  for (const auto& q : *all) {
    const std::string command = q.when == "default" ? program : program + " " + q.when;
    if (std::ranges::find(covered, command) == covered.end()) covered.push_back(command);
    if (applies(q) && (!q.needs_capture || opts.capture)) quiz.questions_.push_back(q);
  }
  if (quiz.questions_.empty()) {
    std::vector<std::string> words_given{program};
    for (const auto& [name, value] : given) words_given.push_back(value.empty() ? name : name + " " + value);
    return std::unexpected(common.note(CommonNote{"quiz_none"},
                                       {{"command", join(words_given, " ")},
                                        {"covered", covered.empty() ? "-" : join(covered, ", ")}}));
  }
  return quiz;
}

std::optional<nlohmann::json> Quiz::read_answer(const Question& q, const std::string& word) const {
  const std::string w(trim(word));
  if (q.choices.empty()) {
    if (w.empty() || w.size() > 9 || w.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return nlohmann::json(std::stol(w));
  }
  for (const auto& c : q.choices) {
    if (lower(w) == lower(c.token) || w == c.label) return nlohmann::json(c.token);
  }
  return std::nullopt;
}

std::string Quiz::shown(const Question& q, const nlohmann::json& v) const {
  if (v.is_string()) {
    for (const auto& c : q.choices) {
      if (c.token == v.get<std::string>()) return c.label;
    }
  }
  return render_value(v);
}

std::optional<std::string> Quiz::collect(const CommonOptions& opts, std::FILE* in, std::FILE* prompt) {
  const Lesson& common = *common_;
  auto expected_form = [&](const Question& q) {
    if (q.choices.empty()) return common.note(CommonNote{"quiz_expect_number"});
    std::vector<std::string> labels;
    for (const auto& c : q.choices) labels.push_back(c.label);
    return common.note(CommonNote{"quiz_expect_choice"}, {{"choices", join(labels, " / ")}});
  };
  graded_.clear();
  if (opts.answers) {
    std::vector<std::string> list;
    for (std::size_t start = 0;;) {
      const std::size_t comma = opts.answers->find(',', start);
      list.push_back(opts.answers->substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (list.size() != questions_.size()) {
      std::vector<std::string> ids;
      for (const auto& q : questions_) ids.push_back(q.id);
      return common.note(CommonNote{"quiz_count"}, {{"given", std::to_string(list.size())},
                                                   {"n", std::to_string(questions_.size())},
                                                   {"ids", join(ids, ",")}});
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto a = read_answer(questions_[i], list[i]);
      if (!a) {
        return common.note(CommonNote{"quiz_bad_answer"}, {{"answer", list[i]},
                                                          {"number", std::to_string(i + 1)},
                                                          {"id", questions_[i].id},
                                                          {"expected", expected_form(questions_[i])}});
      }
      graded_.push_back({&questions_[i], *a, nullptr, std::nullopt});
    }
    return std::nullopt;
  }
  if (::isatty(::fileno(in)) == 0) {
    std::vector<std::string> example;
    for (const auto& q : questions_) example.push_back(q.choices.empty() ? "3" : q.choices.front().token);
    return common.note(CommonNote{"quiz_no_terminal"}, {{"example", join(example, ",")}});
  }
  fmt::print(prompt, "{}\n", common.note(CommonNote{"quiz_intro"}, {{"n", std::to_string(questions_.size())}}));
  for (std::size_t i = 0; i < questions_.size(); ++i) {
    const Question& q = questions_[i];
    for (;;) {
      fmt::print(prompt, "{}. {} ({}) ", i + 1, q.text, expected_form(q));
      std::fflush(prompt);
      std::string line;
      int c = 0;
      while ((c = std::fgetc(in)) != EOF && c != '\n') line += static_cast<char>(c);
      if (c == EOF && line.empty()) return common.note(CommonNote{"quiz_no_answer"}, {{"number", std::to_string(i + 1)}});
      if (auto a = read_answer(q, line)) {
        graded_.push_back({&q, *a, nullptr, std::nullopt});
        break;
      }
      fmt::print(prompt, "{}\n", common.note(CommonNote{"quiz_again"}, {{"expected", expected_form(q)}}));
    }
  }
  return std::nullopt;
}

void Quiz::grade(const Session& s) {
  for (auto& g : graded_) {
    g.observed = observe(*g.question, s);
    const bool fits = g.question->choices.empty() ? g.observed.is_number_integer() : g.observed.is_string();
    if (!fits) {
      g.observed = nullptr;
      g.ok.reset();
      continue;
    }
    g.ok = g.question->choices.empty() ? g.observed.get<std::int64_t>() == g.answer.get<std::int64_t>()
                                       : g.observed.get<std::string>() == g.answer.get<std::string>();
  }
}

void Quiz::print_text(std::FILE* out, bool ascii, std::size_t width) const {
  const Lesson& common = *common_;
  fmt::print(out, "\n{}\n", common.note(CommonNote{"quiz_heading"}));
  int right = 0, graded = 0;
  for (const auto& g : graded_) {
    const std::string answer = shown(*g.question, g.answer);
    std::string mark, text;
    if (!g.ok) {
      mark = ascii ? "[--]" : "?";
      text = common.note(CommonNote{"quiz_unobserved"}, {{"question", g.question->text}, {"answer", answer}});
    } else {
      ++graded;
      right += *g.ok ? 1 : 0;
      mark = ascii ? (*g.ok ? "[ok]" : "[!!]") : (*g.ok ? "✓" : "✗");
      text = common.note(CommonNote{"quiz_line"}, {{"question", g.question->text},
                                                   {"answer", answer},
                                                   {"observed", shown(*g.question, g.observed)}});
    }
    const std::string rest(2 + capture::display_width(mark) + 1, ' ');
    const auto lines = capture::wrap(text, width - rest.size());
    for (std::size_t i = 0; i < lines.size(); ++i) fmt::print(out, "{}{}\n", i == 0 ? "  " + mark + " " : rest, lines[i]);
  }
  for (const auto& line : capture::wrap(common.note(CommonNote{"quiz_score"}, {{"right", std::to_string(right)},
                                                                                {"graded", std::to_string(graded)}}),
                                        width)) {
    fmt::print(out, "{}\n", line);
  }
}

void Quiz::print_json(std::FILE* out) const {
  for (const auto& g : graded_) {
    nlohmann::json j{{"kind", "quiz"},
                     {"id", g.question->id},
                     {"question", g.question->text},
                     {"answer", g.answer},
                     {"observed", g.observed},
                     {"ok", g.ok ? nlohmann::json(*g.ok) : nlohmann::json()}};
    fmt::print(out, "{}\n", j.dump());
  }
}

}  // namespace socklab::demo::quiz
