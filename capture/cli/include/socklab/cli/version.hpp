// --version for every socklab program: the project version and the git revision
// the binary was built from (computed at build time, "unknown" outside a git checkout).
#pragma once

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace socklab::cli {

[[nodiscard]] std::string_view project_version() noexcept;  // "0.1.0"
[[nodiscard]] std::string_view git_revision() noexcept;     // "928aefd", "928aefd-dirty" or "unknown"

// "demo-handshake (socklab) 0.1.0\ngit revision 928aefd"
[[nodiscard]] std::string version_text(std::string_view program);

// Adds --version to `app`: it prints version_text() and ends the parse with
// CLI::CallForVersion (a CLI::Success: app.exit() prints it and returns 0).
void add_version_flag(CLI::App& app);

}  // namespace socklab::cli
