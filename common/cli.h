// Command-line options every Sluice program shares (-c FILE, -n, -f, -v, -h,
// -V), parsed by a pure function so each program handles them the same way
// and tests need no argv. Options stop at the first operand: what follows
// (a sluicectl subcommand and its own options) is returned untouched.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "common/result.h"

namespace sluice {

struct CommonOptions {
  std::string config_path;    // -c FILE; default_config_path() when not given
  bool check_config = false;  // -n, --check-config: validate and exit 0/1
  bool foreground = false;    // -f, --foreground: stay attached, log to stderr
  bool verbose = false;       // -v, --verbose: log level debug
  bool help = false;          // -h, --help
  bool version = false;       // -V, --version
  std::vector<std::string> operands;  // everything after the options
};

// |args| excludes argv[0]. Errors are usage errors (Errc::kInvalidInput).
Result<CommonOptions> parse_common_options(std::span<const std::string_view> args);
Result<CommonOptions> parse_common_options(int argc, char** argv);

// The lines describing the shared options, for each program's --help.
std::string_view common_options_help();

// The start of every daemon's main(): parses the shared options and
// handles --help, --version and stray operands. Returns the options, or the
// exit status main() should return at once (0 after help or version, 2 on a
// usage error, with the message printed).
struct DaemonStart {
  std::optional<CommonOptions> options;
  int exit_status = 0;
};
DaemonStart start_daemon_cli(int argc, char** argv, std::string_view program, std::string_view summary);

// For -n: loads the config, prints "FILE: configuration OK" on stdout or the
// error on stderr, and returns the exit status (0 or 1).
int check_config_and_report(const CommonOptions& options);

// The configuration a daemon starts with; on failure nullptr, after
// "PROGRAM: reason" on stderr (main() then exits 1).
ConfigPtr load_config_or_report(const CommonOptions& options, std::string_view program);

// A daemon's logging: |ident| to syslog at the configured facility and
// level, debug with -v, stderr instead with -f.
LogOptions daemon_log_options(std::string ident, const Config& config, const CommonOptions& options);

// For SIGHUP: the configuration again, with logging re-initialised for it
// (daemon_log_options). An invalid file is logged and gives nullptr: the
// daemon keeps running with what it has.
ConfigPtr reload_config_or_log(const CommonOptions& options, std::string ident);

}  // namespace sluice
