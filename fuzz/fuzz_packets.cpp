// libFuzzer target: the packet decoder, TCP analysis and renderers, for every
// link type; see packet_oracle.hpp.
#include <cstddef>
#include <cstdint>

#include "packet_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  socklab::fuzz::check_packets({data, size});
  return 0;
}
