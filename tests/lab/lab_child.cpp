// A lab run in a process of its own, for the cleanup tests: builds three hosts and a
// switch, prints its namespaces and "ready", then waits for stdin to close (exit 0,
// normal clean-up) or for a signal the test sends (SIGTERM, SIGKILL).
// Without the privileges it prints the explanation and exits exit_missing_privilege.
#include <cstdio>
#include <iostream>
#include <string>

#include "socklab/lab/lab.hpp"

int main() {
  using namespace socklab::lab;
  if (!has_lab_privilege()) {
    std::cerr << explain_missing_privilege() << "\n";
    return exit_missing_privilege;
  }
  try {
    Lab lab = Lab::create();
    Node& sw = lab.add_switch("sw");
    for (const char* name : {"A", "B", "C"}) lab.connect(lab.add_host(name), {.address = {}}, sw);
    for (const auto& n : lab.nodes()) std::cout << n->netns() << "\n";
    std::cout << "ready" << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
