// libFuzzer target: the length-prefix decoder (every prefix shape of Python's
// struct); see framing_oracle.hpp.
#include <cstddef>
#include <cstdint>

#include "framing_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  socklab::fuzz::check_length_prefix({data, size});
  return 0;
}
