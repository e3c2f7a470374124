// A child process whose output the test reads as it comes (to signal it mid-run): spawn() and
// read_until().
#pragma once

#include <poll.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace kiln::testing {

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of its stdout + stderr
};

inline Child spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

// Reads from fd into `text` until `until` appears in it, EOF, or the deadline.
inline bool read_until(int fd, std::string& text, const std::string& until, std::chrono::steady_clock::time_point deadline) {
  char buf[4096];
  while (until.empty() || text.find(until) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return until.empty();
    text.append(buf, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace kiln::testing
