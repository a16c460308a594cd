// SIGHUP belongs to sluice-milter, not to libmilter. libmilter's own signal
// thread treats SIGHUP like SIGTERM (it stops the milter), but the issue and
// every operator expect SIGHUP to reload. libmilter waits with sigwait(), so
// this file provides a sigwait() that never waits for SIGHUP; our reload
// thread waits for it with sigwaitinfo() instead. SIGTERM and SIGINT still
// reach libmilter, which drains and exits as before.
#pragma once

namespace sluice::milter {

// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (call before any
// thread exists, so every thread inherits it) and starts the thread that
// calls |on_reload| for each SIGHUP.
void start_reload_thread(void (*on_reload)());

}  // namespace sluice::milter
