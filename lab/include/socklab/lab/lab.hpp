// socklab::lab — small virtual networks on the real kernel, for lessons with many hosts.
//
//   auto lab = Lab::create();                        // throws LabError; checks privilege, sweeps dead runs
//   Node& sw = lab.add_switch("sw");                 // a Linux bridge in its own namespace
//   Node& a = lab.add_host("A");                     // a namespace; IPv6 off, lo up
//   lab.connect(a, {.address = "10.0.0.1/24", .mac = Mac::local(0x0a)}, sw);
//   auto t = lab.run_on(a, [](Participant& p) { ... sockets traced with p.trace ... });
//   t.join();                                        // rethrows what the participant threw
//   auto arp = a.neighbours();                       // the ARP table read back over netlink
//
// Every namespace is named socklab-<pid>-<node> and bind-mounted at /run/netns/ as
// `ip netns add` does (so `ip netns list` shows it). Interfaces and bridges live only
// inside those namespaces, never in the machine's own: deleting a namespace deletes them.
// The namespaces go away when the Lab is destroyed, at exit(), and on SIGINT, SIGTERM and
// SIGHUP (a handler removes them, then re-raises the signal); a run killed with SIGKILL
// leaves them behind, and the next Lab::create() (or sweep_dead_runs()) removes the ones
// whose pid is dead, never one of a live process.
//
// Everything is done through netlink (libnl-route-3) and /proc/sys inside the namespace,
// from a thread that entered it with setns(): no `ip` command runs.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct nl_sock;  // libnl's, kept out of the interface

#include "socklab/net/call_recorder.hpp"
#include "socklab/net/error.hpp"

namespace socklab::lab {

// What building a lab throws: a std::system_error whose what() names the step and the node.
using LabError = net::NetException;

// The exit code a lab lesson returns when the process lacks the privileges (documented
// in lab/README.md; distinct from 4, "may not capture", because a lab cannot run at all).
inline constexpr int exit_missing_privilege = 5;

// True when this process has CAP_NET_ADMIN and CAP_SYS_ADMIN (effective): the lab needs
// both (namespaces and their mounts, links, addresses).
bool has_lab_privilege();
// One paragraph for the user: the two capabilities, and the fixes (run as root with sudo,
// or `setcap cap_net_admin,cap_sys_admin,cap_net_raw+eip PROGRAM`). `program` defaults to
// this process's own binary.
std::string explain_missing_privilege(std::filesystem::path program = {});

struct Mac {
  std::array<std::uint8_t, 6> bytes{};
  // 02:00:00:00:00:<last>: the locally administered bit set, unicast, readable.
  static Mac local(std::uint8_t last) noexcept { return Mac{{0x02, 0, 0, 0, 0, last}}; }
  // "02:00:00:00:00:0a"; nullopt when the text is not six hex pairs separated by ':'.
  static std::optional<Mac> parse(std::string_view text);
  [[nodiscard]] std::string str() const;  // lower-case hex, as ip and tcpdump print it
  friend bool operator==(const Mac&, const Mac&) = default;

