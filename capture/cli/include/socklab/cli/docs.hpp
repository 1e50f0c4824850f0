// Man pages and bash completions generated from a program's CLI::App, the same
// object that prints --help, so the three cannot drift apart. The build runs each
// program with the hidden flags below and installs what they print.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace socklab::cli {

// What a man page says beyond the flags.
struct ManPageInfo {
  std::string description{};          // DESCRIPTION: plain text, paragraphs split by blank lines
  std::vector<std::string> examples{};  // EXAMPLES: command lines, each may end in "# what it shows"
  std::vector<std::string> files{};     // FILES: "path: what it is"
  std::vector<std::string> see_also{};  // SEE ALSO: "socklab-capture(1)"
};

// The man page (roff, man(7) macros, section 1) of `app` and its subcommands.
[[nodiscard]] std::string man_page(const CLI::App& app, const ManPageInfo& info);

// A bash completion script for `app`: its flags, its subcommands and theirs, the
// choices of options checked with CLI::IsMember, file or host names for a value
// whose description speaks of a file or an address.
[[nodiscard]] std::string bash_completion(const CLI::App& app);

// The command lines of `program` in the ```sh blocks of a Markdown text (a lesson's
// "Run it"), as written there: "sudo demo-handshake --capture  # the calls and the wire".
[[nodiscard]] std::vector<std::string> markdown_examples(std::string_view markdown, std::string_view program);

// Adds the hidden flags --man-page and --bash-completion to `app`. Each prints its
// document for `app` as it stands when parsed (all flags and subcommands added) and
// ends the parse with CLI::Success (app.exit() returns 0), before any requirement
// such as a missing subcommand is checked. `info` is called only for --man-page.
void add_doc_flags(CLI::App& app, std::function<ManPageInfo()> info);

}  // namespace socklab::cli
