// What a person sees: the confirmation page behind a GET (RFC 8058 section
// 4: a GET must never unsubscribe, link scanners fetch every URL) and the
// short answers. Pure; everything from a token is HTML-escaped.
#pragma once

#include <string>
#include <string_view>

#include "unsubscribe/http_response.h"

namespace sluice::unsubscribe {

// &, <, >, " and ' as character references.
std::string html_escape(std::string_view text);

// 200, text/html: names the recipient and holds a POST form (to the same
// URL, no action attribute: the path behind the operator's proxy is not
// ours to know) sending List-Unsubscribe=One-Click.
HttpResponse confirmation_page(std::string_view recipient);

}  // namespace sluice::unsubscribe
