// bench-lab-setup: how long building and removing a lab takes (target: under 300 ms
// each, for three hosts and a switch, and for two LANs joined by a router).
//
//   sudo ./build/bench/lab/bench-lab-setup              # 20 rounds of each topology
//   sudo ./build/bench/lab/bench-lab-setup --rounds 50
//
// Set-up: Lab::create() up to the last address and route in place. Tear-down: the Lab's
// destruction (netlink sockets closed, namespaces unmounted); the kernel then frees each
// namespace and its links on its own work queue, which this process does not wait for.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "socklab/lab/lab.hpp"

namespace {

using namespace socklab::lab;
using ms = std::chrono::duration<double, std::milli>;

struct Figures {
  std::vector<double> setup, teardown;
};

double median(std::vector<double> v) {
  std::ranges::sort(v);
  return v[v.size() / 2];
}

Figures measure(int rounds, const std::function<void(Lab&)>& build) {
  Figures f;
  for (int i = 0; i < rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    Lab lab = Lab::create();
    build(lab);
    const auto t1 = std::chrono::steady_clock::now();
    lab.destroy();
    const auto t2 = std::chrono::steady_clock::now();
    f.setup.push_back(ms(t1 - t0).count());
    f.teardown.push_back(ms(t2 - t1).count());
  }
  return f;
}

void print(const char* name, const Figures& f) {
  fmt::print("{:<26} set-up   median {:6.1f} ms  min {:6.1f}  max {:6.1f}\n", name, median(f.setup),
             *std::ranges::min_element(f.setup), *std::ranges::max_element(f.setup));
  fmt::print("{:<26} tear-down median {:5.1f} ms  min {:6.1f}  max {:6.1f}\n", "", median(f.teardown),
             *std::ranges::min_element(f.teardown), *std::ranges::max_element(f.teardown));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-lab-setup: set-up and tear-down time of the lab's topologies"};
  int rounds = 20;
  app.add_option("--rounds", rounds, "rounds of each topology")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  if (!has_lab_privilege()) {
    std::fprintf(stderr, "%s\n", explain_missing_privilege().c_str());
    return exit_missing_privilege;
  }
  try {
    const Figures lan = measure(rounds, [](Lab& lab) { add_lan(lab, "sw", {"A", "B", "C"}, "10.0.0", 0x0a); });
    const Figures routed = measure(rounds, [](Lab& lab) { add_two_lans(lab); });
    fmt::print("{} rounds each\n", rounds);
    print("3 hosts + switch", lan);
    print("2 LANs + router", routed);
    const bool ok = median(lan.setup) < 300 && median(lan.teardown) < 300 && median(routed.setup) < 300 &&
                    median(routed.teardown) < 300;
    fmt::print("target (< 300 ms each, median): {}\n", ok ? "met" : "NOT met");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-lab-setup: %s\n", e.what());
    return 1;
  }
}
