// A small, bounded MIME walker (RFC 5322 header sections, RFC 2045/2046
// multipart bodies, base64 and quoted-printable), enough to take apart
// bounces and complaint reports. It never sees a socket or a file.
//
// Owns: nothing. parse_mime() returns parts whose bodies are views into the
// caller's buffer, which must outlive them.
// Guarantees: every length and count is capped (MimeLimits): an overlong
// header line is cut, parts beyond max_parts and nesting beyond max_depth
// are not split further, an unterminated multipart ends at the end of its
// enclosing body, decoding stops at max_decoded bytes. Each level scans its
// bytes a bounded number of times, so time is linear in the input times
// max_depth. Hostile input yields a partial tree (truncated = true), never a
// crash. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::bounce {

struct MimeLimits {
  std::size_t max_header_bytes = 256 * 1024;  // of one header section
  std::size_t max_fields = 500;               // per header section
  std::size_t max_field_bytes = 16 * 1024;    // of one unfolded field value
  std::size_t max_parts = 1000;               // in the whole tree
  std::size_t max_depth = 12;                 // multipart nesting
  std::size_t max_decoded = 10 * 1024 * 1024; // of one decoded body
};

struct HeaderField {
  std::string name;   // as written
  std::string value;  // unfolded (CRLF before blanks removed), trimmed
};

struct HeaderSection {
  std::vector<HeaderField> fields;
  std::size_t body_offset = 0;  // where the body starts in the parsed text
  bool truncated = false;       // a cap was hit

  // The first field called |name| (any case), or nullptr.
  const HeaderField* find(std::string_view name) const;
  // Its value, or "" when absent.
  std::string_view value(std::string_view name) const;
};

// "type/subtype; param=value; ..." (RFC 2045 5.1, quoted values, RFC 2231
// continuations not supported). Type and parameter names are lowercased.
struct ContentType {
  std::string type = "text/plain";  // "multipart/report"
  std::vector<std::pair<std::string, std::string>> params;

  std::string_view param(std::string_view name) const;  // "" when absent
  bool is_multipart() const { return type.starts_with("multipart/"); }
};
ContentType parse_content_type(std::string_view value);

struct MimePart {
  HeaderSection headers;
  ContentType content_type;
  std::string encoding;   // Content-Transfer-Encoding, lowercased ("7bit" if absent)
  std::string_view body;  // raw, still encoded; a view into the parsed text
  std::size_t depth = 0;  // 0: the message itself
  std::size_t parent = 0; // index of the enclosing multipart (0 for the root)
};

struct MimeTree {
  std::vector<MimePart> parts;  // document order; parts[0] is the whole message
  bool truncated = false;       // some cap was hit somewhere
};

// Parses a header section from the start of |text|: up to the first empty
// line (or the end). Lines end in LF or CRLF.
HeaderSection parse_header_section(std::string_view text, const MimeLimits& limits = {});

// Splits a message into its parts (multiparts recursively). message/rfc822
// parts stay leaves: parse their decoded body with parse_mime() again.
MimeTree parse_mime(std::string_view message, const MimeLimits& limits = {});

// The body of |part| decoded by its Content-Transfer-Encoding (base64,
// quoted-printable, else as is), at most |max| bytes.
std::string decode_body(const MimePart& part, std::size_t max);
std::string decode_base64(std::string_view text, std::size_t max);
std::string decode_quoted_printable(std::string_view text, std::size_t max);

// The children of multipart part |index| (indexes into tree.parts).
std::vector<std::size_t> child_parts(const MimeTree& tree, std::size_t index);

}  // namespace sluice::bounce
