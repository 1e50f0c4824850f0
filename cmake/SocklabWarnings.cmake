# Warnings live in an INTERFACE target that socklab's own targets link PRIVATE,
# so they never leak to users of the libraries.
add_library(socklab_warnings INTERFACE)
target_compile_options(socklab_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough)
