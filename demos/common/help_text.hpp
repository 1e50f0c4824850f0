// --help in the lesson's language. The English help of a flag is written beside
// the flag in the code (add_flag's description); every other language has it in
// its lesson texts, as notes "help.<flag>" (--half-close: help.half_close): the
// demo's own flags in lessons/<lang>/<demo>.md, the common ones and CLI11's own
// words ("help.group.where", "help.cli.usage", ...) in lessons/<lang>/common.md.
// A program with subcommands (demo-chat) has their descriptions in its lesson
// file too ("help.command.server"); a lesson may have its own help.title and
// help.footer.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "lesson.hpp"

namespace socklab::demo {

// The note holding a flag's help: "help.half_close" for --half-close.
[[nodiscard]] std::string help_key(const CLI::Option& o);

// Gives `app`'s --help the texts of a language other than English: `lesson`'s
// for the demo's own flags, `common`'s for the flags in `common_options` (by
// name), the groups, CLI11's own words, the title and the footer.
void localize_help(CLI::App& app, const Lesson& lesson, const Lesson& common,
                   const std::set<std::string>& common_options, const std::string& program);

// --check-notes: the help notes of `l` (a lesson file, or common.md when
// `is_common`) are exactly those of `app`'s flags it must translate; English
// has none (its help is in the code). Adds what is wrong to `problems`.
void check_help_notes(const CLI::App& app, const Lesson& l, Lang lang, bool is_common,
                      const std::set<std::string>& common_options, std::vector<std::string>& problems);

}  // namespace socklab::demo
