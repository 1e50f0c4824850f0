// libFuzzer target: the fixed-length decoder; see framing_oracle.hpp.
#include <cstddef>
#include <cstdint>

#include "framing_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  socklab::fuzz::check_fixed_length({data, size});
  return 0;
}
