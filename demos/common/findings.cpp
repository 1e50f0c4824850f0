#include "findings.hpp"

#include <stdexcept>
#include <utility>

#include "render.hpp"

namespace socklab::demo {

Verdict& Findings::verdict(std::string name, nlohmann::json expected, nlohmann::json observed, NoteKey text,
                           const Values& values) {
  const bool ok = expected == observed;
  return verdict(std::move(name), std::move(expected), std::move(observed), ok, text, values);
}

Verdict& Findings::verdict(std::string name, nlohmann::json expected, nlohmann::json observed, bool ok,
                           NoteKey text, const Values& values) {
  Values all = values;
  all.emplace_back("expected", render_value(expected));
  all.emplace_back("observed", render_value(observed));
  Verdict v{std::move(name), std::move(expected), std::move(observed), ok, lesson_->note(text, all), {}};
  order_.push_back({true, verdicts_.size()});
  verdicts_.push_back(std::move(v));
  return verdicts_.back();
}

void Findings::why(NoteKey reason, const Values& values) {
  if (verdicts_.empty()) throw std::logic_error("why() before any verdict()");
  verdicts_.back().why = lesson_->note(reason, values);
}

void Findings::fact(std::string name, nlohmann::json value, NoteKey text, const Values& values) {
  Values all = values;
  all.emplace_back("value", render_value(value));
  order_.push_back({false, facts_.size()});
  facts_.push_back(Fact{std::move(name), std::move(value), lesson_->note(text, all)});
}

}  // namespace socklab::demo
