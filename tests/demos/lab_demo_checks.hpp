// What the tests of the lab lessons (demo-layers, demo-router) share: their text with
// the wrapping taken out, and no namespace of a finished run left behind.
#pragma once

#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "socklab/lab/lab.hpp"

namespace socklab::test {

// The text with every run of spaces and line breaks made one space: a sentence the
// report wrapped reads as one line.
inline std::string squeeze(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

// The leftovers of finished runs: socklab namespaces (what `ip netns list` shows) not
// there `before`, whose pid is dead. A live pid's belongs to a run still going (another
// test's), not to a finished one.
inline std::vector<std::string> lab_leftovers(const std::vector<std::string>& before) {
  std::vector<std::string> out;
  for (const auto& ns : socklab::lab::socklab_namespaces()) {
    if (std::find(before.begin(), before.end(), ns) != before.end()) continue;
    const auto pid = std::stol(ns.substr(std::string("socklab-").size()));
    if (::kill(static_cast<pid_t>(pid), 0) != 0) out.push_back(ns);
  }
  return out;
}

}  // namespace socklab::test
