#include "bounce/event_plan.h"

#include <algorithm>

#include "bounce/arf.h"
#include "bounce/dsn.h"
#include "bounce/report_key.h"
#include "common/address.h"
#include "common/log.h"
#include "common/suppression_store.h"

namespace sluice::bounce {
namespace {

constexpr std::size_t kMaxNoteDiagnostic = 300;

std::string lookup_key(std::string_view address) {
  auto key = normalize_suppression_recipient(address);
  return key ? *key : std::string();
}

// Plain bounces name addresses loosely: the message's own recipient wins,
// then a lone candidate, then (multi-recipient failures) all of them.
std::vector<std::string> plain_recipients(const Report& report, const MessageRecord& record) {
  std::vector<std::string> candidates;
  for (const ReportRecipient& r : report.recipients) {
    if (std::string key = lookup_key(r.address); !key.empty()) candidates.push_back(std::move(key));
  }
  const std::string ours = lookup_key(record.rcpt);
  if (!ours.empty() && (candidates.empty() || std::find(candidates.begin(), candidates.end(), ours) != candidates.end())) {
    return {ours};
  }
  return candidates;
}

// ARF: Original-Rcpt-To, else the returned message's To when it names
// exactly one address, else the message record's recipient.
std::vector<std::string> complaint_recipients(const Report& report, const MessageRecord& record) {
  std::vector<std::string> out;
  for (const ReportRecipient& r : report.recipients) {
    if (std::string key = lookup_key(r.address); !key.empty()) out.push_back(std::move(key));
  }
  if (!out.empty()) return out;
  const std::vector<std::string> to = header_addresses(report.returned.value("To"), 2);
  if (to.size() == 1) return to;
  if (std::string key = lookup_key(record.rcpt); !key.empty()) return {key};
  return {};
}

std::string note_for(BounceKind kind, std::string_view status, ReportType type, std::string_view detail) {
  std::string note = std::string(bounce_kind_name(kind)) + " " + (status.empty() ? "-" : std::string(status)) + " (" +
                     std::string(report_type_name(type)) + ")";
  if (!detail.empty()) note += ": " + one_line(detail, kMaxNoteDiagnostic);
  return note;
}

}  // namespace

EventPlan plan_events(const Report& report, const MessageRecord& record, std::string_view tracking_id) {
  EventPlan plan;
  FeedbackEvent base;
  base.tracking_id = std::string(tracking_id);
  base.account = record.account;
  if (!record.account.empty()) {
    base.scope = SuppressionScope::kSaslUsername;
    base.scope_value = record.account;
  } else {
    base.scope = SuppressionScope::kSenderDomain;
    auto sender = parse_mailbox(record.sender, MailboxOptions{.allow_null = false});
    if (!sender) {
      plan.problems.push_back("no account and no usable sender in the message record");
      return plan;
    }
    base.scope_value = sender->domain;
  }

  // Only the message's own recipients: anyone who saw a tracking ID could
  // otherwise mail reports that suppress arbitrary addresses for the account.
  std::vector<std::string> sent_to;
  for (const std::string& rcpt : record.rcpts) {
    if (std::string key = lookup_key(rcpt); !key.empty()) sent_to.push_back(std::move(key));
  }
  if (std::string key = lookup_key(record.rcpt); !key.empty()) sent_to.push_back(std::move(key));
  auto add = [&](std::string recipient, BounceKind kind, std::string status, std::string diagnostic,
                 std::string note) {
    if (std::find(sent_to.begin(), sent_to.end(), recipient) == sent_to.end()) {
      plan.problems.push_back("<" + log_escape(recipient, 64) + "> was not a recipient of the message: ignored");
      return;
    }
    PlannedEvent p{base, std::move(status), one_line(diagnostic, kMaxNoteDiagnostic)};
    p.event.kind = kind;
    p.event.recipient = std::move(recipient);
    p.event.note = std::move(note);
    p.event.identity = report_identity(tracking_id, p.event.recipient, bounce_kind_name(kind));
    plan.events.push_back(std::move(p));
  };

  switch (report.type) {
    case ReportType::kAutoReply:
      break;
    case ReportType::kFeedback: {
      const BounceKind kind = is_complaint_type(report.feedback_type) ? BounceKind::kComplaint : BounceKind::kNone;
      const std::vector<std::string> recipients = complaint_recipients(report, record);
      if (recipients.empty()) plan.problems.push_back("complaint names no recipient");
      const std::string detail = report.user_agent.empty() ? std::string() : "reported by " + report.user_agent;
      for (const std::string& rcpt : recipients) {
        add(rcpt, kind, report.feedback_type, detail, note_for(kind, report.feedback_type, report.type, detail));
      }
      break;
    }
    case ReportType::kDeliveryStatus:
      for (const ReportRecipient& r : report.recipients) {
        // Original-Recipient is the address we were given; the final one
        // may be the receiver's alias target.
        std::string rcpt = lookup_key(r.original);
        if (rcpt.empty()) rcpt = lookup_key(r.address);
        if (rcpt.empty()) {
          plan.problems.push_back("unusable recipient \"" + log_escape(r.address, 64) + "\"");
          continue;
        }
        const Classification c = classify_failure(r.action, r.status, r.diagnostic);
        add(rcpt, c.kind, c.status, r.diagnostic, note_for(c.kind, c.status, report.type, r.diagnostic));
      }
      break;
    case ReportType::kPlainBounce: {
      if (report.recipients.empty()) break;
      const ReportRecipient& first = report.recipients.front();  // action, status, text are shared
      const Classification c = classify_failure(first.action, first.status, first.diagnostic);
      const std::vector<std::string> recipients = plain_recipients(report, record);
      if (recipients.empty()) plan.problems.push_back("the bounce names no usable recipient");
      for (const std::string& rcpt : recipients) {
        add(rcpt, c.kind, c.status, first.diagnostic, note_for(c.kind, c.status, report.type, first.diagnostic));
      }
      break;
    }
  }
  return plan;
}

}  // namespace sluice::bounce
