// Forged SYNs, refused for any target that is not a host of this lab (see forged_syn.hpp).
#include "socklab/lab/forged_syn.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

namespace socklab::lab {

namespace {

net::Error refused(const ForgedSyns& plan, std::string why) {
  return net::make_error(net::errc::not_supported,
                         "forged SYNs to \"" + plan.target + "\" port " + std::to_string(plan.port), std::move(why));
}

std::optional<std::uint32_t> ipv4(std::string_view text) {  // host order
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string ipv4_text(std::uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char text[INET_ADDRSTRLEN]{};
  ::inet_ntop(AF_INET, &a, text, sizeof text);
  return text;
}

struct Held {
  const Node* node;
  std::uint32_t ip;
  int prefix;
};

// Every IPv4 address an interface of the lab holds ("10.0.0.1/24" as set by connect()).
std::vector<Held> lab_addresses(const Lab& lab) {
  std::vector<Held> out;
  for (const auto& n : lab.nodes()) {
    for (const auto& i : n->interfaces()) {
      const auto slash = i.address.find('/');
      if (slash == std::string::npos) continue;
      const auto ip = ipv4(std::string_view(i.address).substr(0, slash));
      int prefix = 0;
      const char* p = i.address.data() + slash + 1;
      std::from_chars(p, i.address.data() + i.address.size(), prefix);
      if (ip) out.push_back(Held{n.get(), *ip, prefix});
    }
  }
  return out;
}

std::optional<ino_t> inode_of(const char* path) {
  struct stat st {};
  if (::stat(path, &st) != 0) return std::nullopt;
  return st.st_ino;
}

// The Internet checksum (RFC 1071) over `data`, starting from `sum`.
std::uint32_t add_words(std::uint32_t sum, const std::uint8_t* data, std::size_t len) {
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
  if (len % 2 != 0) sum += static_cast<std::uint32_t>(data[len - 1] << 8);
  return sum;
}

std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v));
}

// An IPv4 header (checksum, id and total length left for the kernel to fill, as it does
// for IPPROTO_RAW) and a TCP SYN with an MSS option, its checksum over the pseudo-header.
std::array<std::uint8_t, 44> syn_packet(std::uint32_t src, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport,
                                        std::uint32_t seq) {
  std::array<std::uint8_t, 44> p{};
  std::uint8_t* ip = p.data();
  ip[0] = 0x45;     // version 4, 5 words of header
  put16(ip + 2, 44);
  ip[6] = 0x40;     // DF, as a real stack sends it
  ip[8] = 64;       // TTL
  ip[9] = IPPROTO_TCP;
  put32(ip + 12, src);
  put32(ip + 16, dst);
  std::uint8_t* tcp = p.data() + 20;
  put16(tcp, sport);
  put16(tcp + 2, dport);
  put32(tcp + 4, seq);
  tcp[12] = 6 << 4;  // 6 words: 20 bytes and the 4-byte MSS option
  tcp[13] = 0x02;    // SYN
  put16(tcp + 14, 64240);
  tcp[20] = 2;       // MSS option, length 4, 1460
  tcp[21] = 4;
  put16(tcp + 22, 1460);
  std::uint32_t sum = add_words(0, ip + 12, 8);  // pseudo-header: addresses, protocol, TCP length
  sum += IPPROTO_TCP + 24;
  put16(tcp + 16, fold(add_words(sum, tcp, 24)));
  return p;
}

struct Checked {
  std::uint32_t target;
  std::vector<std::uint32_t> sources;
};

