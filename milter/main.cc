// sluice-milter: DKIM signing, header rewriting and tracking IDs for mail
// leaving through Postfix (smtpd_milters) or Sendmail (INPUT_MAIL_FILTER).
//
// Signals: SIGHUP reloads sluice.conf, the tables, the keys and the rules
// for new connections (connections in progress keep what they started
// with; an invalid configuration is logged and the running one kept).
// SIGTERM and SIGINT stop accepting and exit once connections end.
#include <libmilter/mfapi.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "common/cli.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/log.h"
#include "milter/callbacks.h"
#include "milter/runtime.h"
#include "milter/signal_routing.h"
#include "milter/snapshot.h"

namespace {

using namespace sluice;
using namespace sluice::milter;

CommonOptions g_options;  // read-only after main() starts the threads

LogOptions log_options_for(const Config& config) { return daemon_log_options("sluice-milter", config, g_options); }

Result<SnapshotPtr> load_everything(const std::string& path) {
  auto config = load_config(path);
  if (!config) return config.error();
  return load_snapshot(std::make_shared<const Config>(std::move(config).value()));
}

void reload() {
  auto snapshot = load_everything(g_options.config_path);
  if (!snapshot) {
    log_error("reload refused, keeping the running configuration: %s", snapshot.error().detail.c_str());
    return;
  }
  log_init(log_options_for(*(*snapshot)->config));
  const Config& config = *(*snapshot)->config;
  if (config.milter.socket != runtime().snapshot()->config->milter.socket) {
    log_warn("reload: socket changed; it takes effect at the next restart");
  }
  runtime().replace(*snapshot);
  log_info("reload: configuration %s loaded (%zu keys, %zu signing-table lines, %zu header rules)",
           config.path.c_str(), (*snapshot)->keys.entries().size(), (*snapshot)->signing.entries().size(),
           (*snapshot)->rules ? (*snapshot)->rules->size() : std::size_t{0});
}

}  // namespace

int main(int argc, char** argv) {
  DaemonStart start = start_daemon_cli(argc, argv, "sluice-milter",
                                       "DKIM signing, header rules and tracking IDs for Postfix and Sendmail.");
  if (!start.options) return start.exit_status;
  g_options = std::move(*start.options);

  // -n checks what a start would: the file, the tables, the keys, the rules.
  auto snapshot = load_everything(g_options.config_path);
  if (!snapshot) {
    std::fprintf(stderr, "sluice-milter: %s\n", snapshot.error().detail.c_str());
    return 1;
  }
  if (g_options.check_config) {
    std::printf("%s: configuration OK (%zu keys)\n", g_options.config_path.c_str(), (*snapshot)->keys.entries().size());
    return 0;
  }
  const Config& config = *(*snapshot)->config;
  log_init(log_options_for(config));
  if (!(*snapshot)->has_tables) log_warn("no key_table/signing_table: messages get tracking IDs but no signature");

  // Until libmilter's signal thread or our reload thread waits for them.
  hold_daemon_signals();

  Runtime state(*snapshot);
  set_runtime(&state);
  smfiDesc description = milter_description();
  if (smfi_register(description) != MI_SUCCESS) log_fatal("smfi_register failed");
  if (smfi_setconn(const_cast<char*>(config.milter.socket.c_str())) != MI_SUCCESS) {
    log_fatal("invalid milter socket %s", config.milter.socket.c_str());
  }
  smfi_settimeout(static_cast<int>(config.milter.mta_timeout.count()));
  // A unix socket must be writable by the MTA's user (Postfix runs smtpd
  // as "postfix"); restrict access with the directory's permissions.
  const mode_t old_umask = umask(0);
  const int opened = smfi_opensocket(true);
  umask(old_umask);
  if (opened != MI_SUCCESS) log_fatal("cannot listen on %s", config.milter.socket.c_str());

  if (!g_options.foreground) {
    if (Status detached = daemonize(); !detached) log_fatal("%s", detached.error().message().c_str());
  }
  if (Status written = write_pid_file(config.milter.pid_file); !written) {
    log_fatal("%s", written.error().message().c_str());
  }
  if (Status dropped = drop_privileges(config.milter.user); !dropped) {
    log_fatal("%s", dropped.error().message().c_str());
  }
  start_reload_thread(reload);
  log_info("started on %s (%zu keys, canonicalization %s/%s)", config.milter.socket.c_str(),
           (*snapshot)->keys.entries().size(),
           config.milter.header_canon == DkimCanonicalization::kSimple ? "simple" : "relaxed",
           config.milter.body_canon == DkimCanonicalization::kSimple ? "simple" : "relaxed");
  const int result = smfi_main();
  remove_pid_file(config.milter.pid_file);
  log_info("stopped");
  return result == MI_SUCCESS ? 0 : 1;
}
