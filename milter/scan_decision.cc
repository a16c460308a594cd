#include "milter/scan_decision.h"

#include <algorithm>
#include <cstdio>

#include "common/ascii.h"

namespace sluice::milter {
namespace {

std::string prefix_of(const ScannerSettings& scanner) {
  if (!scanner.header_prefix.empty()) return scanner.header_prefix;
  return scanner.kind == ScannerKind::kClamd ? "X-Virus" : "X-Spam";
}

std::string score_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

// Comma-separated, folded before 78 columns with CRLF TAB: the same bytes
// the MTA writes, so the signature computed over this value holds.
std::string folded_list(std::string_view name, const std::vector<std::string>& items) {
  std::string out = " ";
  std::size_t column = name.size() + 2;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item = items[i] + (i + 1 < items.size() ? "," : "");
    if (i > 0) {
      if (column + 1 + item.size() > 78) {
        out += "\r\n\t";
        column = 8;
      } else {
        out += ' ';
        ++column;
      }
    }
    out += item;
    column += item.size();
  }
  return out;
}

bool is_spam_scanner(const ScannerSettings& scanner) { return scanner.kind != ScannerKind::kClamd; }

std::string verdict_word(const ScannerSettings& scanner, const ScanVerdict& verdict) {
  if (verdict.kind == ScanVerdictKind::kSpam) return is_spam_scanner(scanner) ? "spam" : "virus";
  return std::string(scan_verdict_name(verdict.kind));
}

ScanAction action_for(const ScannerSettings& scanner, const ScanVerdict& verdict) {
  switch (verdict.kind) {
    case ScanVerdictKind::kClean: return scanner.on_clean;
    case ScanVerdictKind::kSpam: return scanner.on_spam;
    case ScanVerdictKind::kFailure: return scanner.on_failure;
    case ScanVerdictKind::kSkipped: return ScanAction::kAccept;
  }
  return ScanAction::kAccept;
}

void add_headers(const ScannerSettings& scanner, const ScanVerdict& verdict, std::vector<HeaderField>& out) {
  const std::string prefix = prefix_of(scanner);
  if (!is_spam_scanner(scanner)) {
    std::string status;
    if (verdict.kind == ScanVerdictKind::kSpam) status = " Infected (" + verdict.virus + ")";
    else if (verdict.kind == ScanVerdictKind::kClean) status = " Clean";
    else status = " Unknown (" + verdict_word(scanner, verdict) + ")";
    out.push_back(HeaderField{prefix + "-Status", status});
    return;
  }
  std::string status;
  if (verdict.kind == ScanVerdictKind::kSpam) status = " Yes";
  else if (verdict.kind == ScanVerdictKind::kClean) status = " No";
  else status = " Unknown (" + verdict_word(scanner, verdict) + ")";
  if (verdict.score) {
    status += ", score=" + score_text(*verdict.score);
    if (verdict.required) status += " required=" + score_text(*verdict.required);
  }
  out.push_back(HeaderField{prefix + "-Status", status});
  if (verdict.score) out.push_back(HeaderField{prefix + "-Score", " " + score_text(*verdict.score)});
  if (!verdict.symbols.empty()) {
    const std::string name = prefix + "-Symbols";
    out.push_back(HeaderField{name, folded_list(name, verdict.symbols)});
  }
}

std::string reply_for(const ScannerSettings& scanner, const ScanVerdict& verdict, ScanAction action) {
  const bool temporary = action == ScanAction::kTempfail;
  std::string code = temporary ? "4.7.1 " : "5.7.1 ";
  if (!scanner.reject_text.empty() && action == ScanAction::kReject) return code + scanner.reject_text;
  switch (verdict.kind) {
    case ScanVerdictKind::kSpam:
      if (!is_spam_scanner(scanner)) return code + "Message refused: virus found (" + verdict.virus + ")";
      return code + (temporary ? "Message deferred: it looks like spam" : "Message refused: it looks like spam");
    case ScanVerdictKind::kFailure:
      return code + (temporary ? "Message could not be scanned, try again later" : "Message could not be scanned");
    default:
      return code + "Message refused by the content scanner";
  }
}

std::string log_item(const ScannerSettings& scanner, const ScanVerdict& verdict) {
  std::string item = scanner.name + ":" + verdict_word(scanner, verdict);
  std::string detail;
  if (verdict.score) {
    detail = score_text(*verdict.score);
    if (verdict.required) detail += "/" + score_text(*verdict.required);
  }
  if (!verdict.virus.empty()) detail = verdict.virus;
  if (verdict.kind == ScanVerdictKind::kFailure || verdict.kind == ScanVerdictKind::kSkipped) detail = verdict.detail;
  if (!detail.empty()) item += "(" + detail + ")";
  item += "/" + std::to_string(verdict.elapsed.count() / 1000) + "ms";
  return item;
}

}  // namespace

std::string_view scan_action_name(ScanAction action) {
  switch (action) {
    case ScanAction::kAccept: return "accept";
    case ScanAction::kAddHeader: return "add-header";
    case ScanAction::kQuarantine: return "quarantine";
    case ScanAction::kTempfail: return "tempfail";
    case ScanAction::kReject: return "reject";
  }
  return "accept";
}

std::vector<std::string> scan_header_names(const ScannerSettings& scanner) {
  const std::string prefix = ascii_lower(prefix_of(scanner));
  if (!is_spam_scanner(scanner)) return {prefix + "-status"};
  return {prefix + "-status", prefix + "-score", prefix + "-symbols"};
}

ScanDecision decide_scans(std::span<const ScannerSettings> scanners, std::span<const ScanVerdict> verdicts) {
  ScanDecision decision;
  const std::size_t count = std::min(scanners.size(), verdicts.size());
  std::size_t decided_by = count;
  for (std::size_t i = 0; i < count; ++i) {
    const ScannerSettings& scanner = scanners[i];
    const ScanVerdict& verdict = verdicts[i];
    const ScanAction action = action_for(scanner, verdict);
    if (!decision.log.empty()) decision.log += ",";
    decision.log += log_item(scanner, verdict);
    if (verdict.kind == ScanVerdictKind::kSpam) (is_spam_scanner(scanner) ? decision.spam : decision.virus) = true;
    if (verdict.kind == ScanVerdictKind::kFailure) decision.failed = true;
    if (verdict.kind == ScanVerdictKind::kSkipped) decision.skipped = true;
    // Headers also go on quarantined mail: an operator who releases it
    // from the hold queue sees why it was held.
    if (action == ScanAction::kAddHeader || action == ScanAction::kQuarantine) {
      add_headers(scanner, verdict, decision.headers);
    }
    if (action > decision.action) {
      decision.action = action;
      decided_by = i;
    }
  }
  if (decided_by < count) {
    const ScannerSettings& scanner = scanners[decided_by];
    const ScanVerdict& verdict = verdicts[decided_by];
    if (decision.action == ScanAction::kReject || decision.action == ScanAction::kTempfail) {
      decision.reply_text = reply_for(scanner, verdict, decision.action);
    } else if (decision.action == ScanAction::kQuarantine) {
      decision.reply_text = "sluice " + scanner.name + ": " + verdict_word(scanner, verdict);
    }
  }
  return decision;
}

}  // namespace sluice::milter
