// What the scanners' verdicts mean for one message: each verdict maps to the
// action its scanner is configured with, the strictest action wins (accept <
// add-header < quarantine < tempfail < reject), and the headers the actions
// ask for are computed here so they can be added before DKIM signing.
// Pure: no I/O, unit-tested on its own.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/scan_settings.h"
#include "milter/header_field.h"
#include "milter/scanner.h"

namespace sluice::milter {

struct ScanDecision {
  ScanAction action = ScanAction::kAccept;
  // Added at the end of the header, signed with it.
  std::vector<HeaderField> headers;
  // With kReject or kTempfail: "5.7.1 text" / "4.7.1 text" for the reply;
  // with kQuarantine: the reason given to the MTA.
  std::string reply_text;
  // "NAME:VERDICT(...)" per scanner, comma-separated, for the message's log line.
  std::string log;
  // Message-level counts for the per-account statistics.
  bool spam = false, virus = false, failed = false, skipped = false;
};

// |verdicts| belong to |scanners| index by index.
ScanDecision decide_scans(std::span<const ScannerSettings> scanners, std::span<const ScanVerdict> verdicts);

// The header names one scanner may add (PREFIX-Status, PREFIX-Score,
// PREFIX-Symbols), lowercase: signed when present, and removed from the
// message as it arrives so a client cannot forge a verdict.
std::vector<std::string> scan_header_names(const ScannerSettings& scanner);

// The action as sluice.conf spells it ("add-header").
std::string_view scan_action_name(ScanAction action);

}  // namespace sluice::milter
