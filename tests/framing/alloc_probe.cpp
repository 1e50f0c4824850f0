#include "alloc_probe.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace socklab::test {
namespace {
thread_local AllocationStats* active = nullptr;

void* counted_malloc(std::size_t size) {
  if (active != nullptr) {
    ++active->count;
    active->largest = std::max(active->largest, size);
    active->total += size;
  }
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

AllocationProbe::AllocationProbe() noexcept : outer_(active) { active = &stats_; }
AllocationProbe::~AllocationProbe() { active = outer_; }

}  // namespace socklab::test

// Replacements for the throwing and nothrow forms; the aligned forms stay the
// library's (the codecs never use over-aligned types). All pair with free().
void* operator new(std::size_t size) {
  if (void* p = socklab::test::counted_malloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return socklab::test::counted_malloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return socklab::test::counted_malloc(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
