// Settings of one content scanner ([scanner NAME] in sluice.conf): which
// daemon, where, how long to wait, how much of a message to send, and what
// sluice-milter does with each verdict. See doc/scanners.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

enum class ScannerKind { kSpamd, kRspamd, kClamd };

// What the milter does with a verdict, from the mildest to the strictest.
enum class ScanAction { kAccept, kAddHeader, kQuarantine, kTempfail, kReject };

struct AccountThreshold {
  std::string account;  // SASL login
  double threshold = 0;
  friend bool operator==(const AccountThreshold&, const AccountThreshold&) = default;
};

struct ScannerSettings {
  std::string name;  // [scanner NAME]
  ScannerKind kind = ScannerKind::kSpamd;
  // "inet:HOST:PORT" ("inet:[::1]:783") or "unix:/path": the listen_address syntax.
  std::string address;
  std::chrono::milliseconds timeout{10'000};  // connect + send + answer, from end of message
  std::size_t max_size = 1024 * 1024;         // larger messages skip this scanner (logged)
  // Spam scanners: a score at or above the threshold is spam. Unset: the
  // scanner's own verdict (spamd's required_score, rspamd's action).
  std::optional<double> threshold;
  std::vector<AccountThreshold> account_thresholds;  // per SASL login, overrides threshold
  ScanAction on_clean = ScanAction::kAccept;         // accept or add-header
  ScanAction on_spam = ScanAction::kReject;          // spam, or a virus for clamd
  ScanAction on_failure = ScanAction::kAccept;       // unreachable, timeout, garbled answer
  std::string reject_text;                           // "" : a built-in text per kind
  std::string header_prefix;                         // "X-Spam" (clamd: "X-Virus")
  // The threshold for |account|, or unset when the scanner's own verdict rules.
  std::optional<double> threshold_for(const std::string& account) const {
    for (const AccountThreshold& entry : account_thresholds) {
      if (entry.account == account) return entry.threshold;
    }
    return threshold;
  }
};

}  // namespace sluice
