// What the sluicectl subcommands share around their own work: usage errors,
// --help, and turning a failed store or Redis call into a message on stderr
// and an exit status (ctl/command.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sluice::ctl {

// A usage error (Errc::kInvalidInput), |detail| saying what is wrong.
Error usage(std::string detail);

// True when |args| ask for help: "help" first, or --help or -h anywhere.
bool wants_help(const std::vector<std::string>& args);

// The exit status for arguments that did not parse (kExitUsage), after
// "sluicectl: REASON (try sluicectl COMMAND --help)" on stderr.
int report_usage(const Error& error, std::string_view command);

// --help: |usage_text| on stdout; kExitOk.
int print_help(const char* usage_text);

// The exit status for a failed store call, after saying why on stderr:
// kExitUnavailable when Redis could not be reached or timed out (retry),
// else kExitFailed.
int report(const Error& error);

}  // namespace sluice::ctl
