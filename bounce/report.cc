#include "bounce/report.h"

#include <algorithm>

#include "bounce/arf.h"
#include "bounce/dsn.h"
#include "bounce/plain_bounce.h"
#include "bounce/report_key.h"
#include "common/ascii.h"

namespace sluice::bounce {
namespace {

constexpr std::size_t kMaxStatusBytes = 256 * 1024;   // of a delivery-status or feedback-report part
constexpr std::size_t kMaxPlainText = kMaxPlainScan;  // text parts gathered for a plain bounce

bool is_returned_type(std::string_view type) {
  return type == "message/rfc822" || type == "text/rfc822-headers" || type == "message/rfc822-headers" ||
         type == "message/global" || type == "message/global-headers";
}

// The first part of |type| (or of |alt|), or npos.
std::size_t find_part(const MimeTree& tree, std::string_view type, std::string_view alt = {}) {
  for (std::size_t i = 0; i < tree.parts.size(); ++i) {
    const std::string& t = tree.parts[i].content_type.type;
    if (t == type || (!alt.empty() && t == alt)) return i;
  }
  return std::string_view::npos;
}

// The returned message after the status part |after|, or anywhere.
std::size_t find_returned(const MimeTree& tree, std::size_t after) {
  for (std::size_t i = after + 1; i < tree.parts.size(); ++i) {
    if (is_returned_type(tree.parts[i].content_type.type)) return i;
  }
  for (std::size_t i = 1; i < tree.parts.size(); ++i) {
    if (is_returned_type(tree.parts[i].content_type.type)) return i;
  }
  return std::string_view::npos;
}

// The value of a "NAME: value" line anywhere in |text| (quoted with "> " or
// indented, as bounces quote headers); "" when there is none.
std::string find_header_line(std::string_view text, std::string_view name) {
  text = text.substr(0, kMaxPlainScan);
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t lf = text.find('\n', pos);
    const std::size_t next = lf == std::string_view::npos ? text.size() : lf + 1;
    std::string_view line = text.substr(pos, next - pos);
    pos = next;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t' || line.front() == '>')) line.remove_prefix(1);
    if (line.size() <= name.size() || !ascii_iequals(line.substr(0, name.size()), name)) continue;
    line.remove_prefix(name.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() != ':') continue;
    return one_line(line.substr(1), 128);
  }
  return {};
}

HeaderSection returned_headers(const MimePart& part) {
  const std::string text = decode_body(part, kMaxReturnedBytes);
  return parse_header_section(text);
}

bool looks_like_auto_reply(const HeaderSection& h) {
  if (h.find("X-Autoreply") != nullptr || h.find("X-Autorespond") != nullptr) return true;
  const std::string precedence = ascii_lower(h.value("Precedence"));
  if (precedence == "auto_reply") return true;
  const std::string subject = ascii_lower(h.value("Subject"));
  for (std::string_view prefix : {"auto:", "automatic reply", "autoreply", "auto-reply", "out of office",
                                  "out of the office", "away from"}) {
    if (subject.starts_with(prefix)) return true;
  }
  const std::string submitted = ascii_lower(h.value("Auto-Submitted"));
  if (submitted.starts_with("auto-replied")) {
    // MTAs mark their bounces auto-replied too (RFC 3464 does not, Postfix
    // and Exim do): only a person's address makes it an auto-reply.
    const std::vector<std::string> from = header_addresses(h.value("From"), 1);
    if (from.empty()) return false;
    const std::string local = from.front().substr(0, from.front().rfind('@'));
    return local != "mailer-daemon" && local != "postmaster";
  }
  return false;
}

// The text of a plain bounce: the decoded text/plain parts, in order.
std::string plain_text(const MimeTree& tree) {
  std::string text;
  const MimePart& root = tree.parts.front();
  if (!root.content_type.is_multipart()) return decode_body(root, kMaxPlainText);
  for (const MimePart& part : tree.parts) {
    if (part.content_type.type != "text/plain" || text.size() >= kMaxPlainText) continue;
    // Quoted-back text of the returned message is not the bounce's text.
    if (part.depth > 0 && is_returned_type(tree.parts[part.parent].content_type.type)) continue;
    text += decode_body(part, kMaxPlainText - text.size());
    text += '\n';
  }
  return text;
}

void fill_dsn(Report& report, const MimeTree& tree, std::size_t status_part) {
  report.type = ReportType::kDeliveryStatus;
  const DeliveryStatus status = parse_delivery_status(decode_body(tree.parts[status_part], kMaxStatusBytes));
  if (status.truncated) report.truncated = true;
  report.queue_id = status.queue_id;
  for (const DsnRecipient& r : status.recipients) {
    report.recipients.push_back(
        ReportRecipient{r.final_recipient, r.original_recipient, r.action, r.status, r.diagnostic_code});
  }
}

void fill_arf(Report& report, const MimeTree& tree, std::size_t status_part) {
  report.type = ReportType::kFeedback;
  const FeedbackReport feedback = parse_feedback_report(decode_body(tree.parts[status_part], kMaxStatusBytes));
  report.feedback_type = feedback.feedback_type;
  report.user_agent = feedback.user_agent;
  for (const std::string& rcpt : feedback.original_rcpt_to) {
    report.recipients.push_back(ReportRecipient{rcpt, {}, {}, {}, {}});
  }
}

}  // namespace

