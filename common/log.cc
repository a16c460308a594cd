#include "common/log.h"

#include <syslog.h>

#include <array>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>

namespace sluice {
namespace {

// A log line longer than this is cut: one event never floods syslog.
constexpr std::size_t kMaxLine = 2048;

struct LoggerState {
  std::mutex mu;
  LogOptions options;
  LogSink sink;
  bool syslog_open = false;
};

LoggerState& state() {
  static LoggerState s;  // process-wide by nature (see log.h)
  return s;
}

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

int syslog_priority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return LOG_DEBUG;
    case LogLevel::kInfo: return LOG_INFO;
    case LogLevel::kWarning: return LOG_WARNING;
    case LogLevel::kError: return LOG_ERR;
    case LogLevel::kFatal: return LOG_CRIT;
  }
  return LOG_ERR;
}

// Postfix prefixes every non-info line with its severity; so do we, so that
// `grep warning:` works the same on both.
std::string_view level_prefix(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug: ";
    case LogLevel::kInfo: return "";
    case LogLevel::kWarning: return "warning: ";
    case LogLevel::kError: return "error: ";
    case LogLevel::kFatal: return "fatal: ";
  }
  return "";
}

void emit(LogLevel level, const char* format, va_list args) {
  if (!log_enabled(level)) return;
  std::array<char, kMaxLine> body;
  std::vsnprintf(body.data(), body.size(), format, args);
  std::string line{level_prefix(level)};
  line += body.data();

  LoggerState& s = state();
  std::lock_guard lock(s.mu);
  if (s.options.to_stderr) {
    std::fprintf(stderr, "%s: %s\n", s.options.ident.c_str(), line.c_str());
    std::fflush(stderr);
  } else {
    if (!s.syslog_open) {
      openlog(s.options.ident.c_str(), LOG_PID | LOG_NDELAY,
              s.options.facility != 0 ? s.options.facility : LOG_MAIL);
      s.syslog_open = true;
    }
    syslog(syslog_priority(level), "%s", line.c_str());
  }
  if (s.sink) s.sink(level, line);
}

}  // namespace

void log_init(const LogOptions& options) {
  LoggerState& s = state();
  std::lock_guard lock(s.mu);
  if (s.syslog_open) {
    closelog();
    s.syslog_open = false;
  }
  s.options = options;  // syslog is reopened lazily with the new ident/facility
  g_min_level.store(static_cast<int>(options.level), std::memory_order_relaxed);
}

void log_set_sink(LogSink sink) {
  LoggerState& s = state();
  std::lock_guard lock(s.mu);
  s.sink = std::move(sink);
}

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

#define SLUICE_LOG_BODY(level)       \
  do {                               \
    va_list args;                    \
    va_start(args, format);          \
    emit((level), format, args);     \
    va_end(args);                    \
  } while (0)

void log_debug(const char* format, ...) { SLUICE_LOG_BODY(LogLevel::kDebug); }
void log_info(const char* format, ...) { SLUICE_LOG_BODY(LogLevel::kInfo); }
void log_warn(const char* format, ...) { SLUICE_LOG_BODY(LogLevel::kWarning); }
void log_error(const char* format, ...) { SLUICE_LOG_BODY(LogLevel::kError); }
void log_fatal(const char* format, ...) {
  SLUICE_LOG_BODY(LogLevel::kFatal);
  std::exit(1);
}

#undef SLUICE_LOG_BODY

std::string log_escape(std::string_view untrusted, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool cut = untrusted.size() > max_bytes;
  if (cut) untrusted = untrusted.substr(0, max_bytes);
  std::string out;
  out.reserve(untrusted.size() + 3);
  for (unsigned char c : untrusted) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (cut) out += "...";
  return out;
}

Result<int> parse_syslog_facility(std::string_view name) {
  static constexpr std::pair<std::string_view, int> kFacilities[] = {
      {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
      {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
      {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
      {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
  };
  for (const auto& [known, value] : kFacilities) {
    if (name == known) return value;
  }
  return make_error(Errc::kInvalidInput,
                    "unknown syslog facility \"" + log_escape(name, 32) +
                        "\" (want mail, daemon, user or local0..local7)");
}

Result<LogLevel> parse_log_level(std::string_view name) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"debug", LogLevel::kDebug},
      {"info", LogLevel::kInfo},
      {"warning", LogLevel::kWarning},
      {"error", LogLevel::kError},
  };
  for (const auto& [known, value] : kLevels) {
    if (name == known) return value;
  }
  return make_error(Errc::kInvalidInput, "unknown log level \"" + log_escape(name, 32) +
                                             "\" (want debug, info, warning or error)");
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
    case LogLevel::kFatal: return "fatal";
  }
  return "info";
}

}  // namespace sluice
