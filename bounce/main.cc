// sluice-bounce: run by Postfix pipe(8) for the VERP bounce domain and the
// feedback-loop address, one report per run on stdin (doc/sluice-bounce.8).
// Exit statuses follow sysexits(3), as pipe(8) reads them: bounce_run.h.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bounce/bounce_cli.h"
#include "bounce/bounce_run.h"
#include "bounce/report.h"
#include "common/config.h"
#include "common/log.h"
#include "common/redis_conn.h"

namespace {

using namespace sluice;
using namespace sluice::bounce;

// Reads stdin: keeps the first kMaxReportBytes, reads and drops the rest
// (so Postfix does not see a broken pipe). False on a read error.
bool read_report(std::string& out, bool& cut) {
  out.clear();
  cut = false;
  std::vector<char> buffer(64 * 1024);
  while (true) {
    const ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    const std::size_t room = kMaxReportBytes - std::min(out.size(), kMaxReportBytes);
    const std::size_t keep = std::min(room, static_cast<std::size_t>(n));
    out.append(buffer.data(), keep);
    if (keep < static_cast<std::size_t>(n)) cut = true;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  auto options = parse_bounce_args(args);
  if (!options) {
    std::fprintf(stderr, "sluice-bounce: %s\n", options.error().detail.c_str());
    return kExitUsage;
  }
  const CommonOptions& common = options->common;
  if (common.help) {
    std::printf("%.*s%.*s", static_cast<int>(bounce_usage().size()), bounce_usage().data(),
                static_cast<int>(common_options_help().size()), common_options_help().data());
    return kExitOk;
  }
  if (common.version) {
    std::printf("sluice-bounce %s\n", PACKAGE_VERSION);
    return kExitOk;
  }
  if (common.check_config) return check_config_and_report(common);

  LogOptions log;
  log.ident = "sluice-bounce";
  log.to_stderr = common.foreground;
  log.level = common.verbose ? LogLevel::kDebug : LogLevel::kInfo;
  log_init(log);
  auto config = load_config(common.config_path);
  if (!config) {
    // A report must never be lost to a configuration mistake (an unreadable
    // key_file, a typo after an edit): Postfix keeps the message queued on
    // 75 and retries once the operator has fixed it. 78 would bounce the
    // report, and a report with a null sender is then dropped.
    std::fprintf(stderr, "sluice-bounce: %s (exit 75: Postfix keeps the report queued)\n",
                 config.error().detail.c_str());
    log_error("%s; the report stays queued in Postfix until the configuration loads", config.error().detail.c_str());
    return kExitTempfail;
  }
  log.facility = config->log.facility;
  if (!common.verbose) log.level = config->log.level;
  log_init(log);

  std::string message;
  BounceInput input;
  if (!read_report(message, input.cut)) {
    log_error("cannot read the report from stdin: %s (exit 75: Postfix will retry)", std::strerror(errno));
    return kExitTempfail;
  }
  if (input.cut) log_warn("report longer than %zu bytes: only the first ones are parsed", kMaxReportBytes);
  input.message = message;
  input.envelope_recipient = options->recipient;
  input.queue_id = options->queue_id;
  RedisConn conn(config->redis.connection);
  const int status = process_report(*config, conn, input);
  if (status == kExitTempfail) std::fprintf(stderr, "sluice-bounce: temporary failure, see the log\n");
  return status;
}
