// Predict, then reveal (--quiz): a few questions asked before the lesson runs,
// graded afterwards against what this very run observed (its verdicts and
// facts), never against a fixed answer.
//
// The questions live in the lesson's Markdown, in a level-2 section whose
// heading contains "Quiz" (documented for lesson writers in demos/README.md):
//
//   - segments [default; number; capture; verdict handshake_segments observed count]: How many ...?
//   - side [--merged; choice client=客户端 server=服务器; fact closer value]: Which side ...?
//
// The bracket says when the question is asked (the variant's flags, or
// "default" with the options that keep the default variant), the kind of answer
// (a number, or one of the choices: token=label, the label in the lesson's
// language), "capture" when only the wire shows it, and where the run's value
// is read: a verdict's observed/expected or a fact's value, an optional .path
// into it, then optionally "count" (the length of a list) or "gt:a,b" (yes when
// field a is greater than field b, else no). en and zh must agree on the
// brackets except the labels (--check-notes checks it).
#pragma once

#include <cstdio>
#include <expected>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "lesson.hpp"
#include "options.hpp"

namespace socklab::demo {

class Session;

namespace quiz {

struct Choice {
  std::string token;  // what --answers and the JSON use: "client", "TIME_WAIT", "yes"
  std::string label;  // what the lesson's language shows: "客户端" (the token when none is given)
};

struct Question {
  std::string id;
  std::string when;                 // "default" or the variant's flags ("--loss", "--fix length")
  std::vector<std::string> keeps;   // with "default": the demo's options that keep the default variant
  std::vector<Choice> choices;      // empty: the answer is a whole number
  bool needs_capture = false;
  std::string source;               // "verdict" or "fact"
  std::string name;                 // the verdict's or fact's name
  std::string field;                // "observed", "expected" or "value", then an optional .path
  std::string transform;            // "", "count" or "gt:a,b"
  std::string spec;                 // the bracket without the labels (en and zh must agree)
  std::string text;                 // the question, in the lesson's language
};

// The questions of a lesson (none when it has no Quiz section), or the problem
// with its file and line.
std::expected<std::vector<Question>, std::string> parse(const Lesson& lesson);

// The problems between the en and zh questions of a lesson (ids, brackets).
std::vector<std::string> compare(const Lesson& en, const Lesson& zh);

struct Graded {
  const Question* question;
  nlohmann::json answer;    // a number or a choice's token
  nlohmann::json observed;  // null: this run did not observe it
  std::optional<bool> ok;   // empty: not graded (not observed)
};

class Quiz {
 public:
  // The questions for this command line (its variant, its capture), or a usage
  // error in the lesson's language. `common_options`: the names of the flags
  // every demo has, so that the rest are the demo's own (its variant).
  static std::expected<Quiz, std::string> prepare(const Lesson& lesson, const Lesson& common, const CLI::App& app,
                                                  const std::set<std::string>& common_options,
                                                  const CommonOptions& opts, const std::string& program);
  // The answers: from --answers, else asked on the terminal (questions on
  // `prompt`, answers from `in`). A usage error when stdin is no terminal and
  // no --answers was given, or an answer does not fit its question.
  std::optional<std::string> collect(const CommonOptions& opts, std::FILE* in, std::FILE* prompt);
  // Grades each answer by the run's own verdicts and facts.
  void grade(const Session& s);

  void print_text(std::FILE* out, bool ascii, std::size_t width) const;
  void print_json(std::FILE* out) const;
  [[nodiscard]] const std::vector<Graded>& graded() const noexcept { return graded_; }

 private:
  std::optional<nlohmann::json> read_answer(const Question& q, const std::string& word) const;
  std::string shown(const Question& q, const nlohmann::json& v) const;

  const Lesson* common_ = nullptr;
  std::vector<Question> questions_;
  std::vector<Graded> graded_;
};

}  // namespace quiz
}  // namespace socklab::demo
