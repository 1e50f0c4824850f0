// The socklab-capture subcommands; main() registers each one.
#pragma once

#include <CLI/CLI.hpp>

// Each sets `exit_code` when its subcommand runs (see the --help of each for the codes).
void add_read_command(CLI::App& app, int& exit_code);    // read_command.cpp
void add_record_command(CLI::App& app, int& exit_code);  // record_command.cpp