std::string_view report_type_name(ReportType type) {
  switch (type) {
    case ReportType::kDeliveryStatus: return "dsn";
    case ReportType::kFeedback: return "arf";
    case ReportType::kPlainBounce: return "plain";
    case ReportType::kAutoReply: return "auto-reply";
  }
  return "plain";
}

std::vector<std::string> header_addresses(std::string_view value, std::size_t max) {
  return find_addresses(value, max);
}

Result<Report> parse_report(std::string_view message, const ReportOptions& options) {
  message = message.substr(0, kMaxReportBytes);
  const MimeTree tree = parse_mime(message);
  Report report;
  report.outer = tree.parts.front().headers;
  report.truncated = tree.truncated;
  report.message_id = one_line(report.outer.value("Message-ID"), 250);
  report.body_digest = sha256_hex(message.substr(std::min(report.outer.body_offset, message.size())));
  if (report.outer.fields.empty()) return make_error(Errc::kInvalidInput, "unparsable: no header section");

  const std::size_t dsn = find_part(tree, "message/delivery-status", "message/global-delivery-status");
  const std::size_t arf = find_part(tree, "message/feedback-report");
  const std::size_t status_part = arf != std::string_view::npos ? arf : dsn;
  std::string text;  // what the tracking header is looked for in, besides the returned headers
  if (status_part != std::string_view::npos) {
    if (arf != std::string_view::npos) {
      fill_arf(report, tree, arf);
    } else {
      fill_dsn(report, tree, dsn);
    }
    const std::size_t returned = find_returned(tree, status_part);
    if (returned != std::string_view::npos) {
      report.returned = returned_headers(tree.parts[returned]);
      text = decode_body(tree.parts[returned], kMaxReturnedBytes);
    }
    if (report.type == ReportType::kDeliveryStatus && report.recipients.empty()) {
      return make_error(Errc::kInvalidInput, "unparsable: a delivery-status part without recipients");
    }
    if (report.type == ReportType::kFeedback && report.feedback_type.empty()) {
      return make_error(Errc::kInvalidInput, "unparsable: a feedback report without Feedback-Type");
    }
  } else {
    text = plain_text(tree);
    std::vector<std::string> exclude;
    for (std::string_view name : {"From", "To", "Delivered-To", "X-Original-To", "Sender"}) {
      for (std::string& a : header_addresses(report.outer.value(name), 8)) exclude.push_back(std::move(a));
    }
    auto plain = parse_plain_bounce(text, exclude);
    const bool auto_reply = looks_like_auto_reply(report.outer);
    if (plain && (!auto_reply || !plain->status.empty() || plain->smtp_code != 0)) {
      report.type = ReportType::kPlainBounce;
      for (const std::string& rcpt : plain->recipients) {
        report.recipients.push_back(
            ReportRecipient{rcpt, {}, plain->delayed ? "delayed" : "failed", plain->status, plain->diagnostic});
      }
      if (report.recipients.empty()) {  // the text names no address: the message record must
        report.recipients.push_back(
            ReportRecipient{{}, {}, plain->delayed ? "delayed" : "failed", plain->status, plain->diagnostic});
      }
      const std::size_t returned = find_returned(tree, 0);
      if (returned != std::string_view::npos) {
        report.returned = returned_headers(tree.parts[returned]);
        text += decode_body(tree.parts[returned], kMaxReturnedBytes);
      } else if (!plain->returned_headers.empty()) {
        report.returned = parse_header_section(plain->returned_headers);
      }
    } else if (auto_reply) {
      report.type = ReportType::kAutoReply;
    } else {
      return make_error(Errc::kInvalidInput, "unparsable: neither a DSN, an ARF report nor a recognised bounce");
    }
  }
  if (report.returned.truncated) report.truncated = true;
  report.tracking_value = one_line(report.returned.value(options.tracking_header), 128);
  if (report.tracking_value.empty()) report.tracking_value = find_header_line(text, options.tracking_header);
  return report;
}

}  // namespace sluice::bounce
