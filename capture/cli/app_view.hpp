// What the man page and the completion both read from a CLI::App: its visible
// options, each with its names and what kind of value it takes (private to socklab_cli).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace socklab::cli::detail {

struct OptionView {
  std::vector<std::string> names;    // "-w", "--pcap"; a positional has its one name ("FILE")
  bool positional = false;
  bool takes_value = false;          // false: a flag
  std::vector<std::string> choices;  // the words of a CLI::IsMember check
  bool numeric = false;              // INT, UINT, FLOAT: nothing to complete
  std::string value_name;            // "TEXT", "UINT", "en|zh" (for the man page)
  std::string description;
  std::string group;
};

// The options --help shows (hidden ones, in the empty group, are left out), in order.
std::vector<OptionView> visible_options(const CLI::App& app);

// The subcommands --help shows, in order.
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app);

}  // namespace socklab::cli::detail
