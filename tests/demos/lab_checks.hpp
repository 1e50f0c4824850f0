// What the tests of the lab lessons (demo-layers, demo-lan, demo-router, demo-synflood) share: the socklab
// namespaces a finished run left behind, and a run's text with its wrapping undone.
#pragma once

#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "socklab/lab/lab.hpp"

namespace socklab::test {

// A leftover of a finished run: a socklab namespace whose pid is dead, not there before.
inline std::vector<std::string> leftovers(const std::vector<std::string>& before) {
  std::vector<std::string> out;
  for (const auto& ns : socklab::lab::socklab_namespaces()) {
    if (std::find(before.begin(), before.end(), ns) != before.end()) continue;
    const auto pid = std::stol(ns.substr(std::string("socklab-").size()));
    if (::kill(static_cast<pid_t>(pid), 0) != 0) out.push_back(ns);
  }
  return out;
}

// Every run of spaces and line breaks as one space: a sentence wrapped anywhere reads the same.
inline std::string squeeze(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

}  // namespace socklab::test
