// libFuzzer target: the delimiter decoder (newline, CRLF, NUL, self-overlapping
// delimiters); see framing_oracle.hpp.
#include <cstddef>
#include <cstdint>

#include "framing_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  socklab::fuzz::check_delimiter({data, size});
  return 0;
}
