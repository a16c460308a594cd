// sluice-policyd: Postfix SMTP access policy service enforcing per-sender
// quotas and suppression lists kept in Redis.
//
// Signals: SIGHUP reloads sluice.conf (an invalid file is logged and the
// running configuration kept); SIGTERM and SIGINT stop accepting, let the
// requests in flight finish (up to 5 s) and exit.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/cli.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/log.h"
#include "policyd/event_loop.h"
#include "policyd/server.h"

namespace {

using namespace sluice;
using namespace sluice::policyd;

constexpr auto kDrainGrace = std::chrono::milliseconds{5000};
constexpr auto kTickInterval = std::chrono::milliseconds{50};

LogOptions log_options_for(const Config& config, const CommonOptions& options) {
  LogOptions log;
  log.ident = "sluice-policyd";
  log.facility = config.log.facility;
  log.level = options.verbose ? LogLevel::kDebug : config.log.level;
  log.to_stderr = options.foreground;
  return log;
}

// Signals arrive as readable events on a signalfd, so reload and shutdown
// run on the loop's thread between requests, never inside a handler.
class SignalHandler : public EventLoop::Handler {
 public:
  SignalHandler(EventLoop& loop, Server& server, const CommonOptions& options)
      : loop_(loop), server_(server), options_(options) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0 || !loop_.add(fd_, EPOLLIN, this)) log_fatal("signalfd: %s", std::strerror(errno));
  }
  ~SignalHandler() override {
    loop_.remove(fd_);
    close(fd_);
  }

  void on_io(std::uint32_t) override {
    signalfd_siginfo info{};
    while (read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGHUP) {
        reload();
      } else if (!stopping_) {
        stopping_ = true;
        log_info("signal %u: stopping", info.ssi_signo);
        server_.drain(kDrainGrace);
      }
    }
  }

  bool stopping() const { return stopping_; }

 private:
  void reload() {
    auto config = load_config(options_.config_path);
    if (!config) {
      log_error("reload refused, keeping the running configuration: %s", config.error().detail.c_str());
      return;
    }
    log_init(log_options_for(*config, options_));
    server_.reload(make_snapshot(std::make_shared<const Config>(std::move(config).value())));
  }

  EventLoop& loop_;
  Server& server_;
  const CommonOptions& options_;
  int fd_ = -1;
  bool stopping_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  DaemonStart start = start_daemon_cli(
      argc, argv, "sluice-policyd", "Postfix policy service for Sluice: per-sender quotas and suppression lists in Redis.");
  if (!start.options) return start.exit_status;
  const std::optional<CommonOptions>& options = start.options;
  if (options->check_config) return check_config_and_report(*options);

  auto loaded = load_config(options->config_path);
  if (!loaded) {
    std::fprintf(stderr, "sluice-policyd: %s\n", loaded.error().detail.c_str());
    return 1;
  }
  auto config = std::make_shared<const Config>(std::move(loaded).value());
  log_init(log_options_for(*config, *options));
  if (config->quota_rules.empty() && !config->policyd.suppression) {
    log_warn("no [quota NAME] rules and suppression = no: every request will be answered DUNNO");
  }

  hold_daemon_signals();

  EventLoop loop;
  Server server(loop, make_snapshot(config));
  if (Status opened = server.open_listeners(); !opened) log_fatal("%s", opened.error().message().c_str());
  if (!options->foreground) {
    if (Status detached = daemonize(); !detached) log_fatal("%s", detached.error().message().c_str());
  }
  if (Status written = write_pid_file(config->policyd.pid_file); !written) {
    log_fatal("%s", written.error().message().c_str());
  }
  if (Status dropped = drop_privileges(config->policyd.user); !dropped) {
    log_fatal("%s", dropped.error().message().c_str());
  }
  SignalHandler signals(loop, server, *options);
  log_info("started (%zu quota rules, suppression %s, on_redis_error %s)", config->quota_rules.size(),
           config->policyd.suppression ? "on" : "off",
           config->policyd.on_redis_error == RedisErrorAction::kAccept ? "accept" : "tempfail");

  loop.run(
      kTickInterval,
      [&] {
        server.tick();
        if (server.drained()) loop.stop();
      },
      [&] {
        server.after_batch();
        if (server.drained()) loop.stop();
      });
  remove_pid_file(config->policyd.pid_file);
  log_info("stopped");
  return 0;
}
