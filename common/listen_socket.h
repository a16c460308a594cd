// A listening, non-blocking stream socket for a Postfix-notation address
// (common/listen_address.h), for the daemons' epoll loops (sluice-policyd,
// sluice-unsubscribe).
#pragma once

#include "common/listen_address.h"
#include "common/result.h"

namespace sluice {

// The socket (close-on-exec, non-blocking, SO_REUSEADDR on inet). A stale
// unix socket file is replaced; any other file in the way is an error.
Result<int> open_listen_socket(const ListenAddress& address, unsigned unix_mode);

}  // namespace sluice
