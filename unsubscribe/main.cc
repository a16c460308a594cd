// sluice-unsubscribe: the RFC 8058 one-click unsubscribe endpoint. An HTTP
// server on [unsubscribe] listen (loopback by default), meant to sit behind
// the operator's web server, which terminates TLS and forwards the
// url_base path. A valid token POSTed with List-Unsubscribe=One-Click
// suppresses its recipient for its account (see request_plan.h).
//
// Signals: SIGHUP reloads sluice.conf, the unsubscribe keys with it (an
// invalid file is logged and the running configuration kept); SIGTERM and
// SIGINT stop accepting, let the answers in progress go out (up to 2 s) and
// exit 0.
#include <memory>

#include "common/cli.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/daemon_signals.h"
#include "common/log.h"
#include "common/event_loop.h"
#include "unsubscribe/server.h"

namespace {

using namespace sluice;
using namespace sluice::unsubscribe;

constexpr const char* kProgram = "sluice-unsubscribe";
constexpr auto kDrainGrace = std::chrono::milliseconds{2000};
constexpr auto kTickInterval = std::chrono::milliseconds{100};

void reload(Server& server, const CommonOptions& options) {
  ConfigPtr config = reload_config_or_log(options, kProgram);
  if (!config) return;
  if (config->feedback.unsubscribe.keys.empty()) log_warn("reload: no unsubscribe keys: every token will be refused");
  server.reload(std::move(config));
}

}  // namespace

int main(int argc, char** argv) {
  DaemonStart start = start_daemon_cli(argc, argv, kProgram,
                                       "RFC 8058 one-click unsubscribe endpoint for Sluice (HTTP, behind a web server).");
  if (!start.options) return start.exit_status;
  const std::optional<CommonOptions>& options = start.options;
  if (options->check_config) return check_config_and_report(*options);

  const ConfigPtr config = load_config_or_report(*options, kProgram);
  if (!config) return 1;
  log_init(daemon_log_options(kProgram, *config, *options));
  if (config->feedback.unsubscribe.keys.empty()) {
    log_warn("[unsubscribe] key_file gives no keys: every token will be refused");
  }
  const UnsubscribeSettings& settings = config->feedback.unsubscribe;

  hold_daemon_signals();

  EventLoop loop;
  Server server(loop, config);
  if (Status opened = server.open_listeners(); !opened) log_fatal("%s", opened.error().message().c_str());
  if (Status entered = enter_daemon_mode(options->foreground, settings.pid_file, settings.user); !entered) {
    log_fatal("%s", entered.error().message().c_str());
  }
  DaemonSignals signals(
      loop, [&] { reload(server, *options); }, [&] { server.drain(kDrainGrace); });
  log_info("started (%zu keys, redis %s)", config->feedback.unsubscribe.keys.size(),
           redis_endpoint(config->redis.connection).c_str());

  run_until_drained(loop, server, kTickInterval);
  remove_pid_file(settings.pid_file);
  log_info("stopped");
  return 0;
}
