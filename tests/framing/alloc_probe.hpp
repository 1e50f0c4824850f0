// Counts heap allocations made by this thread while a probe is alive, through a
// replacement of the global operator new. Used to show that a codec never
// allocates what a hostile length prefix announces, and nothing per frame.
#pragma once

#include <cstddef>

namespace socklab::test {

struct AllocationStats {
  std::size_t count = 0;     // operator new calls
  std::size_t largest = 0;   // the largest single request, in bytes
  std::size_t total = 0;     // bytes requested in all
};

class AllocationProbe {
 public:
  AllocationProbe() noexcept;
  ~AllocationProbe();
  AllocationProbe(const AllocationProbe&) = delete;
  AllocationProbe& operator=(const AllocationProbe&) = delete;

  [[nodiscard]] AllocationStats stats() const noexcept { return stats_; }

 private:
  AllocationStats stats_;
  AllocationStats* outer_;
};

}  // namespace socklab::test
