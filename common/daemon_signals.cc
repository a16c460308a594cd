#include "common/daemon_signals.h"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/daemon.h"
#include "common/log.h"

namespace sluice {

DaemonSignals::DaemonSignals(EventLoop& loop, std::function<void()> on_reload, std::function<void()> on_stop)
    : loop_(loop), on_reload_(std::move(on_reload)), on_stop_(std::move(on_stop)) {
  const sigset_t set = daemon_signal_set();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0 || !loop_.add(fd_, EPOLLIN, this)) log_fatal("signalfd: %s", std::strerror(errno));
}

DaemonSignals::~DaemonSignals() {
  loop_.remove(fd_);
  close(fd_);
}

void DaemonSignals::on_io(std::uint32_t) {
  signalfd_siginfo info{};
  while (read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGHUP) {
      on_reload_();
    } else if (!stopping_) {
      stopping_ = true;
      log_info("signal %u: stopping", info.ssi_signo);
      on_stop_();
    }
  }
}

}  // namespace sluice
