// The lab: namespaces, veth pairs, a bridge, addresses and routes over netlink (libnl).
#include "socklab/lab/lab.hpp"

#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace socklab::lab {

namespace {

constexpr const char* netns_dir = "/run/netns";
constexpr std::string_view prefix = "socklab-";

[[noreturn]] void fail(int errnum, std::string context) { throw LabError(net::system_error(errnum, std::move(context))); }

// libnl reports its own codes (-NLE_*); the text is what the user needs.
[[noreturn]] void fail_nl(int nlerr, std::string context) {
  net::Error e = net::system_error(EIO, std::move(context));
  e.detail = nl_geterror(nlerr);
  throw LabError(e);
}

net::Error nl_error(int nlerr, std::string context) {
  net::Error e = net::system_error(EIO, std::move(context));
  e.detail = nl_geterror(nlerr);
  return e;
}

// --- the registry the signal handlers and exit() clean from --------------------------
// Fixed slots of plain chars: the handler may only make async-signal-safe calls.
constexpr std::size_t max_namespaces = 256;
struct Slot {
  std::atomic<bool> used{false};
  char path[128]{};
};
Slot registry[max_namespaces];
std::mutex registry_mutex;  // writers only; the handler reads `used` atomically

void remove_mount(const char* path) noexcept {
  ::umount2(path, MNT_DETACH);
  ::unlink(path);
}

void register_path(const std::string& path) {
  const std::lock_guard lock(registry_mutex);
  for (auto& s : registry) {
    if (s.used.load()) continue;
    std::snprintf(s.path, sizeof s.path, "%s", path.c_str());
    s.used.store(true);
    return;
  }
  fail(ENOSPC, "lab: more than 256 namespaces in one run");
}

void unregister_path(const std::string& path) noexcept {
  const std::lock_guard lock(registry_mutex);
  for (auto& s : registry) {
    if (s.used.load() && path == s.path) s.used.store(false);
  }
}

void remove_registered() noexcept {
  for (auto& s : registry) {
    if (s.used.exchange(false)) remove_mount(s.path);
  }
}

constexpr int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP};
struct sigaction previous_actions[3]{};

void on_signal(int sig) {
  remove_registered();
  // Hand the signal to whoever had it before (by default: die of it, as expected).
  for (std::size_t i = 0; i < 3; ++i) {
    if (cleanup_signals[i] == sig) ::sigaction(sig, &previous_actions[i], nullptr);
  }
  ::raise(sig);
}

void install_cleanup_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(remove_registered);
    for (std::size_t i = 0; i < 3; ++i) {
      struct sigaction sa {};
      sa.sa_handler = on_signal;
      sigemptyset(&sa.sa_mask);
      ::sigaction(cleanup_signals[i], &sa, &previous_actions[i]);
      // A signal the program ignores stays ignored.
      if (previous_actions[i].sa_handler == SIG_IGN) ::sigaction(cleanup_signals[i], &previous_actions[i], nullptr);
    }
  });
}

// /run/netns as `ip netns add` prepares it: a shared mount, so the bind mounts in it
// are seen from other mount namespaces too.
void prepare_netns_dir() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (::mkdir(netns_dir, 0755) != 0 && errno != EEXIST) fail(errno, "lab: mkdir /run/netns");
    if (::mount("", netns_dir, "none", MS_SHARED | MS_REC, nullptr) == 0) return;
    if (errno != EINVAL) fail(errno, "lab: mount --make-rshared /run/netns");
    if (::mount(netns_dir, netns_dir, "none", MS_BIND | MS_REC, nullptr) != 0) fail(errno, "lab: bind mount /run/netns");
    if (::mount("", netns_dir, "none", MS_SHARED | MS_REC, nullptr) != 0) fail(errno, "lab: mount --make-rshared /run/netns");
  });
}

std::string netns_path(const std::string& name) { return std::string(netns_dir) + "/" + name; }

int open_current_netns() {
  const int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "lab: open /proc/thread-self/ns/net");
  return fd;
}

// A new namespace, pinned by a bind mount at /run/netns/NAME; returns an fd on it.
int make_netns(const std::string& name) {
  prepare_netns_dir();
  const std::string path = netns_path(name);
  const int file = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (file < 0) fail(errno, "lab: create " + path);
  ::close(file);
  register_path(path);
  const int back = open_current_netns();
  int err = 0;
  // unshare() moves only this thread; it goes back to `back` right after the mount.
  if (::unshare(CLONE_NEWNET) != 0) {
    err = errno;
  } else {
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) err = errno;
    if (::setns(back, CLONE_NEWNET) != 0) std::abort();  // this thread would stay in the lab
  }
  ::close(back);
  if (err != 0) {
    remove_mount(path.c_str());
    unregister_path(path);
    fail(err, "lab: new network namespace " + name);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "lab: open " + path);
  return fd;
}

bool pid_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

// "socklab-1234-A" -> 1234; 0 when the name is not socklab-<pid>-<...>.
long pid_of(std::string_view name) {
  if (!name.starts_with(prefix)) return 0;
  name.remove_prefix(prefix.size());
  const auto dash = name.find('-');
  if (dash == std::string_view::npos || dash == 0) return 0;
  long pid = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + dash, pid);
  if (ec != std::errc{} || end != name.data() + dash || pid <= 0) return 0;
  return pid;
}

