// Forged SYNs for the SYN-flood lesson: TCP SYNs with made-up source addresses, sent from
// a raw socket. Spoofing is only legitimate inside the lab, so the sender lives here and
// checks before it sends a single byte that
//   - `from` is a host of this lab, and the thread really is inside its namespace (not the
//     machine's own: that one has no lab addresses and no route into the lab anyway);
//   - the target is the address of another host or router of this same lab;
//   - the count is between 1 and max_forged_syns;
// and it takes the spoofed sources only from the target's own subnet, among the addresses
// no interface of the lab holds: nobody answers the server's SYN-ACKs, which is what
// leaves its connections half-open.
//
//   auto sent = send_forged_syns(lab, lab.node("X"), {.target = "10.0.0.1", .port = 8080, .count = 500});
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "socklab/lab/lab.hpp"
#include "socklab/net/error.hpp"

namespace socklab::lab {

// The most one call sends: a lesson's --syns is checked against it.
inline constexpr int max_forged_syns = 5000;

struct ForgedSyns {
  std::string target;       // "10.0.0.1": an address of a host of this lab other than `from`
  std::uint16_t port = 0;   // the server's listening port
  int count = 0;            // 1 .. max_forged_syns
  int sources = 16;         // how many spoofed source addresses to cycle through (1 .. 64)
  // SYN i comes from port first_port + i: each a new connection. A SYN with the 4-tuple
  // of a connection still half-open is a retransmission of it, not a new one.
  std::uint16_t first_port = 20000;
};

struct ForgedSynsSent {
  int sent = 0;
  std::vector<std::string> sources;  // the spoofed addresses used, in order of first use
};

// The spoofed sources a plan would use (the same send_forged_syns() uses), or the reason
// the plan's target is refused. A lesson gives the server static ARP entries for them to
// a MAC nobody holds: on a LAN, an unanswered ARP request for a forged source makes the
// server's kernel drop that half-open connection after about 3 s (ICMP host unreachable
// from its own ARP failure), which would hide the flood.
net::Result<std::vector<std::string>> forged_sources(const Lab& lab, const ForgedSyns& plan);

// Sends plan.count SYNs from `from`'s namespace (IPPROTO_RAW socket, the IP header written
// here: the source is the forged one) and returns what it sent. A refused plan returns an
// error naming the input and why, with nothing sent.
net::Result<ForgedSynsSent> send_forged_syns(const Lab& lab, const Node& from, const ForgedSyns& plan);

}  // namespace socklab::lab