  // The anatomy the LAN lesson shows, bit by bit of the first byte (IEEE 802):
  // bit 0 (I/G): a group address (multicast; broadcast is the group of everyone);
  [[nodiscard]] bool is_multicast() const noexcept { return (bytes[0] & 0x01) != 0; }
  // bit 1 (U/L): locally administered, chosen by software (veth, bridges, VMs), so the
  // first three bytes are no maker's OUI;
  [[nodiscard]] bool is_local() const noexcept { return (bytes[0] & 0x02) != 0; }
  [[nodiscard]] bool is_broadcast() const noexcept { return *this == broadcast(); }
  // the first three bytes, "02:00:00": the OUI the IEEE assigned to a maker when the
  // address is neither local nor a group.
  [[nodiscard]] std::string oui() const { return str().substr(0, 8); }
  static Mac broadcast() noexcept { return Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
};

enum class NodeKind : std::uint8_t { host, router, switch_ };

struct InterfaceSpec {
  std::string address{};   // IPv4 "10.0.0.1/24"; empty: no address (a switch port never has one)
  std::optional<Mac> mac{};  // empty: the kernel picks a random one
  std::string name = "eth0";
};

struct Interface {
  std::string node;        // the node it belongs to ("A", "sw")
  std::string name;        // its name inside the node's namespace ("eth0", "A-eth0" for a switch port)
  std::string address;     // "10.0.0.1/24" or ""
  Mac mac;                 // as the kernel reports it after creation
  int ifindex = 0;         // inside the node's namespace
  // "A:eth0": the label a capture on this interface carries.
  [[nodiscard]] std::string place() const { return node + ":" + name; }
};

// A host's ARP table entry.
struct Neighbour {
  std::string ip;          // "10.0.0.2"
  std::optional<Mac> mac;  // empty while INCOMPLETE / FAILED
  std::string state;       // the NUD state as ip prints it: "REACHABLE", "STALE", "INCOMPLETE", ...
  std::string interface;
};

// A switch's forwarding-database entry (the MAC addresses it learned).
struct FdbEntry {
  Mac mac;
  std::string port;        // the bridge port it was learned on ("A-eth0")
  double age_s = 0;        // seconds since the entry was last refreshed by a frame
  bool local = false;      // the bridge's own address (a port's MAC), not learned
};

// One route of a host's main routing table, as `ip route` shows it.
struct Route {
  std::string destination;  // "default" or "10.0.1.0/24"
  std::string gateway;      // "10.0.1.254", or "" for a directly connected network
  std::string interface;    // "eth0"
  std::string source;       // the preferred source address ("10.0.1.1"), or ""
  std::string protocol;     // who put it there: "kernel" (from an address), "static" (add_route), ...
  std::string scope;        // "link" (on the LAN itself) or "global" (through a gateway)
};

// The kernel's protocol counters of one namespace: /proc/net/netstat and /proc/net/snmp
// keyed as nstat names them ("TcpExtListenDrops", "TcpExtSyncookiesSent",
// "IpForwDatagrams", "IcmpOutTimeExcds").
struct KernelCounters {
  std::map<std::string, std::int64_t, std::less<>> values;
  // nullopt when this kernel has no counter of that name.
  [[nodiscard]] std::optional<std::int64_t> value(std::string_view name) const;
  // after - before for one counter; nullopt when either lacks it.
  static std::optional<std::int64_t> delta(const KernelCounters& before, const KernelCounters& after,
                                           std::string_view name);
};

struct LinkCounters {
  std::uint64_t rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0, rx_dropped = 0, tx_dropped = 0;
};

// One namespace of the lab: a host, a router, or a switch. Made only by Lab.
class Node {
 public:
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::string& netns() const noexcept { return netns_; }  // "socklab-1234-A"
  [[nodiscard]] NodeKind kind() const noexcept { return kind_; }
  // The node's interfaces, in the order made (a switch: the bridge "br0", then its ports).
  [[nodiscard]] const std::vector<Interface>& interfaces() const noexcept { return interfaces_; }
  [[nodiscard]] const Interface& interface(std::string_view name) const;  // throws LabError when missing

  // Runs fn on the calling thread inside this node's namespace, then returns the thread
  // to the namespace it was in (also when fn throws). Sockets, pcap handles and netlink
  // sockets made inside stay bound to this namespace.
  template <class F>
  decltype(auto) in_namespace(F&& fn) const {
    const Entered entered(*this);
    return std::forward<F>(fn)();
  }

  // True when the calling thread is inside this node's namespace (same namespace inode).
  [[nodiscard]] bool is_current_namespace() const;

