// libFuzzer target: the header+body decoder (a length-prefixed JSON header, then
// a streamed body); see framing_oracle.hpp.
#include <cstddef>
#include <cstdint>

#include "framing_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  socklab::fuzz::check_header_body({data, size});
  return 0;
}
