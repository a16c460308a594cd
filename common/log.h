// Logging for every Sluice program: syslog by default, stderr in foreground
// mode, one line per event. Levels follow Postfix's msg.c (info, warning,
// error, fatal) plus debug.
//
// The logger is the one piece of process-wide state besides the config
// snapshot: syslog itself is process-wide. It is thread-safe; log_init may be
// called again on reload. Callers escape untrusted text with log_escape().
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sluice {

enum class LogLevel { kDebug, kInfo, kWarning, kError, kFatal };

struct LogOptions {
  std::string ident = "sluice";  // syslog program name ("sluice-milter")
  int facility = 0;              // 0: LOG_MAIL
  LogLevel level = LogLevel::kInfo;
  bool to_stderr = false;        // foreground mode: stderr instead of syslog
};

// (Re)configures the logger. Safe to call from a reload.
void log_init(const LogOptions& options);

// Test hook: every line that passes the level filter also goes to |sink|
// (nullptr removes it). Not meant for production use.
using LogSink = std::function<void(LogLevel, std::string_view)>;
void log_set_sink(LogSink sink);

bool log_enabled(LogLevel level);

void log_debug(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char* format, ...) __attribute__((format(printf, 1, 2)));
// Logs and exits with status 1: for start-up failures only.
[[noreturn]] void log_fatal(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Makes untrusted text safe for one log line: control bytes, backslash and
// non-ASCII bytes become \xHH escapes; the result is cut to |max_bytes| of
// input and marked with "..." (Postfix logs untrusted text as %.100s).
std::string log_escape(std::string_view untrusted, std::size_t max_bytes = 100);

// "mail", "daemon", "user", "local0".."local7" -> LOG_* facility value.
Result<int> parse_syslog_facility(std::string_view name);
// "debug", "info", "warning", "error" -> LogLevel.
Result<LogLevel> parse_log_level(std::string_view name);
std::string_view log_level_name(LogLevel level);

}  // namespace sluice
