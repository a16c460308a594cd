#include "bounce/mime.h"

#include <algorithm>

#include "common/ascii.h"

namespace sluice::bounce {
namespace {

constexpr std::size_t kMaxParams = 32;
constexpr std::size_t kMaxBoundaryLength = 200;  // RFC 2046 5.1.1 says 70; some MTAs exceed it

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && (is_blank(text.front()) || text.front() == '\r' || text.front() == '\n')) text.remove_prefix(1);
  while (!text.empty() && (is_blank(text.back()) || text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
  return text;
}

// One line of |text| from |pos|: without its line end; |next| is where the
// following line starts.
std::string_view line_at(std::string_view text, std::size_t pos, std::size_t& next) {
  const std::size_t lf = text.find('\n', pos);
  const std::size_t end = lf == std::string_view::npos ? text.size() : lf;
  next = lf == std::string_view::npos ? text.size() : lf + 1;
  std::string_view line = text.substr(pos, end - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// RFC 5322 3.6.8 field-name: printable ASCII but ':' (blanks before the
// colon, obsolete syntax, are tolerated and dropped).
bool split_field(std::string_view line, std::string_view& name, std::string_view& value) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 200) return false;
  std::string_view n = line.substr(0, colon);
  while (!n.empty() && is_blank(n.back())) n.remove_suffix(1);
  if (n.empty()) return false;
  for (char c : n) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126) return false;
  }
  name = n;
  value = line.substr(colon + 1);
  return true;
}

void append_capped(std::string& out, std::string_view text, std::size_t cap, bool& truncated) {
  if (out.size() >= cap) {
    if (!text.empty()) truncated = true;
    return;
  }
  const std::size_t room = cap - out.size();
  if (text.size() > room) {
    truncated = true;
    text = text.substr(0, room);
  }
  out.append(text);
}

// The boundary delimiters of a multipart body: the entity texts between them.
std::vector<std::string_view> split_multipart(std::string_view body, std::string_view boundary, std::size_t max_children,
                                              bool& truncated) {
  const std::string delimiter = "--" + std::string(boundary);
  std::vector<std::string_view> children;
  std::size_t content_start = std::string_view::npos;  // npos: still in the preamble
  std::size_t search = 0;
  while (search < body.size()) {
    const std::size_t at = body.find(delimiter, search);
    if (at == std::string_view::npos) break;
    search = at + 1;
    if (at != 0 && body[at - 1] != '\n') continue;
    std::size_t after = at + delimiter.size();
    const bool close = body.substr(after, 2) == "--";
    if (close) after += 2;
    std::size_t next = after;
    while (next < body.size() && is_blank(body[next])) ++next;
    if (next < body.size() && body[next] != '\r' && body[next] != '\n') continue;  // "--boundaryX": not ours
    if (content_start != std::string_view::npos) {
      std::size_t end = at;  // the line end before a delimiter belongs to it
      if (end > content_start && body[end - 1] == '\n') --end;
      if (end > content_start && body[end - 1] == '\r') --end;
      if (children.size() >= max_children) {
        truncated = true;
        return children;
      }
      children.push_back(body.substr(content_start, end - content_start));
    }
    if (close) return children;
    std::size_t line_end = body.find('\n', next);
    content_start = line_end == std::string_view::npos ? body.size() : line_end + 1;
    search = content_start;
  }
  // Unterminated: the last part runs to the end of the enclosing body.
  if (content_start != std::string_view::npos && content_start < body.size()) {
    if (children.size() >= max_children) {
      truncated = true;
    } else {
      children.push_back(body.substr(content_start));
    }
  }
  return children;
}

void add_part(MimeTree& tree, std::string_view entity, std::size_t depth, std::size_t parent, const MimeLimits& limits) {
  if (tree.parts.size() >= limits.max_parts) {
    tree.truncated = true;
    return;
  }
  MimePart part;
  part.headers = parse_header_section(entity, limits);
  if (part.headers.truncated) tree.truncated = true;
  part.body = entity.substr(std::min(part.headers.body_offset, entity.size()));
  if (const HeaderField* ct = part.headers.find("Content-Type")) part.content_type = parse_content_type(ct->value);
  part.encoding = ascii_lower(trim(part.headers.value("Content-Transfer-Encoding")));
  if (part.encoding.empty()) part.encoding = "7bit";
  part.depth = depth;
  part.parent = parent;
  const std::size_t index = tree.parts.size();
  const std::string boundary(part.content_type.param("boundary"));
  const bool split = part.content_type.is_multipart() && !boundary.empty() && boundary.size() <= kMaxBoundaryLength;
  const std::string_view body = part.body;
  tree.parts.push_back(std::move(part));
  if (!split) return;
  if (depth >= limits.max_depth) {
    tree.truncated = true;
    return;
  }
  bool truncated = false;
  const std::size_t room = limits.max_parts - tree.parts.size();
  for (std::string_view child : split_multipart(body, boundary, room, truncated)) {
    add_part(tree, child, depth + 1, index, limits);
  }
  if (truncated) tree.truncated = true;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const HeaderField* HeaderSection::find(std::string_view name) const {
  for (const HeaderField& field : fields) {
    if (ascii_iequals(field.name, name)) return &field;
  }
  return nullptr;
}

std::string_view HeaderSection::value(std::string_view name) const {
  const HeaderField* field = find(name);
  return field == nullptr ? std::string_view{} : std::string_view(field->value);
}

std::string_view ContentType::param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return {};
}

