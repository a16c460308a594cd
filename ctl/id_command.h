// sluicectl id new [N] | id show ID: make tracking IDs, and tell when one was
// made (an operator holding a bounce wants to know which day to search).
#pragma once

#include "ctl/command.h"

namespace sluice::ctl {

int run_id(const CommandContext& context);

}  // namespace sluice::ctl
