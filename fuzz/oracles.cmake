# The fuzz targets' checks as a library, shared by fuzz/ (libFuzzer, clang) and
# tests/hardening (the regression inputs, any compiler): one definition for both.
include_guard(GLOBAL)
add_library(socklab_fuzz_oracles STATIC
  ${CMAKE_CURRENT_LIST_DIR}/fuzz_input.cpp
  ${CMAKE_CURRENT_LIST_DIR}/framing_oracle.cpp
  ${CMAKE_CURRENT_LIST_DIR}/packet_oracle.cpp)
target_include_directories(socklab_fuzz_oracles PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(socklab_fuzz_oracles PUBLIC socklab::net socklab::capture PRIVATE socklab_warnings)