void write_sysctl(const std::string& path, std::string_view value) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "lab: open " + path);
  const auto n = ::write(fd, value.data(), value.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) fail(n < 0 ? err : EIO, "lab: write " + path);
}

net::Result<std::string> read_sysctl(const std::string& path) {
  std::ifstream in(path);
  std::string v;
  if (!(in >> v)) return std::unexpected(net::system_error(errno != 0 ? errno : EIO, "lab: read " + path));
  return v;
}

// --- netlink helpers ----------------------------------------------------------------
struct AddrPtr {
  nl_addr* p = nullptr;
  ~AddrPtr() {
    if (p) nl_addr_put(p);
  }
};

using LinkHandle = std::unique_ptr<rtnl_link, void (*)(rtnl_link*)>;

// The kernel's view of one link, by name, in the namespace `sock` is bound to.
net::Result<LinkHandle> fetch_link(nl_sock* sock, const std::string& name, const std::string& what) {
  rtnl_link* link = nullptr;
  if (const int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &link); err < 0)
    return std::unexpected(nl_error(err, what));
  return LinkHandle(link, rtnl_link_put);
}

nl_addr* mac_addr(const Mac& m) { return nl_addr_build(AF_LLC, m.bytes.data(), m.bytes.size()); }

Mac mac_of(const void* data, std::size_t len) {
  Mac m;
  if (len == 6) std::memcpy(m.bytes.data(), data, 6);
  return m;
}

struct LinkInfo {
  int ifindex = 0;
  Mac mac;
};

LinkInfo link_info(nl_sock* sock, const std::string& name, const std::string& where) {
  const LinkHandle link = net::value_or_throw(fetch_link(sock, name, "lab: find " + where));
  LinkInfo info{rtnl_link_get_ifindex(link.get()), {}};
  if (nl_addr* a = rtnl_link_get_addr(link.get())) info.mac = mac_of(nl_addr_get_binary_addr(a), nl_addr_get_len(a));
  return info;
}

void set_up(nl_sock* sock, const std::string& name, const std::string& where) {
  const LinkHandle orig = net::value_or_throw(fetch_link(sock, name, "lab: find " + where));
  const LinkHandle change(rtnl_link_alloc(), rtnl_link_put);
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (const int err = rtnl_link_change(sock, orig.get(), change.get(), 0); err < 0) fail_nl(err, "lab: set " + where + " up");
}

// Sends a request made with libnl's message API and waits for the kernel's ack.
void send_and_ack(nl_sock* sock, nl_msg* msg, const std::string& what) {
  const int sent = nl_send_auto(sock, msg);
  nlmsg_free(msg);
  if (sent < 0) fail_nl(sent, what);
  if (const int err = nl_wait_for_ack(sock); err < 0) fail_nl(err, what);
}

// Dumps one rtnetlink table, handing every message to `each`.
template <class Header>
int dump(nl_sock* sock, int type, const Header& header, const std::function<void(nlmsghdr*)>& each) {
  int err = nl_send_simple(sock, type, NLM_F_DUMP, const_cast<Header*>(&header), sizeof header);
  if (err < 0) return err;
  nl_cb* cb = nl_cb_alloc(NL_CB_DEFAULT);
  if (cb == nullptr) return -NLE_NOMEM;
  auto call = [](nl_msg* msg, void* arg) -> int {
    (*static_cast<const std::function<void(nlmsghdr*)>*>(arg))(nlmsg_hdr(msg));
    return NL_OK;
  };
  nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, call, const_cast<std::function<void(nlmsghdr*)>*>(&each));
  err = nl_recvmsgs(sock, cb);
  nl_cb_put(cb);
  return err;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Node names become part of namespace and port names; interface names may also hold '-'
// ("A-eth0") and are at most 15 characters (IFNAMSIZ).
void check_name(std::string_view name, std::string_view what, std::size_t max, bool dash = false) {
  const bool ok = !name.empty() && name.size() <= max && std::ranges::all_of(name, [dash](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (dash && c == '-');
                  });
  if (!ok) {
    throw LabError(net::make_error(net::errc::not_supported, "lab: " + std::string(what) + " \"" + std::string(name) + "\"",
                                   "1 to " + std::to_string(max) + " characters of A-Z a-z 0-9 _" + (dash ? " -" : "")));
  }
}

std::string interface_of(const std::vector<Interface>& ifs, int ifindex) {
  for (const auto& i : ifs) {
    if (i.ifindex == ifindex) return i.name;
  }
  return "if" + std::to_string(ifindex);
}

}  // namespace

// --- privileges --------------------------------------------------------------------
bool has_lab_privilege() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("CapEff:")) continue;
    const auto caps = std::stoull(line.substr(7), nullptr, 16);
    constexpr unsigned cap_net_admin = 12, cap_sys_admin = 21;
    return ((caps >> cap_net_admin) & 1) != 0 && ((caps >> cap_sys_admin) & 1) != 0;
  }
  return false;
}

std::string explain_missing_privilege(std::filesystem::path program) {
  if (program.empty()) {
    std::error_code ec;
    program = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) program = "PROGRAM";
  }
  return "This lesson builds a small network of its own inside the kernel (network namespaces, "
         "virtual cables and a switch), which needs two capabilities this process does not have: "
         "CAP_NET_ADMIN (to make interfaces, addresses and routes) and CAP_SYS_ADMIN (to make and "
         "enter network namespaces). Run it as root (sudo " +
         program.string() + "), or give the program the capabilities once: sudo setcap "
         "cap_net_admin,cap_sys_admin,cap_net_raw+eip " + program.string() +
         ". Lessons on loopback need neither.";
}

