#include "unsubscribe/pages.h"

namespace sluice::unsubscribe {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

HttpResponse confirmation_page(std::string_view recipient) {
  HttpResponse response;
  response.content_type = "text/html; charset=utf-8";
  response.body =
      "<!DOCTYPE html>\n"
      "<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta name=\"robots\" content=\"noindex, nofollow\"><title>Unsubscribe</title></head>\n"
      "<body><h1>Unsubscribe</h1>\n"
      "<p>Stop this sender's mail to <strong>" +
      html_escape(recipient) +
      "</strong>?</p>\n"
      "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
      "<button type=\"submit\">Unsubscribe</button></form>\n"
      "</body></html>\n";
  return response;
}

}  // namespace sluice::unsubscribe
