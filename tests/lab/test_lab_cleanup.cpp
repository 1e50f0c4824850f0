// Cleanup is certain: nothing of a lab is left after a normal exit, after a signal,
// after a failing test, and after SIGKILL once the next run starts; two runs at once
// do not collide. The runs are lab_child processes (three hosts and a switch).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "socklab/lab/lab.hpp"

extern char** environ;

using namespace socklab::lab;

namespace {

std::vector<std::string> namespaces_of(pid_t pid) {
  std::vector<std::string> out;
  for (auto& n : socklab_namespaces()) {
    if (n.starts_with("socklab-" + std::to_string(pid) + "-")) out.push_back(n);
  }
  return out;
}

// A lab_child run: started, read up to "ready" (its namespaces listed before it).
struct Child {
  pid_t pid = -1;
  int to_child = -1;   // its stdin: closing it ends the run normally
  FILE* from_child = nullptr;
  std::vector<std::string> netns;
  int status = 0;

  Child() {
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char* argv[] = {const_cast<char*>(SOCKLAB_LAB_CHILD), nullptr};
    const int err = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    REQUIRE(err == 0);
    to_child = in[1];
    from_child = ::fdopen(out[0], "r");
  }
  // Reads the namespace list up to "ready"; false if the child ended first.
  bool ready() {
    char line[256];
    while (std::fgets(line, sizeof line, from_child) != nullptr) {
      std::string s(line);
      if (!s.empty() && s.back() == '\n') s.pop_back();
      if (s == "ready") return true;
      netns.push_back(s);
    }
    return false;
  }
  int wait() {
    if (to_child >= 0) ::close(std::exchange(to_child, -1));
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return status;
  }
  ~Child() {
    if (to_child >= 0) ::close(to_child);
    if (from_child) std::fclose(from_child);
    if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
};

}  // namespace

TEST_CASE("a normal exit removes every namespace of the run", "[lab][cleanup]") {
  Child c;
  REQUIRE(c.ready());
  CHECK(c.netns.size() == 4);
  std::ranges::sort(c.netns);
  CHECK(namespaces_of(c.pid) == c.netns);
  const int st = c.wait();
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(namespaces_of(c.pid).empty());
}

TEST_CASE("SIGTERM, SIGINT and SIGHUP clean up, then the run dies of the signal", "[lab][cleanup]") {
  for (const int sig : {SIGTERM, SIGINT, SIGHUP}) {
    Child c;
    REQUIRE(c.ready());
    REQUIRE(namespaces_of(c.pid).size() == 4);
    ::kill(c.pid, sig);
    const int st = c.wait();
    CHECK(WIFSIGNALED(st));
    CHECK(WTERMSIG(st) == sig);
    CHECK(namespaces_of(c.pid).empty());
  }
}

TEST_CASE("after SIGKILL the leftovers stay until the next run starts, which removes them", "[lab][cleanup]") {
  Child c;
  REQUIRE(c.ready());
  ::kill(c.pid, SIGKILL);
  c.wait();
  // Nothing could run in the killed process: its namespaces are still there...
  CHECK(namespaces_of(c.pid).size() == 4);
  // ...until the next run starts.
  { Lab next = Lab::create(); }
  CHECK(namespaces_of(c.pid).empty());
}

TEST_CASE("the sweep never touches a live run's namespaces", "[lab][cleanup]") {
  Child live;
  REQUIRE(live.ready());
  const auto removed = sweep_dead_runs();
  CHECK(std::ranges::none_of(removed, [&](const std::string& n) { return n.find(std::to_string(live.pid)) != std::string::npos; }));
  CHECK(namespaces_of(live.pid).size() == 4);
  live.wait();
  CHECK(namespaces_of(live.pid).empty());
}

TEST_CASE("two runs at once do not collide", "[lab][cleanup]") {
  Child one, two;
  REQUIRE(one.ready());
  REQUIRE(two.ready());
  CHECK(namespaces_of(one.pid).size() == 4);
  CHECK(namespaces_of(two.pid).size() == 4);
  for (const auto& n : one.netns) CHECK(std::ranges::find(two.netns, n) == two.netns.end());
  CHECK(WEXITSTATUS(one.wait()) == 0);
  CHECK(namespaces_of(two.pid).size() == 4);  // the first run's exit left the second's alone
  CHECK(WEXITSTATUS(two.wait()) == 0);
  CHECK(namespaces_of(one.pid).empty());
  CHECK(namespaces_of(two.pid).empty());
}

TEST_CASE("a test that fails half-way leaves nothing behind (RAII)", "[lab][cleanup]") {
  const std::string mine = "socklab-" + std::to_string(::getpid()) + "-";
  const auto ours = [&] {
    return std::ranges::count_if(socklab_namespaces(), [&](const std::string& n) { return n.starts_with(mine); });
  };
  CHECK_THROWS_AS(([&] {
                    Lab lab = Lab::create();
                    add_lan(lab, "sw", {"A", "B"}, "10.0.0", 0x0a);
                    REQUIRE(ours() == 3);
                    throw std::runtime_error("a check failed here");
                  }()),
                  std::runtime_error);
  CHECK(ours() == 0);
}

TEST_CASE("without CAP_NET_ADMIN and CAP_SYS_ADMIN: one paragraph naming them, the documented exit code",
          "[lab][privilege]") {
  // capsh drops the two capabilities from the bounding set; the shell it starts (and so
  // lab_child) runs without them although it is root.
  const std::string cmd = std::string("/usr/sbin/capsh --drop=cap_net_admin,cap_sys_admin -- -c 'exec ") +
                          SOCKLAB_LAB_CHILD + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string text;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) text += buf;
  const int st = ::pclose(p);
  REQUIRE(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == exit_missing_privilege);
  CHECK(text.find("CAP_NET_ADMIN") != std::string::npos);
  CHECK(text.find("CAP_SYS_ADMIN") != std::string::npos);
  CHECK(text.find("setcap") != std::string::npos);
  CHECK(std::ranges::count(text, '\n') == 1);  // one paragraph
}