ContentType parse_content_type(std::string_view value) {
  ContentType out;
  const std::size_t semicolon = value.find(';');
  const std::string type = ascii_lower(trim(value.substr(0, semicolon)));
  const std::size_t slash = type.find('/');
  if (slash != std::string::npos && slash > 0 && slash + 1 < type.size() &&
      type.find_first_of(" \t\"") == std::string::npos) {
    out.type = type;
  }
  if (semicolon == std::string_view::npos) return out;
  std::string_view rest = value.substr(semicolon + 1);
  while (!rest.empty() && out.params.size() < kMaxParams) {
    while (!rest.empty() && (is_blank(rest.front()) || rest.front() == ';' || rest.front() == '\r' ||
                             rest.front() == '\n')) {
      rest.remove_prefix(1);
    }
    const std::size_t eq = rest.find('=');
    if (eq == std::string_view::npos) break;
    const std::string name = ascii_lower(trim(rest.substr(0, eq)));
    rest.remove_prefix(eq + 1);
    while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
    std::string param_value;
    if (!rest.empty() && rest.front() == '"') {
      rest.remove_prefix(1);
      while (!rest.empty() && rest.front() != '"') {
        if (rest.front() == '\\' && rest.size() > 1) rest.remove_prefix(1);
        param_value += rest.front();
        rest.remove_prefix(1);
      }
      if (!rest.empty()) rest.remove_prefix(1);
      const std::size_t next = rest.find(';');
      rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    } else {
      const std::size_t end = rest.find(';');
      param_value = std::string(trim(rest.substr(0, end)));
      rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    }
    if (!name.empty() && name.find_first_of(" \t") == std::string::npos) {
      out.params.emplace_back(name, std::move(param_value));
    }
  }
  return out;
}

namespace {

// The scan behind parse_header_section(); values are left untrimmed.
void scan_header_section(std::string_view text, const MimeLimits& limits, HeaderSection& out) {
  std::size_t pos = 0;
  bool first = true;
  bool skipping = false;  // the current field is not kept (over max_fields)
  while (pos < text.size()) {
    std::size_t next = 0;
    const std::string_view line = line_at(text, pos, next);
    if (line.empty()) {  // the empty line that ends the header section
      out.body_offset = next;
      return;
    }
    if (pos >= limits.max_header_bytes) {
      // Too long a header section: keep what we have, but still find where
      // the body starts (one linear scan).
      out.truncated = true;
      std::size_t at = text.find("\n\n", pos);
      const std::size_t crlf = text.find("\n\r\n", pos);
      if (crlf != std::string_view::npos && (at == std::string_view::npos || crlf < at)) {
        out.body_offset = crlf + 3;
      } else {
        out.body_offset = at == std::string_view::npos ? text.size() : at + 2;
      }
      return;
    }
    if (is_blank(line.front())) {
      if (!out.fields.empty() && !skipping) {
        bool cut = false;
        append_capped(out.fields.back().value, line, limits.max_field_bytes, cut);
        if (cut) out.truncated = true;
      }
    } else {
      std::string_view name;
      std::string_view value;
      if (!split_field(line, name, value)) {
        if (first && line.starts_with("From ")) {  // an mbox separator
          pos = next;
          first = false;
          continue;
        }
        out.body_offset = pos;  // not a header line: the body starts here
        break;
      }
      if (out.fields.size() >= limits.max_fields) {
        out.truncated = true;
        skipping = true;
      } else {
        skipping = false;
        HeaderField field{std::string(name), {}};
        bool cut = false;
        append_capped(field.value, value, limits.max_field_bytes, cut);
        if (cut) out.truncated = true;
        out.fields.push_back(std::move(field));
      }
    }
    first = false;
    pos = next;
    out.body_offset = pos;
  }
}

}  // namespace

HeaderSection parse_header_section(std::string_view text, const MimeLimits& limits) {
  HeaderSection out;
  scan_header_section(text, limits, out);
  for (HeaderField& field : out.fields) field.value = std::string(trim(field.value));
  return out;
}

MimeTree parse_mime(std::string_view message, const MimeLimits& limits) {
  MimeTree tree;
  add_part(tree, message, 0, 0, limits);
  return tree;
}

std::string decode_base64(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(max, text.size() / 4 * 3 + 3));
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    const int v = base64_value(c);
    if (v < 0) continue;  // line ends, blanks and junk are skipped
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      if (out.size() >= max) return out;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(max, text.size()));
  for (std::size_t i = 0; i < text.size() && out.size() < max; ++i) {
    const char c = text[i];
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '\n') {  // soft line break
      i += 1;
    } else if (i + 2 < text.size() && text[i + 1] == '\r' && text[i + 2] == '\n') {
      i += 2;
    } else if (i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);  // a stray '=' is kept (RFC 2045 6.7 note 1)
    }
  }
  return out;
}

std::string decode_body(const MimePart& part, std::size_t max) {
  if (part.encoding == "base64") return decode_base64(part.body, max);
  if (part.encoding == "quoted-printable") return decode_quoted_printable(part.body, max);
  return std::string(part.body.substr(0, max));
}

std::vector<std::size_t> child_parts(const MimeTree& tree, std::size_t index) {
  std::vector<std::size_t> out;
  if (index >= tree.parts.size()) return out;
  const std::size_t depth = tree.parts[index].depth + 1;
  for (std::size_t i = index + 1; i < tree.parts.size() && tree.parts[i].depth >= depth; ++i) {
    if (tree.parts[i].depth == depth && tree.parts[i].parent == index) out.push_back(i);
  }
  return out;
}

}  // namespace sluice::bounce
