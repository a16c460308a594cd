// RFC 8058 section 3.1: a one-click unsubscribe POST carries the pair
// "List-Unsubscribe=One-Click", as application/x-www-form-urlencoded (what
// the mailbox providers send) or multipart/form-data (RFC 7578). Pure.
#pragma once

#include <string_view>

namespace sluice::unsubscribe {

// True when |body| of |content_type| (the header value, may be empty) holds
// List-Unsubscribe=One-Click. A missing or unknown type is read as
// urlencoded; other pairs may accompany it. The body is already capped by
// the request reader.
bool has_one_click_pair(std::string_view content_type, std::string_view body);

}  // namespace sluice::unsubscribe
