#include "help_text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <string_view>

#include "socklab/cli/help_format.hpp"

namespace socklab::demo {

namespace {

// The common.md notes of the help's own words: its title and footer, the groups
// of the flags, and what CLI11 writes itself: a label of its formatter, or a
// phrase it has no label for.
struct CliWord {
  std::string_view key;
  std::string_view label = {};
  std::string_view phrase = {};
};
constexpr std::array<CliWord, 20> kHelpWords{{
    {"help.title"},
    {"help.footer"},
    {"help.group.options"},
    {"help.group.where"},
    {"help.group.output"},
    {"help.group.variants"},
    {"help.group.variants_about"},
    {"help.group.subcommands"},
    {"help.cli.usage", "Usage"},
    {"help.cli.options", "OPTIONS"},
    {"help.cli.excludes", "Excludes"},
    {"help.cli.needs", "Needs"},
    {"help.cli.subcommand", "SUBCOMMAND"},
    {"help.cli.subcommands", "SUBCOMMANDS"},
    {"help.cli.text", "TEXT"},
    {"help.cli.int", "INT"},
    {"help.cli.uint", "UINT"},
    {"help.cli.file", "FILE"},
    {"help.cli.option_group", {}, "[Option Group: "},
    {"help.cli.at_most_one", {}, "[At most 1 of the following options are allowed]"},
}};
// A range's type name ("UINT:INT in [0 - 65535]"): the word between the type and the range.
constexpr std::string_view kCliIn = "help.cli.in";

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string group_key(std::string_view group) { return "help.group." + lowercase(group); }

// The app, its option groups (nameless sub-apps, "Variants") and its
// subcommands (demo-chat server, client) with theirs.
template <typename App>
std::vector<App*> with_sub_apps(App& app) {
  std::vector<App*> out{&app};
  for (App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    for (App* a : with_sub_apps(*sub)) out.push_back(a);
  }
  return out;
}

bool is_command(const CLI::App& a) { return !a.get_name().empty(); }

// The note of a subcommand's description: "help.command.server".
std::string command_key(const CLI::App& a) { return "help.command." + a.get_name(); }

// A lesson may say its program's title and footer itself; else common.md's.
const Lesson& saying(const Lesson& lesson, const Lesson& common, std::string_view key) {
  return lesson.has(key) ? lesson : common;
}

// A flag --help shows: not one hidden in the group "" (--check-notes, --man-page).
bool shown(const CLI::Option& o) { return !o.get_group().empty(); }

}  // namespace

std::string help_key(const CLI::Option& o) {
  std::string name = o.get_name();
  name.erase(0, name.find_first_not_of('-'));
  std::ranges::replace(name, '-', '_');
  return "help." + name;
}

void localize_help(CLI::App& app, const Lesson& lesson, const Lesson& common,
                   const std::set<std::string>& common_options, const std::string& program) {
  // A note the texts lack keeps the English: --check-notes names it.
  const auto set = [](const Lesson& from, std::string_view key, const auto& apply) {
    if (from.has(key)) apply(from.note(key));
  };
  const Lesson& title = saying(lesson, common, "help.title");
  if (title.has("help.title")) app.description(title.note("help.title", {{"program", program}, {"title", lesson.title()}}));
  set(saying(lesson, common, "help.footer"), "help.footer", [&](const std::string& t) {
    for (CLI::App* a : with_sub_apps(app)) {
      if (a == &app || (is_command(*a) && !a->get_footer().empty())) a->footer(t);  // subcommands copied the English one
    }
  });
  for (CLI::App* a : with_sub_apps(app)) {
    if (a != &app && is_command(*a)) {
      set(lesson, command_key(*a), [&](std::string t) { a->description(std::move(t)); });
      set(common, group_key(a->get_group()), [&](std::string t) { a->group(std::move(t)); });
    } else if (a != &app) {
      const std::string key = group_key(a->get_group());
      set(common, key + "_about", [&](std::string t) { a->description(std::move(t)); });
      set(common, key, [&](std::string t) { a->group(std::move(t)); });
    }
    for (CLI::Option* o : a->get_options()) {
      if (!shown(*o)) continue;
      set(common_options.contains(o->get_name()) ? common : lesson, help_key(*o),
          [&](std::string t) { o->description(std::move(t)); });
      set(common, group_key(o->get_group()), [&](std::string t) { o->group(std::move(t)); });
    }
  }
  const auto formatter = app.get_formatter();
  const auto wrapping = std::dynamic_pointer_cast<cli::WrappingFormatter>(formatter);
  for (const CliWord& w : kHelpWords) {
    if (!w.label.empty()) set(common, w.key, [&](std::string t) { formatter->label(std::string(w.label), std::move(t)); });
    if (!w.phrase.empty() && wrapping) {
      set(common, w.key, [&](std::string t) { wrapping->translate(std::string(w.phrase), std::move(t)); });
    }
  }
  if (wrapping) set(common, kCliIn, [&](const std::string& t) { wrapping->translate(" in [", " " + t + " ["); });
}

void check_help_notes(const CLI::App& app, const Lesson& l, Lang lang, bool is_common,
                      const std::set<std::string>& common_options, std::vector<std::string>& problems) {
  std::set<std::string> wanted;
  if (lang != Lang::en) {
    for (const CLI::App* a : with_sub_apps(app)) {
      if (!is_common && a != &app && is_command(*a)) wanted.insert(command_key(*a));
      for (const CLI::Option* o : a->get_options()) {
        if (shown(*o) && common_options.contains(o->get_name()) == is_common) wanted.insert(help_key(*o));
      }
    }
    if (is_common) {
      for (const auto& w : kHelpWords) wanted.emplace(w.key);
      wanted.emplace(kCliIn);
    }
  }
  for (const auto& key : wanted) {
    if (!l.has(key)) {
      problems.push_back(fmt::format("lessons/{}: note \"{}\" is missing (--help in this language shows it)", l.path(), key));
    }
  }
  for (const auto& key : l.keys()) {
    if (!key.starts_with("help.") || wanted.contains(key)) continue;
    if (lang != Lang::en && !is_common && (key == "help.title" || key == "help.footer")) continue;  // the lesson's own
    const std::string_view why = lang == Lang::en ? "English help is written beside the flag, in the code"
                                                  : "it is not the help of a flag of this demo (remove it)";
    problems.push_back(fmt::format("lessons/{}: note \"{}\": {}", l.path(), key, why));
  }
}

}  // namespace socklab::demo
