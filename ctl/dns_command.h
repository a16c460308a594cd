// sluicectl dns check DOMAIN [--relay-ip IP]... [--selector SELECTOR]...:
// reads what the check needs from the configuration ([dns] relay_addresses,
// [milter] key_table and the private keys it names), runs ctl/dns_check over
// the system resolver and libspf2, and prints the report. Exit status: 0 all
// good, 1 problems found, 2 usage, 3 DNS failed so nothing can be concluded.
#pragma once

#include "ctl/command.h"

namespace sluice::ctl {

int run_dns(const CommandContext& context);

}  // namespace sluice::ctl
