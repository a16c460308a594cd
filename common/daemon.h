// Process plumbing shared by the daemons: detaching from the terminal, the
// pid file, and dropping root after the sockets are open. Called once at
// start-up; errors are returned for the caller to log and exit on.
#pragma once

#include <signal.h>

#include <string>

#include "common/result.h"

namespace sluice {

// fork, setsid, fork again, chdir /, stdin/stdout/stderr to /dev/null. The
// parent returns only in the final child (the original process exits 0).
Status daemonize();

// Writes the current PID to |path|, refusing when another live process holds
// it (a second daemon on the same config). Removed by remove_pid_file().
Status write_pid_file(const std::string& path);
void remove_pid_file(const std::string& path);

// SIGHUP (reload), SIGTERM and SIGINT (stop): the signals a daemon handles.
sigset_t daemon_signal_set();

// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (and the threads
// it starts), so they wait until the daemon's handler reads them: a SIGHUP
// from logrotate during start-up must not kill it by default action.
void hold_daemon_signals();

// Switches to |user| (its uid, gid and supplementary groups). A no-op when
// |user| is empty; an error when not root and |user| is not the current user.
Status drop_privileges(const std::string& user);

// The last steps of a start, once the sockets are open: daemonize() unless
// |foreground|, write_pid_file(|pid_file|), drop_privileges(|user|). The
// first failure is returned.
Status enter_daemon_mode(bool foreground, const std::string& pid_file, const std::string& user);

}  // namespace sluice
