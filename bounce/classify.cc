#include "bounce/classify.h"

#include <optional>
#include <span>

#include "bounce/status_code.h"
#include "common/ascii.h"

namespace sluice::bounce {
namespace {

constexpr std::size_t kMaxTextScan = 4096;

// Texts of policy refusals: checked first, so a refusal that also names the
// user ("blocked: user unknown in RBL") never suppresses.
constexpr std::string_view kBlockTexts[] = {
    "spam", "blocked", "blacklist", "blocklist", "denylist", "block list", "black list", "rbl", "spamhaus",
    "reputation", "policy", "dmarc", "not authorized", "unauthenticated", "banned", "abuse", "rejected for policy",
};

// Texts saying the mailbox does not exist.
constexpr std::string_view kHardTexts[] = {
    "user unknown", "unknown user", "no such user", "no such mailbox", "no such recipient", "does not exist",
    "doesn't exist", "unknown recipient", "recipient unknown", "invalid recipient", "recipient not found",
    "mailbox not found", "address not found", "invalid mailbox", "mailbox does not exist", "account disabled",
    "account has been disabled", "account is disabled", "mailbox disabled", "no mailbox here", "unrouteable address",
    "recipnotfound", "undeliverable address", "not our customer", "address unknown", "user not found",
    "account that you tried to reach does not exist",
};

bool contains_any(std::string_view text, std::span<const std::string_view> needles) {
  for (std::string_view needle : needles) {
    if (text.find(needle) != std::string_view::npos) return true;
  }
  return false;
}

bool has_hard_text(std::string_view lower) {
  if (contains_any(lower, kHardTexts)) return true;
  // Yahoo: "This user doesn't have a yahoo.com account".
  const std::size_t have = lower.find("doesn't have a");
  return have != std::string_view::npos && lower.find("account", have) != std::string_view::npos;
}

// A 5xx failure without a specific code: the text decides; in doubt, soft.
BounceKind by_text(std::string_view lower) {
  if (contains_any(lower, kBlockTexts)) return BounceKind::kBlock;
  if (has_hard_text(lower)) return BounceKind::kHard;
  return BounceKind::kSoft;
}

BounceKind by_status(const EnhancedStatus& s, std::string_view lower) {
  if (s.klass == 2) return BounceKind::kNone;
  if (s.klass == 4) return BounceKind::kSoft;
  switch (s.subject) {
    case 0: return by_text(lower);  // 5.0.0: "other undefined status"
    case 1:  // addressing (RFC 3463 3.2)
      if (s.detail == 4 || s.detail == 5 || (s.detail >= 7 && s.detail <= 9)) return BounceKind::kSoft;
      if (s.detail == 0 && contains_any(lower, kBlockTexts)) return BounceKind::kBlock;
      return BounceKind::kHard;  // 5.1.0-5.1.3, 5.1.6, 5.1.10 null MX, and unknown details
    case 2:  // mailbox status (3.3)
      if (s.detail == 1) return BounceKind::kHard;
      if (s.detail == 0) return by_text(lower) == BounceKind::kBlock ? BounceKind::kBlock : BounceKind::kSoft;
      return BounceKind::kSoft;  // 5.2.2 full, 5.2.3 too large, 5.2.4 list expansion
    case 4:  // network and routing (3.5)
      if (s.detail == 4 && (lower.find("not found") != std::string_view::npos ||
                            lower.find("nxdomain") != std::string_view::npos ||
                            lower.find("does not exist") != std::string_view::npos)) {
        return BounceKind::kHard;
      }
      return BounceKind::kSoft;
    case 5: return by_text(lower);  // protocol errors sometimes carry "user unknown"
    case 7: return BounceKind::kBlock;  // security or policy (3.8)
    default: return BounceKind::kSoft;  // 5.3.x system, 5.6.x content
  }
}

}  // namespace

std::string_view bounce_kind_name(BounceKind kind) {
  switch (kind) {
    case BounceKind::kNone: return "none";
    case BounceKind::kHard: return "hard";
    case BounceKind::kSoft: return "soft";
    case BounceKind::kBlock: return "block";
    case BounceKind::kComplaint: return "complaint";
  }
  return "none";
}

Classification classify_failure(std::string_view action, std::string_view status, std::string_view diagnostic) {
  Classification out;
  if (action == "delivered" || action == "relayed" || action == "expanded" || action == "delayed") return out;
  const std::string lower = ascii_lower(diagnostic.substr(0, kMaxTextScan));
  std::optional<EnhancedStatus> code = parse_enhanced_status(status);
  // A Status field that says less than the text ("5.0.0" with "550 5.1.1
  // ..." in the diagnostic) gives way to the text's code.
  std::optional<EnhancedStatus> in_text = find_enhanced_status(lower);
  if (!code || (code->subject == 0 && code->detail == 0 && in_text && in_text->klass == code->klass)) {
    if (in_text) code = in_text;
  }
  if (!code) {
    if (auto smtp = find_smtp_code(lower)) code = EnhancedStatus{*smtp / 100, 0, 0};
  }
  if (code) {
    out.status = code->str();
    out.kind = by_status(*code, lower);
    return out;
  }
  // No code at all: a failure says so, or its text names the user.
  if (has_hard_text(lower) && !contains_any(lower, kBlockTexts)) {
    out.kind = BounceKind::kHard;
  } else if (contains_any(lower, kBlockTexts)) {
    out.kind = BounceKind::kBlock;
  } else {
    out.kind = BounceKind::kSoft;
  }
  return out;
}

}  // namespace sluice::bounce
