#include "listeners.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <system_error>

#include <fmt/format.h>

#include "session.hpp"

namespace socklab::demo {

namespace {

namespace fs = std::filesystem;

std::optional<int> number(std::string_view text) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// The owners of the wanted inodes: one walk over /proc/*/fd, as ss does.
// Processes that end during the walk, or whose fds we may not read, are skipped.
void find_owners(std::vector<Listener>& listeners) {
  std::map<std::uint32_t, Listener*> wanted;
  for (auto& l : listeners) {
    if (l.inode != 0) wanted[l.inode] = &l;
  }
  if (wanted.empty()) return;
  std::error_code ec;
  for (fs::directory_iterator proc("/proc", ec), end; !ec && proc != end; proc.increment(ec)) {
    const auto pid = number(proc->path().filename().native());
    if (!pid) continue;
    std::error_code fd_ec;
    for (fs::directory_iterator fds(proc->path() / "fd", fd_ec), fd_end; !fd_ec && fds != fd_end;
         fds.increment(fd_ec)) {
      std::error_code link_ec;
      const std::string target = fs::read_symlink(fds->path(), link_ec).native();
      if (link_ec || !target.starts_with("socket:[") || !target.ends_with(']')) continue;
      const auto inode = number(std::string_view(target).substr(8, target.size() - 9));
      if (!inode) continue;
      const auto it = wanted.find(static_cast<std::uint32_t>(*inode));
      if (it == wanted.end() || it->second->pid) continue;
      Listener& l = *it->second;
      l.pid = *pid;
      l.fd = number(fds->path().filename().native());
      std::ifstream comm(proc->path() / "comm");
      std::getline(comm, l.process);
    }
  }
}

}  // namespace

std::vector<Listener> tcp_listeners(std::optional<std::uint16_t> port) {
  std::vector<Listener> out;
  for (const int family : {AF_INET, AF_INET6}) {
    auto found = net::find_tcp_sockets({.family = family, .local_port = port, .states = {net::TcpState::listen}});
    if (!found) throw DemoFailure(found.error());
    for (const auto& d : *found) {
      Listener l;
      l.local = d.local;
      l.inode = d.inode;
      out.push_back(std::move(l));
    }
  }
  find_owners(out);
  return out;
}

std::string ss_row(const Listener& l) {
  if (!l.pid) return l.local.to_string();
  return fmt::format("{} users:((\"{}\",pid={},fd={}))", l.local.to_string(), l.process, *l.pid, l.fd.value_or(-1));
}

}  // namespace socklab::demo
