#include "bounce/bounce_run.h"

#include "bounce/breaker.h"
#include "bounce/event_plan.h"
#include "bounce/feedback_store.h"
#include "bounce/message_ref.h"
#include "bounce/report.h"
#include "bounce/unparsed_store.h"
#include "common/log.h"

namespace sluice::bounce {
namespace {

// The prefix of every log line: "QUEUEID: " when pipe(8) gave one.
std::string lead(const BounceInput& input) {
  return input.queue_id.empty() ? std::string() : log_escape(input.queue_id, 32) + ": ";
}

int temp_failure(const BounceInput& input, std::string_view what, const Error& error) {
  log_error("%s%.*s: %s (exit 75: Postfix will retry)", lead(input).c_str(), static_cast<int>(what.size()),
            what.data(), error.message().c_str());
  return kExitTempfail;
}

int keep_unparsable(const Config& config, const BounceInput& input, const Error& why) {
  const std::string& dir = config.feedback.bounce.unparsed_dir;
  if (dir.empty()) {
    log_warn("%s%s (%zu bytes); not kept: [bounce] unparsed_dir is not set", lead(input).c_str(),
             why.detail.c_str(), input.message.size());
    return kExitOk;
  }
  auto kept = keep_unparsed(dir, input.message);
  if (!kept) return temp_failure(input, "cannot keep an unparsable report", kept.error());
  log_warn("%s%s (%zu bytes): kept as %s", lead(input).c_str(), why.detail.c_str(), input.message.size(),
           log_escape(*kept, 200).c_str());
  return kExitOk;
}

std::string action_text(const PlannedEvent& planned, const ApplyOutcome& outcome, int soft_limit) {
  if (outcome.duplicate) return "duplicate";
  switch (planned.event.kind) {
    case BounceKind::kHard:
    case BounceKind::kComplaint:
      return outcome.already_suppressed ? "already-suppressed" : "suppressed";
    case BounceKind::kSoft: {
      std::string text = "counted soft=" + std::to_string(outcome.soft_count) + "/" + std::to_string(soft_limit);
      if (outcome.suppressed) text += " suppressed";
      if (outcome.already_suppressed) text += " already-suppressed";
      return text;
    }
    case BounceKind::kBlock:
      return "counted";
    case BounceKind::kNone:
      return "ignored";
  }
  return "ignored";
}

}  // namespace

int process_report(const Config& config, RedisConn& conn, const BounceInput& input) {
  ReportOptions options;
  options.tracking_header = config.milter.tracking_header.empty() ? "X-Sluice-ID" : config.milter.tracking_header;
  auto parsed = parse_report(input.message, options);
  if (!parsed) return keep_unparsable(config, input, parsed.error());
  const Report& report = *parsed;
  const std::string type(report_type_name(report.type));
  const std::string qid = report.queue_id.empty() ? "-" : log_escape(report.queue_id, 32);
  if (report.type == ReportType::kAutoReply) {
    const std::vector<std::string> from = header_addresses(report.outer.value("From"), 1);
    log_info("%sreport=%s from=<%s>: ignored", lead(input).c_str(), type.c_str(),
             from.empty() ? "" : log_escape(from.front(), 100).c_str());
    return kExitOk;
  }

  VerpSettings verp;
  verp.prefix = config.milter.verp_prefix.empty() ? "bounce" : config.milter.verp_prefix;
  verp.domain = config.milter.verp_domain;
  const auto ref = find_message_ref(report, input.envelope_recipient, verp);
  if (!ref) {
    log_warn("%ssluice_id=- report=%s message-id=%s: no tracking ID found (not our message): ignored",
             lead(input).c_str(), type.c_str(), log_escape(report.message_id, 100).c_str());
    return kExitOk;
  }
  FeedbackStore store(conn, config.redis.key_prefix);
  auto record = store.message(ref->tracking_id);
  if (!record) return temp_failure(input, "cannot read the message record", record.error());
  if (!*record) {
    log_warn("%ssluice_id=%s queue_id=%s report=%s: unknown message (no record, expired after "
             "[milter] message_record_ttl?): ignored",
             lead(input).c_str(), ref->tracking_id.c_str(), qid.c_str(), type.c_str());
    return kExitOk;
  }

  const EventPlan plan = plan_events(report, **record, ref->tracking_id);
  const std::string account = record->value().account.empty() ? "-" : log_escape(record->value().account, 64);
  for (const std::string& problem : plan.problems) {
    log_warn("%ssluice_id=%s queue_id=%s account=%s report=%s: %s", lead(input).c_str(), ref->tracking_id.c_str(),
             qid.c_str(), account.c_str(), type.c_str(), problem.c_str());
  }
  bool applied_any = false;
  for (const PlannedEvent& planned : plan.events) {
    const std::string rcpt = log_escape(planned.event.recipient, 100);
    const std::string kind(bounce_kind_name(planned.event.kind));
    const std::string status = planned.status.empty() ? "-" : log_escape(planned.status, 32);
    if (planned.event.kind == BounceKind::kNone) {
      log_info("%ssluice_id=%s queue_id=%s account=%s rcpt=<%s> kind=none status=%s report=%s action=ignored",
               lead(input).c_str(), ref->tracking_id.c_str(), qid.c_str(), account.c_str(), rcpt.c_str(),
               status.c_str(), type.c_str());
      continue;
    }
    auto outcome = store.apply(planned.event, config.feedback.bounce);
    if (!outcome) {
      if (outcome.error().temporary()) return temp_failure(input, "cannot apply the report", outcome.error());
      log_warn("%ssluice_id=%s rcpt=<%s>: cannot apply: %s", lead(input).c_str(), ref->tracking_id.c_str(),
               rcpt.c_str(), outcome.error().message().c_str());
      continue;
    }
    applied_any = true;
    log_info("%ssluice_id=%s queue_id=%s account=%s rcpt=<%s> kind=%s status=%s report=%s action=%s diag=\"%s\"",
             lead(input).c_str(), ref->tracking_id.c_str(), qid.c_str(), account.c_str(), rcpt.c_str(),
             kind.c_str(), status.c_str(), type.c_str(),
             action_text(planned, *outcome, config.feedback.bounce.soft_bounce_limit).c_str(),
             log_escape(planned.diagnostic, 120).c_str());
  }
  if (plan.events.empty() && plan.problems.empty()) {
    log_info("%ssluice_id=%s queue_id=%s account=%s report=%s: no failed recipient: ignored", lead(input).c_str(),
             ref->tracking_id.c_str(), qid.c_str(), account.c_str(), type.c_str());
  }
  // The breaker also runs for a duplicate: a retry after its own failure
  // must still get to it.
  if (applied_any && !record->value().account.empty()) {
    auto breaker = run_breaker(conn, config.redis.key_prefix, record->value().account, config.feedback.reputation);
    if (!breaker) return temp_failure(input, "cannot evaluate the account's reputation", breaker.error());
  }
  return kExitOk;
}

}  // namespace sluice::bounce
