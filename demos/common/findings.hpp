// Findings: what a lesson observed (facts) and judged (verdicts), in the order it
// said them, with the lesson's sentences. Kept apart from the stage that played the
// lesson: the report reads both, a lesson writes to this one.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lesson.hpp"
#include "note_key.hpp"

namespace socklab::demo {

struct Verdict {
  std::string name;           // stable identifier, e.g. "handshake_segments"
  nlohmann::json expected;
  nlohmann::json observed;
  bool ok = false;
  std::string text;           // the lesson's sentence for this point
  std::string why;            // when not ok and the demo knows why: the reason
};

struct Fact {
  std::string name;           // stable identifier, e.g. "connect_us"
  nlohmann::json value;
  std::string text;           // the lesson's sentence, values filled in
};

class Findings {
 public:
  // The sentences come from `lesson`, which must outlive the findings.
  explicit Findings(const Lesson& lesson) : lesson_(&lesson) {}

  // One lesson point: ok when observed == expected ({expected} and {observed} are
  // filled in the text as a learner reads them).
  Verdict& verdict(std::string name, nlohmann::json expected, nlohmann::json observed, NoteKey text,
                   const Values& values = {});
  Verdict& verdict(std::string name, nlohmann::json expected, nlohmann::json observed, bool ok,
                   NoteKey text, const Values& values = {});
  // Why the last verdict differs from the lesson (printed only when it does).
  void why(NoteKey reason, const Values& values = {});
  // Something observed, with the lesson's sentence for it ({value} filled in).
  void fact(std::string name, nlohmann::json value, NoteKey text, const Values& values = {});

  [[nodiscard]] const std::vector<Verdict>& verdicts() const noexcept { return verdicts_; }
  [[nodiscard]] const std::vector<Fact>& facts() const noexcept { return facts_; }
  // Summary lines in the order the lesson produced them: index into facts or verdicts.
  struct SummaryLine {
    bool is_verdict;
    std::size_t index;
  };
  [[nodiscard]] const std::vector<SummaryLine>& summary_order() const noexcept { return order_; }

 private:
  const Lesson* lesson_;
  std::vector<Verdict> verdicts_;
  std::vector<Fact> facts_;
  std::vector<SummaryLine> order_;
};

}  // namespace socklab::demo