// --- Mac -----------------------------------------------------------------------------
std::optional<Mac> Mac::parse(std::string_view text) {
  Mac m;
  if (text.size() != 17) return std::nullopt;
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    const char* first = text.data() + i * 3;
    if (!std::isxdigit(static_cast<unsigned char>(first[0])) || !std::isxdigit(static_cast<unsigned char>(first[1])))
      return std::nullopt;
    std::from_chars(first, first + 2, m.bytes[i], 16);
  }
  return m;
}

std::string Mac::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                bytes[5]);
  return buf;
}

// --- Node ------------------------------------------------------------------------------
Node::Entered::Entered(const Node& n) : previous(open_current_netns()) {
  if (::setns(n.ns_fd_, CLONE_NEWNET) != 0) {
    const int err = errno;
    ::close(previous);
    fail(err, "lab: enter namespace " + n.netns_);
  }
}

Node::Entered::~Entered() {
  if (::setns(previous, CLONE_NEWNET) != 0) std::abort();  // the thread would stay in the lab
  ::close(previous);
}

Node::Node(std::string name, std::string netns, NodeKind kind)
    : name_(std::move(name)), netns_(std::move(netns)), kind_(kind) {}

Node::~Node() {
  if (sock_ != nullptr) nl_socket_free(sock_);
  if (ns_fd_ < 0) return;  // never made: the name may be someone else's
  ::close(ns_fd_);
  const std::string path = netns_path(netns_);
  remove_mount(path.c_str());
  unregister_path(path);
}

bool Node::is_current_namespace() const {
  struct stat mine {}, here {};
  return ::fstat(ns_fd_, &mine) == 0 && ::stat("/proc/thread-self/ns/net", &here) == 0 && mine.st_dev == here.st_dev &&
         mine.st_ino == here.st_ino;
}

const Interface& Node::interface(std::string_view name) const {
  for (const auto& i : interfaces_) {
    if (i.name == name) return i;
  }
  fail(ENODEV, "lab: " + name_ + " has no interface " + std::string(name));
}

net::Result<std::vector<Neighbour>> Node::neighbours() const {
  std::vector<Neighbour> out;
  ndmsg req{};
  req.ndm_family = AF_INET;
  const int err = dump(sock_, RTM_GETNEIGH, req, [&](nlmsghdr* h) {
    const auto* nd = static_cast<const ndmsg*>(nlmsg_data(h));
    nlattr* tb[NDA_MAX + 1]{};
    if (nd->ndm_family != AF_INET || nlmsg_parse(h, sizeof(ndmsg), tb, NDA_MAX, nullptr) < 0 || !tb[NDA_DST]) return;
    Neighbour n;
    char ip[INET_ADDRSTRLEN]{};
    ::inet_ntop(AF_INET, nla_data(tb[NDA_DST]), ip, sizeof ip);
    n.ip = ip;
    if (tb[NDA_LLADDR] && nla_len(tb[NDA_LLADDR]) == 6) n.mac = mac_of(nla_data(tb[NDA_LLADDR]), 6);
    char state[64]{};
    n.state = upper(rtnl_neigh_state2str(nd->ndm_state, state, sizeof state));
    n.interface = interface_of(interfaces_, nd->ndm_ifindex);
    out.push_back(std::move(n));
  });
  if (err < 0) return std::unexpected(nl_error(err, "lab: read the ARP table of " + name_));
  return out;
}

net::Result<std::vector<FdbEntry>> Node::fdb() const {
  std::vector<FdbEntry> out;
  ndmsg req{};
  req.ndm_family = AF_BRIDGE;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const int err = dump(sock_, RTM_GETNEIGH, req, [&](nlmsghdr* h) {
    const auto* nd = static_cast<const ndmsg*>(nlmsg_data(h));
    nlattr* tb[NDA_MAX + 1]{};
    if (nd->ndm_family != AF_BRIDGE || nlmsg_parse(h, sizeof(ndmsg), tb, NDA_MAX, nullptr) < 0) return;
    // NTF_SELF entries are a port device's own address lists, not the bridge's table.
    if ((nd->ndm_flags & NTF_SELF) != 0 || !tb[NDA_LLADDR] || nla_len(tb[NDA_LLADDR]) != 6) return;
    FdbEntry e;
    e.mac = mac_of(nla_data(tb[NDA_LLADDR]), 6);
    e.port = interface_of(interfaces_, nd->ndm_ifindex);
    e.local = (nd->ndm_state & NUD_PERMANENT) != 0;
    if (tb[NDA_CACHEINFO]) {
      const auto* ci = static_cast<const nda_cacheinfo*>(nla_data(tb[NDA_CACHEINFO]));
      e.age_s = static_cast<double>(ci->ndm_updated) / static_cast<double>(ticks);  // clock ticks
    }
    out.push_back(std::move(e));
  });
  if (err < 0) return std::unexpected(nl_error(err, "lab: read the forwarding database of " + name_));
  return out;
}