// Everything about the plan but the sender: the target is a host of this lab, the
// sources are free addresses of its subnet (from the top down, skipping the broadcast
// address and every address the lab holds).
net::Result<Checked> check_plan(const Lab& lab, const ForgedSyns& plan) {
  if (plan.count < 1 || plan.count > max_forged_syns)
    return std::unexpected(refused(plan, "count " + std::to_string(plan.count) + " is not between 1 and " +
                                             std::to_string(max_forged_syns)));
  if (plan.sources < 1 || plan.sources > 64)
    return std::unexpected(refused(plan, "sources " + std::to_string(plan.sources) + " is not between 1 and 64"));
  if (plan.port == 0) return std::unexpected(refused(plan, "port 0 is not a port a server listens on"));
  if (plan.first_port == 0 || plan.first_port + plan.count - 1 > 65535)
    return std::unexpected(refused(plan, "source ports " + std::to_string(plan.first_port) + " + " +
                                             std::to_string(plan.count) + " do not fit in 1 .. 65535"));
  const auto target = ipv4(plan.target);
  if (!target) return std::unexpected(refused(plan, "not an IPv4 address"));
  const auto held = lab_addresses(lab);
  const auto at = std::ranges::find_if(held, [&](const Held& h) { return h.ip == *target; });
  if (at == held.end()) return std::unexpected(refused(plan, "no host of this lab has that address"));
  if (at->node->kind() == NodeKind::switch_) return std::unexpected(refused(plan, "that is a switch"));
  const int prefix = std::clamp(at->prefix, 8, 30);
  const std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix);
  const std::uint32_t network = *target & mask, broadcast = network | ~mask;
  Checked out{*target, {}};
  for (std::uint32_t a = broadcast - 1; a > network && static_cast<int>(out.sources.size()) < plan.sources; --a) {
    if (std::ranges::none_of(held, [&](const Held& h) { return h.ip == a; })) out.sources.push_back(a);
  }
  if (out.sources.empty()) return std::unexpected(refused(plan, "the target's subnet has no address free to forge"));
  return out;
}

std::vector<std::string> texts(const std::vector<std::uint32_t>& ips) {
  std::vector<std::string> out;
  for (const auto a : ips) out.push_back(ipv4_text(a));
  return out;
}

}  // namespace

net::Result<std::vector<std::string>> forged_sources(const Lab& lab, const ForgedSyns& plan) {
  auto checked = check_plan(lab, plan);
  if (!checked) return std::unexpected(checked.error());
  return texts(checked->sources);
}

net::Result<ForgedSynsSent> send_forged_syns(const Lab& lab, const Node& from, const ForgedSyns& plan) {
  if (std::ranges::none_of(lab.nodes(), [&](const auto& n) { return n.get() == &from; }))
    return std::unexpected(refused(plan, "the sender " + from.name() + " is not a node of this lab"));
  if (from.kind() == NodeKind::switch_)
    return std::unexpected(refused(plan, "the sender " + from.name() + " is a switch, not a host"));
  auto checked = check_plan(lab, plan);
  if (!checked) return std::unexpected(checked.error());
  if (std::ranges::any_of(from.interfaces(), [&](const Interface& i) {
        return i.address.substr(0, i.address.find('/')) == plan.target;
      }))
    return std::unexpected(refused(plan, "that is the sender's own address"));
  const std::uint32_t target = checked->target;
  const std::vector<std::uint32_t>& sources = checked->sources;
  ForgedSynsSent out{0, texts(sources)};

  return from.in_namespace([&]() -> net::Result<ForgedSynsSent> {
    // The thread must be in the sender's namespace, and that must not be the machine's own.
    const auto here = inode_of("/proc/thread-self/ns/net");
    if (!here || !from.is_current_namespace() || here == inode_of("/proc/1/ns/net"))
      return std::unexpected(refused(plan, "this thread is not inside the lab namespace " + from.netns()));
    const int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) return std::unexpected(net::system_error(errno, "forged SYNs: socket(AF_INET, SOCK_RAW, IPPROTO_RAW)"));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(target);
    for (int i = 0; i < plan.count; ++i) {
      const auto src = sources[static_cast<std::size_t>(i) % sources.size()];
      // A different port and sequence per SYN: each is a new half-open connection.
      const auto sport = static_cast<std::uint16_t>(plan.first_port + i);
      const auto seq = static_cast<std::uint32_t>(0x5eed0000u + static_cast<std::uint32_t>(i) * 7919u);
      const auto pkt = syn_packet(src, target, sport, plan.port, seq);
      if (::sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
        const int err = errno;
        ::close(fd);
        return std::unexpected(net::system_error(err, "forged SYNs: sendto " + plan.target + " (after " +
                                                           std::to_string(out.sent) + ")"));
      }
      ++out.sent;
    }
    ::close(fd);
    return out;
  });
}

}  // namespace socklab::lab
