#include "app_view.hpp"

namespace socklab::cli::detail {

namespace {

// CLI11's type name is the value type, then each check's description after ':':
// "TEXT:{en,zh}", "UINT:INT in [0 - 65535]".
void read_type_name(const std::string& type_name, OptionView& v) {
  const std::string base = type_name.substr(0, type_name.find(':'));
  v.numeric = base == "INT" || base == "UINT" || base == "FLOAT" || base == "NUMBER";
  v.value_name = base.empty() ? "VALUE" : base;
  const auto open = type_name.find(":{");
  const auto close = type_name.find('}', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return;
  const std::string list = type_name.substr(open + 2, close - open - 2);
  std::string word;
  for (char c : list + ",") {
    if (c == ',') {
      if (!word.empty()) v.choices.push_back(word);
      word.clear();
    } else if (c != ' ') {
      word += c;
    }
  }
  if (v.choices.empty()) return;
  v.value_name.clear();
  for (const auto& c : v.choices) v.value_name += (v.value_name.empty() ? "" : "|") + c;
}

}  // namespace

namespace {

// The options of `app` --help shows under `app`, appended to `out`; those of its
// option groups (add_option_group: nameless Apps inside it) under each group's name.
void collect(const CLI::App& app, const std::string& group_name, std::vector<OptionView>& out) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group().empty()) continue;
    if (!group_name.empty() && opt == app.get_help_ptr()) continue;  // a group's own help is its parent's
    OptionView v;
    v.positional = !opt->nonpositional();
    if (v.positional) {
      v.names.push_back(opt->get_name());
    } else {
      for (const auto& s : opt->get_snames()) v.names.push_back("-" + s);
      for (const auto& l : opt->get_lnames()) v.names.push_back("--" + l);
    }
    v.takes_value = v.positional || opt->get_items_expected_max() > 0;  // a flag expects none
    if (v.takes_value) read_type_name(opt->get_type_name(), v);
    v.description = opt->get_description();
    v.group = group_name.empty() ? opt->get_group() : group_name;
    out.push_back(std::move(v));
  }
  for (const CLI::App* group : app.get_subcommands([](const CLI::App* s) { return s->get_name().empty(); })) {
    if (!group->get_group().empty()) collect(*group, group->get_group(), out);
  }
}

}  // namespace

std::vector<OptionView> visible_options(const CLI::App& app) {
  std::vector<OptionView> out;
  collect(app, "", out);
  return out;
}

std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return !sub->get_group().empty() && !sub->get_name().empty(); });
}

}  // namespace socklab::cli::detail
