// libFuzzer target for bounce/report.* and what it calls: the MIME walker
// (bounce/mime.*), RFC 3464 DSNs (bounce/dsn.*), RFC 5965 ARF reports
// (bounce/arf.*), plain bounces (bounce/plain_bounce.*) and status codes
// (bounce/status_code.*). The input is a whole report as sluice-bounce reads
// it; each component also gets the raw input directly, so its own caps are
// reached without first building a valid MIME tree. Besides "no crash, no
// sanitizer report, no hang" (run with -timeout), it checks the documented
// caps and the promises callers rely on:
//   - a Report's strings are one line and within their caps (addresses may
//     keep one blank at each end), its recipient count within its type's
//     cap; DSNs have a recipient, ARF a type; plain bounces name no excluded
//     address and no postmaster;
//   - a hit cap anywhere shows as Report::truncated;
//   - every header section respects MimeLimits (field count, name syntax,
//     unfolded value size), with default and with tiny limits;
//   - a MIME tree is a tree: bodies are views inside their parent's body,
//     depth and part count within the limits, child_parts() agrees;
//   - base64 and quoted-printable decode what an encoder wrote, within max.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bounce/arf.h"
#include "bounce/dsn.h"
#include "bounce/mime.h"
#include "bounce/plain_bounce.h"
#include "bounce/report.h"
#include "bounce/status_code.h"
#include "common/address.h"

namespace {

using sluice::bounce::HeaderSection;
using sluice::bounce::MimeLimits;
using sluice::bounce::MimeTree;
using sluice::bounce::Report;
using sluice::bounce::ReportRecipient;
using sluice::bounce::ReportType;

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer saves the input
}

// What one_line() promises: no control byte, no leading blank, no two
// blanks in a row, at most |max| bytes. (A cut may leave a trailing blank.)
bool one_line_within(std::string_view s, std::size_t max) {
  if (s.size() > max) return false;
  if (!s.empty() && s.front() == ' ') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) return false;
    if (s[i] == ' ' && i + 1 < s.size() && s[i + 1] == ' ') return false;
  }
  return true;
}

