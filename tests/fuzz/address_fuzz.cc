// libFuzzer target for the pure parsers in common/address.* and
// common/tracking_id.*. Besides "no crash, no sanitizer report", it checks
// the properties callers rely on:
//   - a parsed mailbox's canonical form reparses to the same mailbox and
//     stays within the RFC 5321 size caps, with no control bytes;
//   - error details never exceed a short bound (they may be logged);
//   - a parsed tracking ID formats back to the lowercase of its input, modulo
//     Crockford aliases, and that text parses to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/address.h"
#include "common/tracking_id.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer saves the input
}

void fuzz_mailbox(std::string_view in, bool allow_null) {
  auto m = sluice::parse_mailbox(in, sluice::MailboxOptions{.allow_null = allow_null});
  if (!m.ok()) {
    check(m.error().detail.size() <= 64);
    return;
  }
  if (m->is_null()) {
    check(allow_null);
    check(m->str().empty() && m->lookup_key().empty());
    return;
  }
  const std::string canon = m->str();
  check(canon.size() + 2 <= sluice::kMaxPathLength);
  check(m->domain.size() <= sluice::kMaxDomainLength);
  for (const char c : canon) {
    const auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u != 0x7F);
  }
  auto again = sluice::parse_mailbox(canon);
  check(again.ok());
  check(*again == *m);
  check(again->str() == canon);
  check(m->lookup_key().size() == canon.size());
}

void fuzz_tracking_id(std::string_view in) {
  auto id = sluice::parse_tracking_id(in);
  if (!id.ok()) return;
  const std::string text = sluice::format_tracking_id(*id);
  check(text.size() == sluice::kTrackingIdLength);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = in[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == 'i' || c == 'l') c = '1';
    if (c == 'o') c = '0';
    check(text[i] == c);
  }
  auto again = sluice::parse_tracking_id(text);
  check(again.ok() && *again == *id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  fuzz_mailbox(in, true);
  fuzz_mailbox(in, false);
  fuzz_tracking_id(in);
  return 0;
}
