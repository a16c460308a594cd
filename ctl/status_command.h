// sluicectl status: is the shared Redis reachable, how fast, and is it set up
// the way Sluice needs (persistence on, eviction off)?
#pragma once

#include "ctl/command.h"

namespace sluice::ctl {

int run_status(const CommandContext& context);

}  // namespace sluice::ctl