  // Read back over netlink.
  [[nodiscard]] net::Result<std::vector<Neighbour>> neighbours() const;
  [[nodiscard]] net::Result<std::vector<FdbEntry>> fdb() const;  // a switch's learned MACs
  [[nodiscard]] net::Result<LinkCounters> counters(std::string_view interface) const;
  [[nodiscard]] net::Result<Mac> mac(std::string_view interface) const;
  [[nodiscard]] net::Result<std::vector<std::string>> addresses(std::string_view interface) const;  // IPv4, "10.0.0.1/24"
  [[nodiscard]] net::Result<bool> is_up(std::string_view interface) const;
  // True once the kernel reports the interface operationally up (carrier on, its queue
  // attached): before that, a frame sent on it is dropped without a trace.
  [[nodiscard]] net::Result<bool> is_running(std::string_view interface) const;
  [[nodiscard]] net::Result<std::chrono::milliseconds> ageing_time() const;  // a switch's; 0 = hub
  [[nodiscard]] net::Result<bool> forwarding() const;       // net.ipv4.ip_forward
  [[nodiscard]] net::Result<bool> ipv6_enabled() const;     // !net.ipv6.conf.all.disable_ipv6
  // The main routing table (IPv4), in the kernel's order.
  [[nodiscard]] net::Result<std::vector<Route>> routes() const;
  // This namespace's protocol counters, read inside it (/proc/thread-self/net/...: a
  // thread's own namespace, where /proc/self/net would be the process's).
  [[nodiscard]] net::Result<KernelCounters> kernel_counters() const;

  // A sysctl of this namespace only, by its dotted name ("net.ipv4.tcp_syncookies").
  // Only net.* names: those are per network namespace, so setting one never changes the
  // machine's own. A name outside net.*, or with characters a sysctl name cannot have,
  // is refused with an error naming it (set_sysctl throws it as LabError); so is a name
  // this kernel does not have.
  [[nodiscard]] net::Result<std::string> sysctl(std::string_view name) const;
  void set_sysctl(std::string_view name, std::string_view value);

  // Waits, on netlink notifications, until `ready` holds for the ARP table (a host) or the
  // forwarding database (a switch), or the timeout passes; returns the last table read.
  // Every change of either table wakes it: no polling interval, no sleep.
  net::Result<std::vector<Neighbour>> wait_for_neighbours(
      const std::function<bool(const std::vector<Neighbour>&)>& ready, std::chrono::milliseconds timeout) const;
  net::Result<std::vector<FdbEntry>> wait_for_fdb(
      const std::function<bool(const std::vector<FdbEntry>&)>& ready, std::chrono::milliseconds timeout) const;

 private:
  friend class Lab;
  struct Entered {  // setns into the node, back on destruction
    explicit Entered(const Node& n);
    ~Entered();
    Entered(const Entered&) = delete;
    Entered& operator=(const Entered&) = delete;
    int previous = -1;
  };
  Node(std::string name, std::string netns, NodeKind kind);
  template <class Table>
  net::Result<Table> wait_for_table(const std::function<net::Result<Table>()>& read,
                                    const std::function<bool(const Table&)>& ready,
                                    std::chrono::milliseconds timeout, int group) const;

  std::string name_;
  std::string netns_;
  NodeKind kind_;
  int ns_fd_ = -1;             // an open /run/netns/NAME: what setns() enters
  ::nl_sock* sock_ = nullptr;  // NETLINK_ROUTE, bound to this namespace
  std::vector<Interface> interfaces_;
};

// A participant: code running "on a host", in its namespace, with its own recorder trace.
struct Participant {
  const Node& node;
  net::Trace trace;  // records under the node's name (CallEvent::participant)
};

// A participant's thread; join() waits and rethrows what the participant threw.
class ParticipantThread {
 public:
  ParticipantThread() = default;
  ParticipantThread(ParticipantThread&&) noexcept = default;
  ParticipantThread& operator=(ParticipantThread&&) noexcept = default;
  ~ParticipantThread();  // joins (never throws: an error not collected by join() is lost)
  void join();

 private:
  friend class Lab;
  std::thread thread_;
  std::shared_ptr<std::exception_ptr> error_ = std::make_shared<std::exception_ptr>();
};

class Lab {
 public:
  // Checks the privileges (LabError with explain_missing_privilege()'s text and EPERM
  // when missing), removes the leftovers of dead runs, installs the signal handlers.
  static Lab create();

