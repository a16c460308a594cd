// sluicectl config keys: every sluice.conf key with its type, default and
// help, straight from the table the parser uses, so it cannot drift.
#pragma once

#include "ctl/command.h"

namespace sluice::ctl {

int run_config(const CommandContext& context);

}  // namespace sluice::ctl
