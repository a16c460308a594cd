// One header field as the milter sees it: the name as written, and the
// value after the colon with its leading space (SMFIP_HDR_LEADSPC) and any
// folding. The header rules, the per-message state and the DKIM signer all
// work on this one type, so the final header list is signed as it is.
#pragma once

#include <string>

namespace sluice::milter {

struct HeaderField {
  std::string name;   // as before the colon ("Subject")
  std::string value;  // after the colon, leading space kept; folds as CRLF or LF
  friend bool operator==(const HeaderField&, const HeaderField&) = default;
};

}  // namespace sluice::milter