  Lab(Lab&&) noexcept;
  Lab& operator=(Lab&&) = delete;
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;
  ~Lab();  // removes every namespace of this lab (with its links and bridge)

  // Node names: 1 to 8 characters of [A-Za-z0-9_], unique in the lab.
  Node& add_host(std::string name, bool ipv6 = false);
  Node& add_router(std::string name, bool ipv6 = false);  // a host with forwarding on
  // A bridge "br0" in its own namespace, MAC learning on; hub: ageing time 0, so every
  // learned entry expires at once and every frame is flooded.
  Node& add_switch(std::string name, bool hub = false);

  // A veth pair from the host (or router) to the switch: the host end gets `spec` and is
  // up; the other end, "<node>-<ifname>" in the switch's namespace, becomes a bridge port.
  const Interface& connect(Node& host, const InterfaceSpec& spec, Node& sw);
  // A veth pair straight between two hosts (a cable, no switch).
  void connect(Node& a, const InterfaceSpec& a_spec, Node& b, const InterfaceSpec& b_spec);
  // A route in `host`: destination "10.0.2.0/24" or "default", via the gateway's address.
  void add_route(Node& host, std::string_view destination, std::string_view gateway);
  // A static ARP entry (PERMANENT) on `host`'s interface.
  void add_neighbour(Node& host, std::string_view interface, std::string_view ip, const Mac& mac);

  [[nodiscard]] Node& node(std::string_view name) const;  // throws LabError when missing
  [[nodiscard]] const std::vector<std::unique_ptr<Node>>& nodes() const noexcept { return nodes_; }
  // Every interface of every node (hosts' and routers' first, then switches' ports),
  // with the node it belongs to: what a capture on "every interface of the lab" opens.
  struct Place {
    const Node* node;
    const Interface* interface;
  };
  [[nodiscard]] std::vector<Place> places(bool with_switch_ports = true) const;

  // Starts fn on a new thread that has entered the node's namespace; `recorder` (may be
  // null) gets the calls of sockets made with Participant::trace, under the node's name.
  // Join the thread before the Lab (and the recorder) goes away.
  ParticipantThread run_on(const Node& node, std::function<void(Participant&)> fn,
                           net::CallRecorder* recorder = nullptr);

  // Removes every namespace of this lab now (the destructor does it too). Idempotent.
  void destroy() noexcept;

 private:
  Lab() = default;
  Node& add_node(std::string name, NodeKind kind, bool ipv6, bool hub);
  static void connect_pair(Node& a, const InterfaceSpec& a_spec, Node& b, const InterfaceSpec& b_spec);
  std::vector<std::unique_ptr<Node>> nodes_;
};

// The lessons' usual topologies, written once (lessons, tests and bench/lab use them).
// A LAN: a switch and hosts on it; host i gets <subnet>.<i+1>/24 on eth0 and the MAC
// 02:00:00:00:00:<mac_base + i>. Returns the switch.
Node& add_lan(Lab& lab, std::string switch_name, const std::vector<std::string>& hosts, std::string_view subnet,
              std::uint8_t mac_base, bool hub = false);
// Two LANs joined by a router: the hosts of `lan1` on sw1 (10.0.1.1, .2, ...), those of
// `lan2` on sw2 (10.0.2.1, ...), MACs 02:..:0a, 0b, ... in that order over both LANs;
// router R with eth0 10.0.1.254 (02:..:f1) and eth1 10.0.2.254 (02:..:f2); every host's
// default route goes through R. The default: A (10.0.1.1, :0a) and B (10.0.2.1, :0b).
// Returns R.
Node& add_two_lans(Lab& lab, const std::vector<std::string>& lan1 = {"A"}, const std::vector<std::string>& lan2 = {"B"});

// Removes the namespaces of runs whose pid is dead (socklab-<pid>-*, pid not alive);
// returns their names. Touches nothing that is not named socklab-<pid>-, nor a live pid's.
std::vector<std::string> sweep_dead_runs();
// The namespaces /run/netns holds for socklab runs (socklab-*), for tests and diagnostics.
std::vector<std::string> socklab_namespaces();

}  // namespace socklab::lab
