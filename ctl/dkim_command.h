// sluicectl dkim keygen | record: make a DKIM key the milter accepts (mode
// 0600, RSA 2048+ or Ed25519) and print the DNS TXT record to publish, the
// same record derived from the key the milter will load.
#pragma once

#include "ctl/command.h"

namespace sluice::ctl {

int run_dkim(const CommandContext& context);

}  // namespace sluice::ctl
