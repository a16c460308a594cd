#include "bounce/message_ref.h"

#include "common/address.h"
#include "common/ascii.h"
#include "common/tracking_id.h"

namespace sluice::bounce {
namespace {

std::optional<std::string> canonical_id(std::string_view text) {
  auto id = parse_tracking_id(text);
  if (!id) return std::nullopt;
  return format_tracking_id(*id);
}

// The first VERP address among the addresses of a header value.
std::optional<std::string> from_header(std::string_view value, const VerpSettings& verp) {
  for (const std::string& address : header_addresses(value, 8)) {
    if (auto id = tracking_id_from_verp(address, verp)) return id;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> tracking_id_from_verp(std::string_view address, const VerpSettings& verp) {
  auto mailbox = parse_mailbox(address, MailboxOptions{.allow_null = false});
  if (!mailbox) return std::nullopt;
  if (!verp.domain.empty() && !ascii_iequals(mailbox->domain, verp.domain)) return std::nullopt;
  const std::string& local = mailbox->local;
  if (local.size() != verp.prefix.size() + 1 + kTrackingIdLength) return std::nullopt;
  if (!ascii_iequals(std::string_view(local).substr(0, verp.prefix.size()), verp.prefix) ||
      local[verp.prefix.size()] != '+') {
    return std::nullopt;
  }
  return canonical_id(std::string_view(local).substr(verp.prefix.size() + 1));
}

std::optional<MessageRef> find_message_ref(const Report& report, std::string_view envelope_recipient,
                                           const VerpSettings& verp) {
  if (!envelope_recipient.empty()) {
    if (auto id = tracking_id_from_verp(envelope_recipient, verp)) return MessageRef{*id, "envelope"};
  }
  for (std::string_view name : {"Delivered-To", "X-Original-To", "To"}) {
    for (const HeaderField& field : report.outer.fields) {
      if (!ascii_iequals(field.name, name)) continue;
      if (auto id = from_header(field.value, verp)) return MessageRef{*id, "to"};
    }
  }
  if (!report.tracking_value.empty()) {
    const std::string_view value = report.tracking_value;
    if (auto id = canonical_id(value.substr(0, value.find_first_of(" \t;("))))  return MessageRef{*id, "header"};
  }
  if (auto id = from_header(report.returned.value("Return-Path"), verp)) return MessageRef{*id, "return-path"};
  return std::nullopt;
}

}  // namespace sluice::bounce
