#include "milter/scanner.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>

#include "common/log.h"
#include "milter/clamd_client.h"
#include "milter/rspamd_client.h"
#include "milter/spamd_client.h"

namespace sluice::milter {

std::string_view scan_verdict_name(ScanVerdictKind kind) {
  switch (kind) {
    case ScanVerdictKind::kClean:
      return "clean";
    case ScanVerdictKind::kSpam:
      return "spam";
    case ScanVerdictKind::kFailure:
      return "failure";
    case ScanVerdictKind::kSkipped:
      return "skipped";
  }
  return "failure";
}

namespace {

bool symbol_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

std::string sanitize(std::string_view raw, std::size_t max_bytes, std::string_view extra) {
  std::string out(raw.substr(0, max_bytes));
  for (char& c : out) {
    if (!symbol_char(c) && extra.find(c) == std::string_view::npos) c = '_';
  }
  return out;
}

// Stands in when a session could not be made: its verdict is known at once.
class SettledSession final : public ScanSession {
 public:
  explicit SettledSession(ScanVerdict verdict) : verdict_(std::move(verdict)) {}
  void header(std::string_view, std::string_view) override {}
  void end_of_headers() override {}
  void body(std::string_view) override {}
  void start_finish(Clock::time_point start, std::string_view) override { deadline_ = start; }
  pollfd poll_request() const override { return pollfd{-1, 0, 0}; }
  void on_ready(short) override {}
  void on_deadline() override {}
  Clock::time_point deadline() const override { return deadline_; }
  bool done() const override { return true; }
  ScanVerdict take_verdict() override { return verdict_; }

 private:
  ScanVerdict verdict_;
  Clock::time_point deadline_{};
};

std::string exception_text() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

std::string sanitize_scan_symbol(std::string_view raw) { return sanitize(raw, kMaxScanSymbolBytes, ""); }

std::string sanitize_virus_name(std::string_view raw) { return sanitize(raw, kMaxVirusNameBytes, ":+/"); }

std::string scan_detail(std::string_view label, std::string_view what) {
  std::string detail = log_escape(label, 120);
  detail += ": ";
  detail += log_escape(what, kMaxScanDetailBytes);
  if (detail.size() > kMaxScanDetailBytes) detail.resize(kMaxScanDetailBytes);
  return detail;
}

ScanVerdict scan_failure(std::string_view label, std::string_view what) {
  ScanVerdict verdict;
  verdict.kind = ScanVerdictKind::kFailure;
  verdict.detail = scan_detail(label, what);
  return verdict;
}

void add_scan_symbol(ScanVerdict& verdict, std::string_view raw) {
  if (raw.empty() || verdict.symbols.size() >= kMaxScanSymbols) return;
  verdict.symbols.push_back(sanitize_scan_symbol(raw));
}

void append_header_line(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out += ':';
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) out += '\r';
    out += value[i];
  }
  out.append("\r\n");
}

ScanSessionPtr make_scan_session(const ScannerSettings& settings, const ScanEnvelope& envelope,
                                 const std::string& account) {
  try {
    switch (settings.kind) {
      case ScannerKind::kSpamd:
        return make_spamd_session(settings, account);
      case ScannerKind::kRspamd:
        return make_rspamd_session(settings, envelope, account);
      case ScannerKind::kClamd:
        return make_clamd_session(settings);
    }
    return std::make_unique<SettledSession>(scan_failure(settings.name, "unknown scanner kind"));
  } catch (...) {
    return std::make_unique<SettledSession>(scan_failure(settings.name, "cannot start: " + exception_text()));
  }
}

std::vector<ScanVerdict> finish_scans(std::span<ScanSession* const> sessions, std::string_view queue_id) {
  using Clock = ScanSession::Clock;
  const Clock::time_point start = Clock::now();
  const std::size_t count = sessions.size();
  std::vector<std::optional<ScanVerdict>> verdicts(count);

  // Whatever one session does wrong stays with that session.
  const auto guarded = [&](std::size_t i, auto&& step) {
    try {
      step();
      if (!verdicts[i] && sessions[i]->done()) verdicts[i] = sessions[i]->take_verdict();
    } catch (...) {
      verdicts[i] = scan_failure("scanner", "internal error: " + exception_text());
    }
    if (verdicts[i] && verdicts[i]->elapsed.count() == 0) {
      verdicts[i]->elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    }
  };

  for (std::size_t i = 0; i < count; ++i) {
    if (sessions[i] == nullptr) {
      verdicts[i] = scan_failure("scanner", "no session");
      continue;
    }
    guarded(i, [&] { sessions[i]->start_finish(start, queue_id); });
  }

  std::vector<pollfd> fds;
  std::vector<std::size_t> owners;
  // Ends: each round waits at most until the earliest deadline, and a
  // session past its deadline is settled, so the loop ends by the last one.
  for (;;) {
    fds.clear();
    owners.clear();
    Clock::time_point next_deadline = Clock::time_point::max();
    for (std::size_t i = 0; i < count; ++i) {
      if (verdicts[i]) continue;
      guarded(i, [&] {
        const pollfd wanted = sessions[i]->poll_request();
        if (wanted.fd < 0) {
          sessions[i]->on_deadline();  // nothing to wait for yet no verdict: settle it
          return;
        }
        fds.push_back(wanted);
        owners.push_back(i);
        next_deadline = std::min(next_deadline, sessions[i]->deadline());
      });
    }
    if (fds.empty()) break;
    const auto left = next_deadline - Clock::now();
    const int wait_ms =
        left <= Clock::duration::zero()
            ? 0
            : static_cast<int>(std::min<long long>(std::chrono::ceil<std::chrono::milliseconds>(left).count(),
                                                   std::numeric_limits<int>::max()));
    const int ready = ::poll(fds.data(), fds.size(), wait_ms);
    if (ready < 0 && errno != EINTR) {
      const std::string why = std::string("poll: ") + std::strerror(errno);
      for (std::size_t i : owners) verdicts[i] = scan_failure("scanner", why);
      break;
    }
    for (std::size_t k = 0; ready > 0 && k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      const std::size_t i = owners[k];
      guarded(i, [&] { sessions[i]->on_ready(fds[k].revents); });
    }
    const Clock::time_point now = Clock::now();
    for (std::size_t i : owners) {
      if (!verdicts[i] && now >= sessions[i]->deadline()) guarded(i, [&] { sessions[i]->on_deadline(); });
    }
  }

  std::vector<ScanVerdict> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    ScanVerdict verdict = verdicts[i] ? std::move(*verdicts[i]) : scan_failure("scanner", "no verdict");
    if (log_enabled(LogLevel::kDebug)) {
      log_debug("%s: scan %zu verdict=%s elapsed_ms=%lld %s", queue_id.empty() ? "NOQUEUE" : log_escape(queue_id).c_str(),
                i, std::string(scan_verdict_name(verdict.kind)).c_str(),
                static_cast<long long>(verdict.elapsed.count() / 1000), verdict.detail.c_str());
    }
    out.push_back(std::move(verdict));
  }
  return out;
}

Error garbled_answer(std::string_view why, std::string_view bytes) {
  return make_error(Errc::kProtocol, std::string(why) + " \"" + log_escape(bytes, 120) + "\"");
}

std::string_view trim_blanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace sluice::milter
