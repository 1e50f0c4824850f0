#include "socklab/cli/version.hpp"

#include <fmt/format.h>

#include <functional>

namespace socklab::cli {

// Defined in the revision.cpp the build writes (see revision.cmake).
extern const char* const kGitRevision;

std::string_view project_version() noexcept { return SOCKLAB_VERSION; }
std::string_view git_revision() noexcept { return kGitRevision; }

std::string version_text(std::string_view program) {
  return fmt::format("{} (socklab) {}\ngit revision {}", program, project_version(), git_revision());
}

void add_version_flag(CLI::App& app) {
  // The name is read when the flag is used: a program may name its App after this.
  const CLI::App* self = &app;
  app.set_version_flag("--version", std::function<std::string()>([self] { return version_text(self->get_name()); }),
                       "Print the socklab version and the git revision this program was built from");
}

}  // namespace socklab::cli
