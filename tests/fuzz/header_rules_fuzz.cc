// libFuzzer target for milter/header_rules.*: parse_header_rules on the first
// part of the input, then HeaderRules::apply on headers built from the rest.
// Input layout: RULES "\n--\n" HEADERS, where HEADERS are separated by 0x01
// and each is NAME ":" VALUE (any bytes, CR/LF/NUL included). Besides "no
// crash, no sanitizer report, no hang", it checks the properties the milter
// relies on:
//   - a load error is "fuzz.rules:LINE: reason" with no CR, LF or NUL;
//   - no added header and no changed value holds CR, LF or NUL;
//   - added headers have valid names; change indexes exist in the message;
//   - an MTA applying ordered_for_milter() then additions ends with exactly
//     HeaderEdits::result (the list the DKIM signer hashes);
//   - apply() is deterministic, and for an account/domain context too.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "milter/header_rules.h"

namespace {

using sluice::milter::HeaderChange;
using sluice::milter::HeaderContext;
using sluice::milter::HeaderEdits;
using sluice::milter::HeaderField;

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer saves the input
}

bool clean(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Postfix cleanup_milter semantics: each index counts the current headers.
std::vector<HeaderField> simulate_mta(std::vector<HeaderField> headers, const HeaderEdits& edits) {
  for (const HeaderChange& c : edits.ordered_for_milter()) {
    int seen = 0;
    bool found = false;
    for (auto it = headers.begin(); it != headers.end(); ++it) {
      if (!iequal(it->name, c.name) || ++seen != c.index) continue;
      if (c.value) {
        it->value = *c.value;
      } else {
        headers.erase(it);
      }
      found = true;
      break;
    }
    check(found);  // the index must exist when applied in this order
  }
  for (const HeaderField& f : edits.additions) headers.push_back(f);
  return headers;
}

void check_edits(const std::vector<HeaderField>& in, const HeaderEdits& edits) {
  for (const HeaderField& f : edits.additions) {
    check(sluice::milter::is_valid_header_name(f.name));
    check(clean(f.value));
  }
  for (const HeaderChange& c : edits.changes) {
    check(c.index >= 1);
    if (c.value) check(clean(*c.value));
  }
  check(simulate_mta(in, edits) == edits.result);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t sep = input.find("\n--\n");
  const std::string_view rules_text = input.substr(0, sep);
  auto rules = sluice::milter::parse_header_rules(rules_text, "fuzz.rules");
  if (!rules.ok()) {
    check(rules.error().detail.starts_with("fuzz.rules:"));
    check(clean(rules.error().detail));
    check(rules.error().detail.size() <= 400);
    return 0;
  }
  std::vector<HeaderField> headers;
  if (sep != std::string_view::npos) {
    std::string_view rest = input.substr(sep + 4);
    while (!rest.empty() && headers.size() < 200) {
      const std::size_t end = rest.find('\x01');
      const std::string_view item = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
      const std::size_t colon = item.find(':');
      if (colon == std::string_view::npos) {
        headers.push_back(HeaderField{std::string(item), ""});
      } else {
        headers.push_back(HeaderField{std::string(item.substr(0, colon)), std::string(item.substr(colon + 1))});
      }
    }
  }
  for (const HeaderContext& ctx : {HeaderContext{}, HeaderContext{"alice", "example.com"},
                                   HeaderContext{"bob", "mail.example.org"}}) {
    const HeaderEdits edits = rules->apply(headers, ctx);
    check_edits(headers, edits);
    const HeaderEdits again = rules->apply(headers, ctx);
    check(again.result == edits.result && again.changes == edits.changes && again.warnings == edits.warnings);
    for (const std::string& w : edits.warnings) check(clean(w) && w.starts_with("fuzz.rules:"));
  }
  return 0;
}
