// Which of our messages a report is about: the tracking ID, from the VERP
// address the report was sent to (prefix+ID@verp_domain, written by
// sluice-milter) or from the tracking header of the returned message. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "bounce/report.h"

namespace sluice::bounce {

struct VerpSettings {
  std::string prefix = "bounce";  // [milter] verp_prefix
  std::string domain;             // [milter] verp_domain; "" : any domain
};

// The canonical tracking ID of a VERP address "prefix+ID@domain" (prefix and
// domain compared case-insensitively; angle brackets allowed), or nullopt.
std::optional<std::string> tracking_id_from_verp(std::string_view address, const VerpSettings& verp);

struct MessageRef {
  std::string tracking_id;  // canonical (lowercase)
  std::string_view source;  // "envelope", "to", "header", "return-path"
};

// In order of trust: the envelope recipient pipe(8) gives (may be empty),
// Delivered-To / X-Original-To / To of the report, the tracking header of
// the returned message (or its quoted text), its Return-Path.
std::optional<MessageRef> find_message_ref(const Report& report, std::string_view envelope_recipient,
                                           const VerpSettings& verp);

}  // namespace sluice::bounce