// dsn_address() strips "<>" after one_line(), so "< a@b >" leaves a blank at
// either end; consumers parse it with parse_mailbox(), which allows them.
bool address_within(std::string_view s, std::size_t max) {
  if (s.size() > max) return false;
  if (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return one_line_within(s, max);
}

bool is_lower(std::string_view s) {
  for (const char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

bool is_blank_or_eol(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// A lookup key as find_addresses() promises it: a mailbox that reparses to itself.
bool is_lookup_key(const std::string& key) {
  auto m = sluice::parse_mailbox(key, sluice::MailboxOptions{.allow_null = false});
  return m.ok() && m->lookup_key() == key;
}

bool within(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

void check_header_section(const HeaderSection& h, std::size_t text_size, const MimeLimits& limits) {
  check(h.body_offset <= text_size);
  check(h.fields.size() <= limits.max_fields);
  for (const auto& f : h.fields) {
    // RFC 5322 3.6.8 field-name: printable ASCII but ':'; the walker cuts at 200.
    check(!f.name.empty() && f.name.size() <= 200);
    for (const char c : f.name) {
      const auto u = static_cast<unsigned char>(c);
      check(u >= 33 && u <= 126 && c != ':');
    }
    check(f.value.size() <= limits.max_field_bytes);
    check(f.value.find('\n') == std::string::npos);  // unfolded
    check(f.value.empty() || (!is_blank_or_eol(f.value.front()) && !is_blank_or_eol(f.value.back())));
  }
}

void check_tree(std::string_view message, const MimeTree& tree, const MimeLimits& limits) {
  check(!tree.parts.empty());
  check(tree.parts.size() <= limits.max_parts);
  check(tree.parts[0].depth == 0 && tree.parts[0].parent == 0);
  check(tree.parts[0].headers.body_offset <= message.size());
  for (std::size_t i = 0; i < tree.parts.size(); ++i) {
    const auto& part = tree.parts[i];
    check(within(part.body, message));
    check_header_section(part.headers, message.size(), limits);
    if (part.headers.truncated) check(tree.truncated);
    const auto& ct = part.content_type;
    check(is_lower(ct.type) && ct.type.find('/') != std::string::npos);
    check(ct.type.find_first_of(" \t\"") == std::string::npos);
    for (const auto& [name, value] : ct.params) check(!name.empty() && is_lower(name));
    check(!part.encoding.empty() && is_lower(part.encoding));
    if (i > 0) {
      const auto& parent = tree.parts[part.parent];
      check(part.parent < i);
      check(parent.content_type.is_multipart());
      check(part.depth == parent.depth + 1 && part.depth <= limits.max_depth);
      check(within(part.body, parent.body));
    }
    std::size_t children = 0;
    for (std::size_t j = i + 1; j < tree.parts.size(); ++j) {
      if (tree.parts[j].parent == i && tree.parts[j].depth == part.depth + 1) ++children;
    }
    const std::vector<std::size_t> listed = sluice::bounce::child_parts(tree, i);
    check(listed.size() == children);
    for (const std::size_t c : listed) check(c > i && tree.parts[c].parent == i);
    if (i < 8) {
      for (const std::size_t cap : {std::size_t{0}, std::size_t{5}, limits.max_decoded}) {
        check(sluice::bounce::decode_body(part, cap).size() <= cap);
      }
    }
  }
  check(sluice::bounce::child_parts(tree, tree.parts.size()).empty());
}

void check_status(std::string_view status) {
  if (status.empty()) return;
  auto parsed = sluice::bounce::parse_enhanced_status(status);
  check(parsed.has_value() && parsed->str() == status);
}

void check_report(std::string_view message, const Report& r) {
  const MimeLimits defaults;
  check_header_section(r.outer, message.size(), defaults);
  check_header_section(r.returned, SIZE_MAX, defaults);  // parsed from a decoded copy
  check(!r.outer.fields.empty());
  if (r.outer.truncated || r.returned.truncated) check(r.truncated);
  check(one_line_within(r.message_id, 250));
  check(one_line_within(r.tracking_value, 128));
  check(r.body_digest.size() == 64 && r.body_digest.find_first_not_of("0123456789abcdef") == std::string::npos);
  check(sluice::bounce::report_type_name(r.type).size() >= 3);
  if (r.type != ReportType::kFeedback) check(r.feedback_type.empty() && r.user_agent.empty());
  if (r.type != ReportType::kDeliveryStatus) check(r.queue_id.empty());

  switch (r.type) {
    case ReportType::kDeliveryStatus:
      check(!r.recipients.empty() && r.recipients.size() <= sluice::bounce::kMaxDsnRecipients);
      check(one_line_within(r.queue_id, 64));
      for (const ReportRecipient& x : r.recipients) {
        check(address_within(x.address, 512) && address_within(x.original, 512));
        check(one_line_within(x.action, 32) && is_lower(x.action));
        check(one_line_within(x.status, 64) && x.status.find(' ') == std::string::npos);
        check(one_line_within(x.diagnostic, sluice::bounce::kMaxDsnFieldBytes));
      }
      break;
    case ReportType::kFeedback:
      check(!r.feedback_type.empty() && one_line_within(r.feedback_type, 32) && is_lower(r.feedback_type));
      check(one_line_within(r.user_agent, 100));
      check(r.recipients.size() <= sluice::bounce::kMaxArfRecipients);
      for (const ReportRecipient& x : r.recipients) {
        check(!x.address.empty() && address_within(x.address, 512));
        check(x.original.empty() && x.action.empty() && x.status.empty() && x.diagnostic.empty());
      }
      break;
    case ReportType::kPlainBounce: {
      check(!r.recipients.empty() && r.recipients.size() <= sluice::bounce::kMaxPlainRecipients);
      // The bounce's own addresses are not candidates (plain_bounce.h).
      std::vector<std::string> own;
      for (std::string_view name : {"From", "To", "Delivered-To", "X-Original-To", "Sender"}) {
        for (std::string& a : sluice::bounce::header_addresses(r.outer.value(name), 8)) own.push_back(std::move(a));
      }
      for (std::size_t i = 0; i < r.recipients.size(); ++i) {
        const ReportRecipient& x = r.recipients[i];
        check(x.action == "failed" || x.action == "delayed");
        check(x.action == r.recipients[0].action && x.status == r.recipients[0].status);
        check(x.original.empty());
        check_status(x.status);
        check(one_line_within(x.diagnostic, 300));
        if (x.address.empty()) {
          check(r.recipients.size() == 1);
          continue;
        }
        check(is_lookup_key(x.address));
        const std::string local = x.address.substr(0, x.address.rfind('@'));
        check(local != "postmaster" && local != "mailer-daemon");
        for (const std::string& o : own) check(o != x.address);
        for (std::size_t j = 0; j < i; ++j) check(r.recipients[j].address != x.address);
      }
      break;
    }
    case ReportType::kAutoReply:
      check(r.recipients.empty());
      break;
  }
}

void fuzz_report(std::string_view message) {
  auto report = sluice::bounce::parse_report(message);
  const MimeTree tree = sluice::bounce::parse_mime(message);
  check_tree(message, tree, MimeLimits{});
  if (!report.ok()) {
    check(report.error().code == sluice::Errc::kInvalidInput);
    check(report.error().detail.starts_with("unparsable: "));
    return;
  }
  check_report(message, *report);
  if (tree.truncated) check(report->truncated);
  // The outer section is the tree root's; a second parse is the same.
  check(report->outer.fields.size() == tree.parts[0].headers.fields.size());
  check(report->outer.body_offset == tree.parts[0].headers.body_offset);
}

void fuzz_components(std::string_view in) {
  for (const std::size_t max : {sluice::bounce::kMaxDsnRecipients, std::size_t{2}}) {
    const auto dsn = sluice::bounce::parse_delivery_status(in, max);
    check(dsn.recipients.size() <= max);
    if (dsn.truncated) check(dsn.recipients.size() == max);
    check(one_line_within(dsn.reporting_mta, 255) && one_line_within(dsn.queue_id, 64));
    for (const auto& x : dsn.recipients) {
      check(address_within(x.final_recipient, 512) && address_within(x.original_recipient, 512));
      check(one_line_within(x.action, 32) && is_lower(x.action));
      check(one_line_within(x.status, 64) && x.status.find(' ') == std::string::npos);
      check(one_line_within(x.diagnostic_code, sluice::bounce::kMaxDsnFieldBytes));
      check(one_line_within(x.remote_mta, 255));
    }
  }

  const auto arf = sluice::bounce::parse_feedback_report(in);
  check(one_line_within(arf.feedback_type, 32) && is_lower(arf.feedback_type));
  check(one_line_within(arf.user_agent, 100) && address_within(arf.original_mail_from, 512));
  check(one_line_within(arf.reported_domain, 255) && one_line_within(arf.source_ip, 64));
  check(arf.original_rcpt_to.size() <= sluice::bounce::kMaxArfRecipients);
  for (const auto& a : arf.original_rcpt_to) check(!a.empty() && address_within(a, 512));

  // The input's first line, if it holds an address, plays the bounce's own From.
  const std::vector<std::string> exclude = sluice::bounce::find_addresses(in.substr(0, in.find('\n')), 2);
  if (auto plain = sluice::bounce::parse_plain_bounce(in, exclude)) {
    check(plain->recipients.size() <= sluice::bounce::kMaxPlainRecipients);
    for (std::size_t i = 0; i < plain->recipients.size(); ++i) {
      const std::string& a = plain->recipients[i];
      check(is_lookup_key(a));
      const std::string local = a.substr(0, a.rfind('@'));
      check(local != "postmaster" && local != "mailer-daemon");
      for (const std::string& e : exclude) check(e != a);
      for (std::size_t j = 0; j < i; ++j) check(plain->recipients[j] != a);
    }
    check_status(plain->status);
    check(plain->smtp_code == 0 || (plain->smtp_code >= 400 && plain->smtp_code <= 599));
    check(!plain->status.empty() || plain->smtp_code != 0 || !plain->diagnostic.empty());
    check(one_line_within(plain->diagnostic, 300));
    if (plain->delayed) check(!plain->status.starts_with('5') && plain->smtp_code < 500);
    check(plain->returned_headers.size() <= 256 * 1024);
  }

  for (const std::size_t max : {std::size_t{0}, std::size_t{3}, std::size_t{50}}) {
    const std::vector<std::string> found = sluice::bounce::find_addresses(in, max);
    check(found.size() <= max);
    for (std::size_t i = 0; i < found.size(); ++i) {
      check(is_lookup_key(found[i]));
      for (std::size_t j = 0; j < i; ++j) check(found[j] != found[i]);
    }
  }

  std::size_t at = 0;
  if (auto status = sluice::bounce::find_enhanced_status(in, &at)) {
    const std::string text = status->str();
    check(status->klass == 2 || status->klass == 4 || status->klass == 5);
    check(status->subject >= 0 && status->subject <= 7 && status->detail >= 0 && status->detail <= 999);
    check(at < in.size() && in[at] == text[0]);
  }
  if (auto code = sluice::bounce::find_smtp_code(in, &at)) {
    check(*code >= 400 && *code <= 599 && at + 3 <= in.size());
    check(std::to_string(*code) == in.substr(at, 3));
  }
  if (auto status = sluice::bounce::parse_enhanced_status(in)) {
    check(sluice::bounce::parse_enhanced_status(status->str()) == status);
  }

  check(address_within(sluice::bounce::dsn_address(in), 512));
  check(one_line_within(sluice::bounce::one_line(in, 17), 17));
  const auto ct = sluice::bounce::parse_content_type(in.substr(0, 4096));
  check(is_lower(ct.type) && ct.type.find('/') != std::string::npos);
}

// Tiny limits, so every cap of the walker is hit on small inputs.
void fuzz_tiny_limits(std::string_view in) {
  const MimeLimits tiny{.max_header_bytes = 96,
                        .max_fields = 4,
                        .max_field_bytes = 24,
                        .max_parts = 6,
                        .max_depth = 2,
                        .max_decoded = 16};
  check_tree(in, sluice::bounce::parse_mime(in, tiny), tiny);
  const HeaderSection h = sluice::bounce::parse_header_section(in, tiny);
  check_header_section(h, in.size(), tiny);
}

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
    if (i % 57 == 54) out += "\r\n";  // 76-character lines, as MTAs write them
  }
  if (in.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out = out + kAlphabet[(v >> 18) & 63] + kAlphabet[(v >> 12) & 63] + "==";
  } else if (in.size() - i == 2) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out = out + kAlphabet[(v >> 18) & 63] + kAlphabet[(v >> 12) & 63] + kAlphabet[(v >> 6) & 63] + "=";
  }
  return out;
}

std::string qp_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t line = 0;
  for (const char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if (line >= 72) {
      out += "=\r\n";  // soft line break
      line = 0;
    }
    if (u >= 33 && u <= 126 && c != '=') {
      out += c;
      ++line;
    } else {
      out += '=';
      out += kHex[u >> 4];
      out += kHex[u & 15];
      line += 3;
    }
  }
  return out;
}

void fuzz_decoders(std::string_view in) {
  for (const std::size_t max : {std::size_t{0}, std::size_t{10}, std::size_t{1} << 20}) {
    check(sluice::bounce::decode_base64(in, max).size() <= max);
    check(sluice::bounce::decode_quoted_printable(in, max).size() <= max);
  }
  const std::string_view sample = in.substr(0, 4096);
  check(sluice::bounce::decode_base64(base64_encode(sample), sample.size()) == sample);
  check(sluice::bounce::decode_quoted_printable(qp_encode(sample), sample.size()) == sample);
  check(sluice::bounce::decode_base64(base64_encode(sample), sample.size() / 2) == sample.substr(0, sample.size() / 2));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  fuzz_report(in);
  fuzz_components(in);
  fuzz_tiny_limits(in);
  fuzz_decoders(in);
  return 0;
}