net::Result<LinkCounters> Node::counters(std::string_view interface) const {
  const std::string name(interface);
  const auto fetched = fetch_link(sock_, name, "lab: counters of " + name_ + ":" + name);
  if (!fetched) return std::unexpected(fetched.error());
  rtnl_link* link = fetched->get();
  LinkCounters c;
  c.rx_packets = rtnl_link_get_stat(link, RTNL_LINK_RX_PACKETS);
  c.tx_packets = rtnl_link_get_stat(link, RTNL_LINK_TX_PACKETS);
  c.rx_bytes = rtnl_link_get_stat(link, RTNL_LINK_RX_BYTES);
  c.tx_bytes = rtnl_link_get_stat(link, RTNL_LINK_TX_BYTES);
  c.rx_dropped = rtnl_link_get_stat(link, RTNL_LINK_RX_DROPPED);
  c.tx_dropped = rtnl_link_get_stat(link, RTNL_LINK_TX_DROPPED);
  return c;
}

net::Result<Mac> Node::mac(std::string_view interface) const {
  const std::string name(interface);
  const auto link = fetch_link(sock_, name, "lab: MAC address of " + name_ + ":" + name);
  if (!link) return std::unexpected(link.error());
  nl_addr* a = rtnl_link_get_addr(link->get());
  if (a == nullptr || nl_addr_get_len(a) != 6)
    return std::unexpected(net::make_error(net::errc::not_supported, "lab: MAC address of " + name_ + ":" + name, "none"));
  return mac_of(nl_addr_get_binary_addr(a), 6);
}

net::Result<bool> Node::is_up(std::string_view interface) const {
  const std::string name(interface);
  const auto link = fetch_link(sock_, name, "lab: state of " + name_ + ":" + name);
  if (!link) return std::unexpected(link.error());
  return (rtnl_link_get_flags(link->get()) & IFF_UP) != 0;
}

net::Result<bool> Node::is_running(std::string_view interface) const {
  const std::string name(interface);
  const auto link = fetch_link(sock_, name, "lab: state of " + name_ + ":" + name);
  if (!link) return std::unexpected(link.error());
  constexpr std::uint8_t if_oper_up = 6;  // IF_OPER_UP (RFC 2863); <linux/if.h> clashes with <net/if.h>
  return rtnl_link_get_operstate(link->get()) == if_oper_up;
}

net::Result<std::vector<std::string>> Node::addresses(std::string_view interface) const {
  const std::string name(interface);
  int wanted = 0;
  for (const auto& i : interfaces_) {
    if (i.name == name) wanted = i.ifindex;
  }
  if (wanted == 0) {
    if (name != "lo") return std::unexpected(net::system_error(ENODEV, "lab: addresses of " + name_ + ":" + name));
    wanted = 1;  // lo is always ifindex 1 in a namespace
  }
  std::vector<std::string> out;
  ifaddrmsg req{};
  req.ifa_family = AF_INET;
  const int err = dump(sock_, RTM_GETADDR, req, [&](nlmsghdr* h) {
    const auto* ifa = static_cast<const ifaddrmsg*>(nlmsg_data(h));
    nlattr* tb[IFA_MAX + 1]{};
    if (ifa->ifa_family != AF_INET || static_cast<int>(ifa->ifa_index) != wanted ||
        nlmsg_parse(h, sizeof(ifaddrmsg), tb, IFA_MAX, nullptr) < 0 || !tb[IFA_LOCAL])
      return;
    char ip[INET_ADDRSTRLEN]{};
    ::inet_ntop(AF_INET, nla_data(tb[IFA_LOCAL]), ip, sizeof ip);
    out.push_back(std::string(ip) + "/" + std::to_string(ifa->ifa_prefixlen));
  });
  if (err < 0) return std::unexpected(nl_error(err, "lab: addresses of " + name_ + ":" + name));
  return out;
}

net::Result<std::chrono::milliseconds> Node::ageing_time() const {
  std::optional<std::uint32_t> centis;
  const int err = dump(sock_, RTM_GETLINK, ifinfomsg{}, [&](nlmsghdr* h) {
    nlattr* tb[IFLA_MAX + 1]{};
    if (nlmsg_parse(h, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0 || !tb[IFLA_LINKINFO]) return;
    nlattr* info[IFLA_INFO_MAX + 1]{};
    if (nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) < 0 || !info[IFLA_INFO_KIND] ||
        nla_get_string(info[IFLA_INFO_KIND]) != std::string_view("bridge") || !info[IFLA_INFO_DATA])
      return;
    nlattr* br[IFLA_BR_MAX + 1]{};
    if (nla_parse_nested(br, IFLA_BR_MAX, info[IFLA_INFO_DATA], nullptr) < 0 || !br[IFLA_BR_AGEING_TIME]) return;
    centis = nla_get_u32(br[IFLA_BR_AGEING_TIME]);
  });
  if (err < 0) return std::unexpected(nl_error(err, "lab: read the ageing time of " + name_));
  if (!centis) return std::unexpected(net::make_error(net::errc::not_supported, "lab: ageing time of " + name_, "not a switch"));
  return std::chrono::milliseconds(std::int64_t{*centis} * 10);  // the kernel counts in 1/100 s
}

net::Result<bool> Node::forwarding() const {
  const Entered in(*this);
  auto v = read_sysctl("/proc/sys/net/ipv4/ip_forward");
  if (!v) return std::unexpected(v.error());
  return *v == "1";
}

