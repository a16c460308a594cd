#include "common/daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace sluice {
namespace {

Error system_error(const std::string& what) { return make_error(Errc::kIo, what + ": " + std::strerror(errno)); }

}  // namespace

Status daemonize() {
  for (int round = 0; round < 2; ++round) {
    const pid_t pid = fork();
    if (pid < 0) return system_error("fork");
    if (pid > 0) _exit(0);
    if (round == 0 && setsid() < 0) return system_error("setsid");
  }
  if (chdir("/") != 0) return system_error("chdir /");
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return system_error("open /dev/null");
  for (int fd = 0; fd <= 2; ++fd) dup2(null, fd);
  if (null > 2) close(null);
  return {};
}

Status write_pid_file(const std::string& path) {
  if (path.empty()) return {};
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return system_error("open pid file " + path);
  char old[32] = {};
  const ssize_t n = read(fd, old, sizeof old - 1);
  if (n > 0) {
    const long other = std::strtol(old, nullptr, 10);
    if (other > 0 && other != getpid() && kill(static_cast<pid_t>(other), 0) == 0) {
      close(fd);
      return make_error(Errc::kConfig, "pid file " + path + " names running process " + std::to_string(other) +
                                           ": is another instance using this configuration?");
    }
  }
  const std::string text = std::to_string(getpid()) + "\n";
  const bool ok = ftruncate(fd, 0) == 0 && pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!ok) return system_error("write pid file " + path);
  return {};
}

void remove_pid_file(const std::string& path) {
  if (!path.empty()) unlink(path.c_str());
}

sigset_t daemon_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

void hold_daemon_signals() {
  const sigset_t held = daemon_signal_set();
  sigprocmask(SIG_BLOCK, &held, nullptr);
}

Status drop_privileges(const std::string& user) {
  if (user.empty()) return {};
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return make_error(Errc::kConfig, "unknown user \"" + user + "\"");
  }
  if (getuid() == found->pw_uid && geteuid() == found->pw_uid) return {};
  if (initgroups(found->pw_name, found->pw_gid) != 0) return system_error("initgroups " + user);
  if (setgid(found->pw_gid) != 0) return system_error("setgid " + user);
  if (setuid(found->pw_uid) != 0) return system_error("setuid " + user);
  // Regaining root must be impossible from here on.
  if (setuid(0) == 0) return make_error(Errc::kInternal, "could regain root after dropping to " + user);
  return {};
}

Status enter_daemon_mode(bool foreground, const std::string& pid_file, const std::string& user) {
  if (!foreground) {
    if (Status detached = daemonize(); !detached) return detached;
  }
  if (Status written = write_pid_file(pid_file); !written) return written;
  return drop_privileges(user);
}

}  // namespace sluice
