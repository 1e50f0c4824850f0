// Shared by the tests of the lab lessons (demo-layers, demo-synflood): what a finished
// run may not leave behind.
#pragma once

#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "socklab/lab/lab.hpp"

namespace socklab::test {

// The socklab namespaces of finished runs (their pid is dead) that were not there before.
inline std::vector<std::string> leftover_namespaces(const std::vector<std::string>& before) {
  std::vector<std::string> out;
  for (const auto& ns : socklab::lab::socklab_namespaces()) {
    if (std::find(before.begin(), before.end(), ns) != before.end()) continue;
    const auto pid = std::stol(ns.substr(std::string("socklab-").size()));
    if (::kill(static_cast<pid_t>(pid), 0) != 0) out.push_back(ns);
  }
  return out;
}

}  // namespace socklab::test