net::Result<bool> Node::ipv6_enabled() const {
  const Entered in(*this);
  auto v = read_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6");
  if (!v) return std::unexpected(v.error());
  return *v == "0";
}

namespace {

// "net.ipv4.tcp_syncookies" -> "/proc/sys/net/ipv4/tcp_syncookies"; only net.* (per namespace).
net::Result<std::string> sysctl_path(std::string_view name, std::string_view node) {
  const bool chars_ok = std::ranges::all_of(name, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  if (!name.starts_with("net.") || !chars_ok || name.ends_with('.') || name.find("..") != std::string_view::npos) {
    return std::unexpected(net::make_error(net::errc::not_supported,
                                           "lab: sysctl \"" + std::string(name) + "\" on " + std::string(node),
                                           "only net.* names (letters, digits, _ - and dots) are per namespace"));
  }
  std::string path = "/proc/sys/" + std::string(name);
  std::ranges::replace(path, '.', '/');
  return path;
}

// One /proc/net/{netstat,snmp} file: pairs of lines "TcpExt: A B ..." / "TcpExt: 1 2 ...".
net::Result<void> read_counter_file(const std::string& path, KernelCounters& into) {
  std::ifstream in(path);
  if (!in) return std::unexpected(net::system_error(errno != 0 ? errno : EIO, "lab: read " + path));
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    std::istringstream n(names), v(values);
    std::string group, group2, name, value;
    n >> group;
    v >> group2;
    if (group != group2 || !group.ends_with(':'))
      return std::unexpected(net::make_error(net::errc::not_supported, "lab: read " + path, "unexpected line \"" + names + "\""));
    group.pop_back();
    while (n >> name && v >> value) {
      std::int64_t x = 0;
      if (std::from_chars(value.data(), value.data() + value.size(), x).ec == std::errc{}) into.values[group + name] = x;
    }
  }
  return {};
}

std::string route_protocol(unsigned p) {
  switch (p) {
    case RTPROT_KERNEL: return "kernel";
    case RTPROT_BOOT: return "boot";
    case RTPROT_STATIC: return "static";
    default: return std::to_string(p);
  }
}

std::string route_scope(unsigned s) {
  switch (s) {
    case RT_SCOPE_UNIVERSE: return "global";
    case RT_SCOPE_LINK: return "link";
    case RT_SCOPE_HOST: return "host";
    default: return std::to_string(s);
  }
}

}  // namespace

