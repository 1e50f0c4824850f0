// Waiting helpers for tests/lib: each waits for a condition, never a guessed time.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace socklab::test {

// Re-checks `cond` at a short interval until it holds or `limit` passes.
template <class Cond>
bool wait_until(Cond cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The system call glibc's poll() makes.
#ifdef SYS_poll
inline constexpr long poll_syscall = SYS_poll;
#else
inline constexpr long poll_syscall = SYS_ppoll;
#endif

// The system call a thread of this process is blocked in, from
// /proc/self/task/TID/syscall ("45 0x3 ..."), or -1 when it is running or gone.
inline long blocked_syscall(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string first;
  if (!(f >> first)) return -1;
  try {
    return std::stol(first);
  } catch (...) {  // "running"
    return -1;
  }
}

// True when the thread sleeps (state S) inside system call `nr`: a signal or
// the awaited event is needed to wake it.
inline bool sleeping_in(pid_t tid, long nr) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  return line[close + 2] == 'S' && blocked_syscall(tid) == nr;
}

}  // namespace socklab::test
