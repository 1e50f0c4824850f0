#include <cstdio>
#include <string>

#include "socklab/cli/docs.hpp"

namespace socklab::cli {

std::vector<std::string> markdown_examples(std::string_view markdown, std::string_view program) {
  std::vector<std::string> out;
  bool in_sh = false;
  std::size_t start = 0;
  while (start < markdown.size()) {
    std::size_t end = markdown.find('\n', start);
    if (end == std::string_view::npos) end = markdown.size();
    std::string_view line = markdown.substr(start, end - start);
    start = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.starts_with("```")) {
      in_sh = !in_sh && (line == "```sh" || line == "```bash" || line == "```shell");
      continue;
    }
    if (!in_sh) continue;
    std::string_view command = line;
    if (command.starts_with("sudo ")) command.remove_prefix(5);
    if (command.starts_with(program) &&
        (command.size() == program.size() || command[program.size()] == ' ')) {
      out.emplace_back(line);
    }
  }
  return out;
}

void add_doc_flags(CLI::App& app, std::function<ManPageInfo()> info) {
  // Hidden (empty group): they are for the build, which installs what they print.
  CLI::App* self = &app;
  app.add_flag_callback(
         "--man-page",
         [self, info] {
           std::fputs(man_page(*self, info ? info() : ManPageInfo{}).c_str(), stdout);
           throw CLI::Success();
         },
         "Print this program's man page (roff) and exit")
      ->group("");
  app.add_flag_callback(
         "--bash-completion",
         [self] {
           std::fputs(bash_completion(*self).c_str(), stdout);
           throw CLI::Success();
         },
         "Print a bash completion script for this program and exit")
      ->group("");
}

}  // namespace socklab::cli