std::optional<std::int64_t> KernelCounters::value(std::string_view name) const {
  const auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::optional<std::int64_t> KernelCounters::delta(const KernelCounters& before, const KernelCounters& after,
                                                  std::string_view name) {
  const auto b = before.value(name), a = after.value(name);
  if (!a || !b) return std::nullopt;
  return *a - *b;
}

net::Result<std::string> Node::sysctl(std::string_view name) const {
  const auto path = sysctl_path(name, name_);
  if (!path) return std::unexpected(path.error());
  const Entered in(*this);
  return read_sysctl(*path);
}

void Node::set_sysctl(std::string_view name, std::string_view value) {
  const std::string path = net::value_or_throw(sysctl_path(name, name_));
  const Entered in(*this);
  write_sysctl(path, value);
}

net::Result<KernelCounters> Node::kernel_counters() const {
  KernelCounters out;
  const Entered in(*this);
  for (const char* file : {"/proc/thread-self/net/netstat", "/proc/thread-self/net/snmp"}) {
    if (auto r = read_counter_file(file, out); !r) return std::unexpected(r.error());
  }
  return out;
}

net::Result<std::vector<Route>> Node::routes() const {
  std::vector<Route> out;
  rtmsg req{};
  req.rtm_family = AF_INET;
  const int err = dump(sock_, RTM_GETROUTE, req, [&](nlmsghdr* h) {
    const auto* rt = static_cast<const rtmsg*>(nlmsg_data(h));
    nlattr* tb[RTA_MAX + 1]{};
    if (rt->rtm_family != AF_INET || rt->rtm_type != RTN_UNICAST || nlmsg_parse(h, sizeof(rtmsg), tb, RTA_MAX, nullptr) < 0)
      return;
    const unsigned table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rt->rtm_table;
    if (table != RT_TABLE_MAIN) return;
    auto ip = [](const nlattr* a) {
      char text[INET_ADDRSTRLEN]{};
      if (a != nullptr && nla_len(a) == 4) ::inet_ntop(AF_INET, nla_data(a), text, sizeof text);
      return std::string(text);
    };
    Route r;
    r.destination = rt->rtm_dst_len == 0 ? "default" : ip(tb[RTA_DST]) + "/" + std::to_string(rt->rtm_dst_len);
    r.gateway = ip(tb[RTA_GATEWAY]);
    r.source = ip(tb[RTA_PREFSRC]);
    if (tb[RTA_OIF]) r.interface = interface_of(interfaces_, static_cast<int>(nla_get_u32(tb[RTA_OIF])));
    r.protocol = route_protocol(rt->rtm_protocol);
    r.scope = route_scope(rt->rtm_scope);
    out.push_back(std::move(r));
  });
  if (err < 0) return std::unexpected(nl_error(err, "lab: read the routing table of " + name_));
  return out;
}

template <class Table>
net::Result<Table> Node::wait_for_table(const std::function<net::Result<Table>()>& read,
                                        const std::function<bool(const Table&)>& ready,
                                        std::chrono::milliseconds timeout, int group) const {
  // Subscribe first, then read: a change between the two still wakes the wait.
  nl_sock* events = nullptr;
  {
    const Entered in(*this);
    events = nl_socket_alloc();
    if (events == nullptr) return std::unexpected(net::system_error(ENOMEM, "lab: netlink socket"));
    nl_socket_disable_seq_check(events);
    if (const int err = nl_connect(events, NETLINK_ROUTE); err < 0) {
      nl_socket_free(events);
      return std::unexpected(nl_error(err, "lab: netlink socket in " + netns_));
    }
  }
  nl_socket_add_membership(events, group);
  nl_socket_set_nonblocking(events);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  net::Result<Table> table = read();
  while (table && !ready(*table)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{nl_socket_get_fd(events), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    nl_recvmsgs_default(events);  // drain: what changed does not matter, the table is read again
    table = read();
  }
  nl_socket_free(events);
  return table;
}

net::Result<std::vector<Neighbour>> Node::wait_for_neighbours(
    const std::function<bool(const std::vector<Neighbour>&)>& ready, std::chrono::milliseconds timeout) const {
  return wait_for_table<std::vector<Neighbour>>([this] { return neighbours(); }, ready, timeout, RTNLGRP_NEIGH);
}

net::Result<std::vector<FdbEntry>> Node::wait_for_fdb(const std::function<bool(const std::vector<FdbEntry>&)>& ready,
                                                      std::chrono::milliseconds timeout) const {
  return wait_for_table<std::vector<FdbEntry>>([this] { return fdb(); }, ready, timeout, RTNLGRP_NEIGH);
}

// --- ParticipantThread -----------------------------------------------------------------
ParticipantThread::~ParticipantThread() {
  if (thread_.joinable()) thread_.join();
}

void ParticipantThread::join() {
  if (thread_.joinable()) thread_.join();
  if (error_ && *error_) std::rethrow_exception(std::exchange(*error_, nullptr));
}

// --- Lab -------------------------------------------------------------------------------
Lab Lab::create() {
  if (!has_lab_privilege()) {
    net::Error e = net::system_error(EPERM, "lab");
    e.detail = explain_missing_privilege();
    throw LabError(e);
  }
  install_cleanup_once();
  sweep_dead_runs();
  return Lab();
}

Lab::Lab(Lab&& other) noexcept : nodes_(std::move(other.nodes_)) {}

Lab::~Lab() { destroy(); }

void Lab::destroy() noexcept {
  while (!nodes_.empty()) nodes_.pop_back();  // each Node removes its namespace
}

Node& Lab::add_node(std::string name, NodeKind kind, bool ipv6, bool hub) {
  check_name(name, "node name", 8);
  for (const auto& n : nodes_) {
    if (n->name() == name) fail(EEXIST, "lab: a node named " + name + " exists");
  }
  const std::string ns = std::string(prefix) + std::to_string(::getpid()) + "-" + name;
  auto node = std::unique_ptr<Node>(new Node(name, ns, kind));
  node->ns_fd_ = make_netns(ns);
  Node& n = *nodes_.emplace_back(std::move(node));
  const Node::Entered in(n);
  n.sock_ = nl_socket_alloc();
  if (n.sock_ == nullptr) fail(ENOMEM, "lab: netlink socket");
  if (const int err = nl_connect(n.sock_, NETLINK_ROUTE); err < 0) fail_nl(err, "lab: netlink socket in " + ns);
  if (!ipv6) {
    // Before any interface exists, so none gets an IPv6 address, router solicitations or MLD.
    write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  }
  write_sysctl("/proc/sys/net/ipv4/ip_forward", kind == NodeKind::router ? "1" : "0");
  set_up(n.sock_, "lo", name + ":lo");  // a new namespace's lo is down
  if (kind == NodeKind::switch_) {
    // RTM_NEWLINK kind "bridge" with its ageing time (libnl has no setter for it).
    nl_msg* msg = nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    ifinfomsg ifi{};
    ifi.ifi_flags = IFF_UP;
    ifi.ifi_change = IFF_UP;
    nlmsg_append(msg, &ifi, sizeof ifi, NLMSG_ALIGNTO);
    nla_put_string(msg, IFLA_IFNAME, "br0");
    nlattr* linkinfo = nla_nest_start(msg, IFLA_LINKINFO);
    nla_put_string(msg, IFLA_INFO_KIND, "bridge");
    nlattr* data = nla_nest_start(msg, IFLA_INFO_DATA);
    nla_put_u32(msg, IFLA_BR_AGEING_TIME, hub ? 0u : 30000u);  // 1/100 s: 300 s, the kernel's default
    nla_put_u32(msg, IFLA_BR_STP_STATE, 0);                   // ports forward at once
    nla_nest_end(msg, data);
    nla_nest_end(msg, linkinfo);
    send_and_ack(n.sock_, msg, "lab: create the bridge of " + name);
    const LinkInfo info = link_info(n.sock_, "br0", name + ":br0");
    n.interfaces_.push_back(Interface{name, "br0", "", info.mac, info.ifindex});
  }
  return n;
}

Node& Lab::add_host(std::string name, bool ipv6) { return add_node(std::move(name), NodeKind::host, ipv6, false); }
Node& Lab::add_router(std::string name, bool ipv6) { return add_node(std::move(name), NodeKind::router, ipv6, false); }
Node& Lab::add_switch(std::string name, bool hub) { return add_node(std::move(name), NodeKind::switch_, false, hub); }

namespace {

void add_address(nl_sock* sock, int ifindex, const std::string& cidr, const std::string& where) {
  AddrPtr local;
  if (cidr.find('/') == std::string::npos || nl_addr_parse(cidr.c_str(), AF_INET, &local.p) < 0) {
    throw LabError(net::make_error(net::errc::not_supported, "lab: address \"" + cidr + "\" of " + where,
                                   "not an IPv4 address with a prefix length, such as 10.0.0.1/24"));
  }
  rtnl_addr* addr = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(addr, ifindex);
  rtnl_addr_set_local(addr, local.p);
  const int err = rtnl_addr_add(sock, addr, 0);
  rtnl_addr_put(addr);
  if (err < 0) fail_nl(err, "lab: add address " + cidr + " to " + where);
}

}  // namespace

const Interface& Lab::connect(Node& host, const InterfaceSpec& spec, Node& sw) {
  if (host.kind() == NodeKind::switch_ || sw.kind() != NodeKind::switch_)
    fail(EINVAL, "lab: connect " + host.name() + " to " + sw.name() + ": the first must be a host or router, the second a switch");
  const InterfaceSpec port{.address = {}, .mac = {}, .name = host.name() + "-" + spec.name};
  connect_pair(host, spec, sw, port);
  const int bridge = sw.interface("br0").ifindex;
  const int port_index = sw.interfaces_.back().ifindex;
  if (const int err = rtnl_link_enslave_ifindex(sw.sock_, bridge, port_index); err < 0)
    fail_nl(err, "lab: make " + sw.name() + ":" + port.name + " a port of the bridge");
  return host.interfaces_.back();
}

void Lab::connect(Node& a, const InterfaceSpec& a_spec, Node& b, const InterfaceSpec& b_spec) {
  if (a.kind() == NodeKind::switch_ || b.kind() == NodeKind::switch_)
    fail(EINVAL, "lab: connect " + a.name() + " to " + b.name() + ": a cable joins two hosts; use connect(host, spec, switch)");
  connect_pair(a, a_spec, b, b_spec);
}

// One veth pair, made from a's namespace with its peer put straight into b's: neither
// end ever exists in the machine's own namespace.
void Lab::connect_pair(Node& a, const InterfaceSpec& a_spec, Node& b, const InterfaceSpec& b_spec) {
  for (const auto& [node, spec] : {std::pair{&a, &a_spec}, std::pair{&b, &b_spec}})
    check_name(spec->name, "interface name on " + node->name(), 15, true);
  rtnl_link* link = rtnl_link_veth_alloc();
  if (link == nullptr) fail(ENOMEM, "lab: veth");
  rtnl_link* peer = rtnl_link_veth_get_peer(link);
  AddrPtr a_mac{a_spec.mac ? mac_addr(*a_spec.mac) : nullptr};
  AddrPtr b_mac{b_spec.mac ? mac_addr(*b_spec.mac) : nullptr};
  // Both ends come up after creation: an end brought up before its peer exists fails (ENOTCONN).
  rtnl_link_set_name(link, a_spec.name.c_str());
  if (a_mac.p) rtnl_link_set_addr(link, a_mac.p);
  rtnl_link_set_name(peer, b_spec.name.c_str());
  if (b_mac.p) rtnl_link_set_addr(peer, b_mac.p);
  rtnl_link_set_ns_fd(peer, b.ns_fd_);
  const int err = rtnl_link_add(a.sock_, link, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_link_put(peer);
  rtnl_link_veth_release(link);
  const std::string where = a.name() + ":" + a_spec.name + " <-> " + b.name() + ":" + b_spec.name;
  if (err < 0) fail_nl(err, "lab: make the veth pair " + where);
  for (const auto& [node, spec] : {std::pair{&a, &a_spec}, std::pair{&b, &b_spec}}) {
    const std::string at = node->name() + ":" + spec->name;
    const LinkInfo info = link_info(node->sock_, spec->name, at);
    set_up(node->sock_, spec->name, at);
    if (!spec->address.empty()) add_address(node->sock_, info.ifindex, spec->address, at);
    node->interfaces_.push_back(Interface{node->name(), spec->name, spec->address, info.mac, info.ifindex});
  }
  // The kernel turns the carrier on and attaches the queue a moment later (linkwatch,
  // from a work queue); a lesson's first frame sent before that would be dropped.
  for (const auto& [node, spec] : {std::pair{&a, &a_spec}, std::pair{&b, &b_spec}}) {
    const std::string at = node->name() + ":" + spec->name;
    auto running = node->wait_for_table<bool>([&] { return node->is_running(spec->name); },
                                                    [](const bool& r) { return r; }, std::chrono::seconds(5), RTNLGRP_LINK);
    if (!net::value_or_throw(std::move(running))) fail(ETIMEDOUT, "lab: " + at + " did not come up within 5 s");
  }
}

void Lab::add_route(Node& host, std::string_view destination, std::string_view gateway) {
  const std::string dst_text(destination), gw_text(gateway);
  const std::string what = "lab: route to " + dst_text + " via " + gw_text + " on " + host.name();
  AddrPtr dst, gw;
  if (nl_addr_parse(dst_text.c_str(), AF_INET, &dst.p) < 0)
    throw LabError(net::make_error(net::errc::not_supported, what, "destination is not \"default\" nor an IPv4 prefix"));
  if (nl_addr_parse(gw_text.c_str(), AF_INET, &gw.p) < 0 || gw_text.find('/') != std::string::npos)
    throw LabError(net::make_error(net::errc::not_supported, what, "gateway is not an IPv4 address"));
  rtnl_route* route = rtnl_route_alloc();
  rtnl_route_set_family(route, AF_INET);
  rtnl_route_set_dst(route, dst.p);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_gateway(nh, gw.p);
  rtnl_route_add_nexthop(route, nh);  // the route owns it now
  const int err = rtnl_route_add(host.sock_, route, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_route_put(route);
  if (err < 0) fail_nl(err, what);
}

void Lab::add_neighbour(Node& host, std::string_view interface, std::string_view ip, const Mac& mac) {
  const std::string ip_text(ip);
  const std::string what = "lab: ARP entry " + ip_text + " on " + host.name() + ":" + std::string(interface);
  AddrPtr dst, ll{mac_addr(mac)};
  if (nl_addr_parse(ip_text.c_str(), AF_INET, &dst.p) < 0)
    throw LabError(net::make_error(net::errc::not_supported, what, "not an IPv4 address"));
  rtnl_neigh* n = rtnl_neigh_alloc();
  rtnl_neigh_set_ifindex(n, host.interface(interface).ifindex);
  rtnl_neigh_set_dst(n, dst.p);
  rtnl_neigh_set_lladdr(n, ll.p);
  rtnl_neigh_set_state(n, NUD_PERMANENT);
  const int err = rtnl_neigh_add(host.sock_, n, NLM_F_CREATE | NLM_F_REPLACE);
  rtnl_neigh_put(n);
  if (err < 0) fail_nl(err, what);
}

Node& Lab::node(std::string_view name) const {
  for (const auto& n : nodes_) {
    if (n->name() == name) return *n;
  }
  fail(ENOENT, "lab: no node named " + std::string(name));
}

std::vector<Lab::Place> Lab::places(bool with_switch_ports) const {
  std::vector<Place> out;
  for (const bool switches : {false, true}) {
    for (const auto& n : nodes_) {
      if ((n->kind() == NodeKind::switch_) != switches) continue;
      if (switches && !with_switch_ports) continue;
      for (const auto& i : n->interfaces()) {
        if (switches && i.name == "br0") continue;  // the bridge sees what its ports see
        out.push_back(Place{n.get(), &i});
      }
    }
  }
  return out;
}

ParticipantThread Lab::run_on(const Node& node, std::function<void(Participant&)> fn, net::CallRecorder* recorder) {
  ParticipantThread t;
  t.thread_ = std::thread([&node, fn = std::move(fn), recorder, error = t.error_] {
    try {
      // This thread stays in the node's namespace for its whole life.
      if (::setns(node.ns_fd_, CLONE_NEWNET) != 0) fail(errno, "lab: enter namespace " + node.netns());
      Participant p{node, net::Trace{recorder, net::Side::none, node.name()}};
      fn(p);
    } catch (...) {
      *error = std::current_exception();
    }
  });
  return t;
}

Node& add_lan(Lab& lab, std::string switch_name, const std::vector<std::string>& hosts, std::string_view subnet,
              std::uint8_t mac_base, bool hub) {
  Node& sw = lab.add_switch(std::move(switch_name), hub);
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    Node& h = lab.add_host(hosts[i]);
    lab.connect(h,
                {.address = std::string(subnet) + "." + std::to_string(i + 1) + "/24",
                 .mac = Mac::local(static_cast<std::uint8_t>(mac_base + i))},
                sw);
  }
  return sw;
}

Node& add_two_lans(Lab& lab, const std::vector<std::string>& lan1, const std::vector<std::string>& lan2) {
  Node& sw1 = add_lan(lab, "sw1", lan1, "10.0.1", 0x0a);
  Node& sw2 = add_lan(lab, "sw2", lan2, "10.0.2", static_cast<std::uint8_t>(0x0a + lan1.size()));
  Node& r = lab.add_router("R");
  lab.connect(r, {.address = "10.0.1.254/24", .mac = Mac::local(0xf1), .name = "eth0"}, sw1);
  lab.connect(r, {.address = "10.0.2.254/24", .mac = Mac::local(0xf2), .name = "eth1"}, sw2);
  for (const auto& h : lan1) lab.add_route(lab.node(h), "default", "10.0.1.254");
  for (const auto& h : lan2) lab.add_route(lab.node(h), "default", "10.0.2.254");
  return r;
}

std::vector<std::string> socklab_namespaces() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(netns_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(prefix)) out.push_back(name);
  }
  std::ranges::sort(out);
  return out;
}

std::vector<std::string> sweep_dead_runs() {
  std::vector<std::string> removed;
  for (const auto& name : socklab_namespaces()) {
    const long pid = pid_of(name);
    if (pid == 0 || pid_alive(pid)) continue;
    const std::string path = netns_path(name);
    remove_mount(path.c_str());
    removed.push_back(name);
  }
  return removed;
}

}  // namespace socklab::lab
