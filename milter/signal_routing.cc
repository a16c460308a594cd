#include "milter/signal_routing.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>

// Replaces libc's sigwait for this program (and the libmilter it links):
// the same contract, minus SIGHUP.
extern "C" int sigwait(const sigset_t* set, int* sig) {
  sigset_t without_hup = *set;
  sigdelset(&without_hup, SIGHUP);
  while (true) {
    const int got = sigwaitinfo(&without_hup, nullptr);
    if (got > 0) {
      *sig = got;
      return 0;
    }
    if (errno != EINTR) return errno;
  }
}

namespace sluice::milter {
namespace {

void* reload_loop(void* argument) {
  auto on_reload = reinterpret_cast<void (*)()>(argument);
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  while (true) {
    if (sigwaitinfo(&hup, nullptr) == SIGHUP) on_reload();
  }
  return nullptr;
}

}  // namespace

void start_reload_thread(void (*on_reload)()) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  pthread_t thread;
  pthread_create(&thread, nullptr, reload_loop, reinterpret_cast<void*>(on_reload));
  pthread_detach(thread);
}

}  // namespace sluice::milter
