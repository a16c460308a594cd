// sluice-policyd: Postfix SMTP access policy service enforcing per-sender
// quotas, suppression lists, sender authorisation and account pauses kept in
// Redis, SPF for partner relays, and a relay guard.
//
// Signals: SIGHUP reloads sluice.conf (an invalid file is logged and the
// running configuration kept); SIGTERM and SIGINT stop accepting, let the
// requests in flight finish (up to 5 s) and exit.
#include <memory>

#include "common/cli.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/daemon_signals.h"
#include "common/log.h"
#include "common/event_loop.h"
#include "policyd/server.h"

namespace {

using namespace sluice;
using namespace sluice::policyd;

constexpr const char* kProgram = "sluice-policyd";
constexpr auto kDrainGrace = std::chrono::milliseconds{5000};
constexpr auto kTickInterval = std::chrono::milliseconds{50};

void reload(Server& server, const CommonOptions& options) {
  if (ConfigPtr config = reload_config_or_log(options, kProgram)) server.reload(make_snapshot(std::move(config)));
}

}  // namespace

int main(int argc, char** argv) {
  DaemonStart start = start_daemon_cli(
      argc, argv, kProgram, "Postfix policy service for Sluice: per-sender quotas and suppression lists in Redis.");
  if (!start.options) return start.exit_status;
  const std::optional<CommonOptions>& options = start.options;
  if (options->check_config) return check_config_and_report(*options);

  const ConfigPtr config = load_config_or_report(*options, kProgram);
  if (!config) return 1;
  log_init(daemon_log_options(kProgram, *config, *options));
  const PolicydSettings& policyd = config->policyd;
  if (config->quota_rules.empty() && !policyd.suppression && !policyd.sender_authorisation && !policyd.spf &&
      !policyd.require_authentication) {
    log_warn("no [quota NAME] rules, suppression, sender_authorisation, spf or require_authentication: "
             "only paused accounts will be refused");
  }

  hold_daemon_signals();

  EventLoop loop;
  Server server(loop, make_snapshot(config));
  if (Status opened = server.open_listeners(); !opened) log_fatal("%s", opened.error().message().c_str());
  if (Status entered = enter_daemon_mode(options->foreground, policyd.pid_file, policyd.user); !entered) {
    log_fatal("%s", entered.error().message().c_str());
  }
  server.start_spf();
  DaemonSignals signals(
      loop, [&] { reload(server, *options); }, [&] { server.drain(kDrainGrace); });
  log_info("started (%zu quota rules, suppression %s, sender_authorisation %s, require_authentication %s, spf %s, "
           "on_redis_error %s)",
           config->quota_rules.size(), policyd.suppression ? "on" : "off", policyd.sender_authorisation ? "on" : "off",
           policyd.require_authentication ? "on" : "off", policyd.spf ? "on" : "off",
           policyd.on_redis_error == RedisErrorAction::kAccept ? "accept" : "tempfail");

  run_until_drained(loop, server, kTickInterval);
  remove_pid_file(policyd.pid_file);
  log_info("stopped");
  return 0;
}
