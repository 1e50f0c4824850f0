// Frames a message with socklab::net's length prefix, decodes it back, and names
// a SYN-ACK's flags with socklab::capture, as tcpdump writes them. Prints
// "hello 5 [S.]" and exits 0 when both libraries work from the installed package.
#include <cstdio>
#include <string_view>
#include <vector>

#include "socklab/capture/format.hpp"
#include "socklab/net/framing.hpp"

int main() {
  socklab::net::LengthPrefixCodec codec;
  std::vector<std::byte> wire;
  if (!codec.encode(std::string_view("hello"), wire)) return 1;
  auto step = codec.decode(wire);
  if (!step || !step->item) return 1;
  const auto& payload = step->item->payload;
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());

  socklab::capture::TextBuffer flags;
  socklab::capture::append_tcp_flags(flags, 0x12);  // SYN | ACK
  std::printf("%.*s %zu [%.*s]\n", static_cast<int>(text.size()), text.data(), wire.size() - 4,
              static_cast<int>(flags.size()), flags.data());
  return 0;
}
