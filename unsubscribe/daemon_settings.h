// Where sluice-unsubscribe writes its PID and which user it runs as:
// [unsubscribe] pid_file and user.
#pragma once

#include <string>

#include "common/config.h"

namespace sluice::unsubscribe {

struct DaemonSettings {
  std::string pid_file;  // empty: none
  std::string user;      // empty: stay
};

inline DaemonSettings daemon_settings(const Config& config) {
  return DaemonSettings{config.feedback.unsubscribe.pid_file, config.feedback.unsubscribe.user};
}

}  // namespace sluice::unsubscribe
