// sluice-bounce's command line: the shared options (common/cli.h: -c, -n,
// -f, -v, -h, -V) plus --recipient ADDR and --queue-id ID, which pipe(8)
// fills in from ${recipient} and ${queue_id}. Pure.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/cli.h"
#include "common/result.h"

namespace sluice::bounce {

struct BounceOptions {
  CommonOptions common;
  std::string recipient;  // --recipient: the envelope recipient (the VERP address)
  std::string queue_id;   // --queue-id: the report's Postfix queue ID, for the log
};

// |args| excludes argv[0]. Errors are usage errors (kInvalidInput).
Result<BounceOptions> parse_bounce_args(std::span<const std::string_view> args);

std::string_view bounce_usage();

}  // namespace sluice::bounce
