// OpenDKIM-compatible key table parser; see key_table.h for the format.
#include "milter/key_table.h"
#include "common/ascii.h"

#include <array>
#include <cstdio>
#include <unordered_map>

#include "common/log.h"

namespace sluice::milter {
namespace table_detail {

Error table_error(std::string_view file_name, int line, std::string_view reason) {
  std::string detail{file_name};
  detail += ':';
  detail += std::to_string(line);
  detail += ": ";
  detail += reason;
  return make_error(Errc::kConfig, std::move(detail));
}

namespace {
constexpr bool is_space(char c) { return c == ' ' || c == '\t'; }
}  // namespace

Result<std::vector<TableLine>> split_table(std::string_view text, std::string_view file_name) {
  if (text.size() > kMaxTableBytes) {
    return table_error(file_name, 0, "file is larger than " + std::to_string(kMaxTableBytes) + " bytes");
  }
  std::vector<TableLine> out;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF line end
    if (line.size() > kMaxTableLineLength) {
      return table_error(file_name, line_no, "line longer than " + std::to_string(kMaxTableLineLength) + " bytes");
    }
    // OpenDKIM cuts a comment at the first '#' wherever it is.
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    for (const char ch : line) {
      const auto c = static_cast<unsigned char>(ch);
      if ((c < 0x20 && ch != '\t') || c == 0x7f) {
        std::array<char, 8> hex{};
        std::snprintf(hex.data(), hex.size(), "0x%02x", static_cast<unsigned>(c));
        return table_error(file_name, line_no, std::string("control byte ") + hex.data() + " in line");
      }
    }
    TableLine parsed;
    parsed.line = line_no;
    std::size_t i = 0;
    while (i < line.size()) {
      if (is_space(line[i])) {
        ++i;
        continue;
      }
      const std::size_t start = i;
      while (i < line.size() && !is_space(line[i])) ++i;
      parsed.fields.push_back(line.substr(start, i - start));
    }
    if (!parsed.fields.empty()) out.push_back(std::move(parsed));
  }
  return out;
}

}  // namespace table_detail

using table_detail::table_error;

Result<TableSpec> parse_table_spec(std::string_view name) {
  TableSpec spec;
  if (name.starts_with("file:")) {
    spec.kind = TableKind::kFile;
    name.remove_prefix(5);
  } else if (name.starts_with("refile:")) {
    spec.kind = TableKind::kRefile;
    name.remove_prefix(7);
  } else if (!name.starts_with('/')) {
    // Any other "type:" prefix names an OpenDKIM data set we do not read.
    static constexpr std::array<std::string_view, 12> kOther = {
        "csl:", "db:", "dsn:", "ldap:", "ldapi:", "ldaps:", "lua:", "memcache:", "redis:", "mdb:", "erlang:", "socket:"};
    for (std::string_view prefix : kOther) {
      if (name.starts_with(prefix)) {
        return make_error(Errc::kConfig, log_escape(name, 200) + ": OpenDKIM data set type \"" +
                                             std::string(prefix.substr(0, prefix.size() - 1)) +
                                             "\" is not supported; use a file (file: or refile:)");
      }
    }
    if (name.starts_with("repute:")) {
      return make_error(Errc::kConfig, log_escape(name, 200) + ": OpenDKIM data set type \"repute\" is not supported");
    }
  }
  if (name.empty()) return make_error(Errc::kConfig, "empty table file name");
  spec.path = std::string(name);
  return spec;
}

bool is_valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label_len = 0;
  char prev = '.';
  for (const char c : name) {
    if (c == '.') {
      if (label_len == 0 || prev == '-') return false;
      label_len = 0;
    } else {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && c != '-') return false;
      if (c == '-' && label_len == 0) return false;
      if (++label_len > 63) return false;
    }
    prev = c;
  }
  return label_len > 0 && prev != '-';
}

namespace {

bool printable_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  }
  return true;
}

// Directory part of |path| including the trailing '/', or "" when none.
std::string_view directory_of(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash + 1);
}

}  // namespace

const KeyTableEntry* KeyTable::find(std::string_view name) const {
  for (const KeyTableEntry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Result<KeyTable> parse_key_table(std::string_view text, std::string_view file_name) {
  auto spec = parse_table_spec(file_name);
  if (!spec) return std::move(spec).error();
  const std::string& file = spec->path;
  auto lines = table_detail::split_table(text, file);
  if (!lines) return std::move(lines).error();

  KeyTable table;
  table.file_name_ = file;
  std::unordered_map<std::string_view, int> seen;  // name -> first line
  for (const table_detail::TableLine& tl : *lines) {
    const int n = tl.line;
    if (tl.fields.size() < 2) {
      return table_error(file, n, "missing DOMAIN:SELECTOR:KEYPATH after key name \"" + log_escape(tl.fields[0], 64) + "\"");
    }
    if (tl.fields.size() > 2) {
      return table_error(file, n, "unexpected text after DOMAIN:SELECTOR:KEYPATH: \"" + log_escape(tl.fields[2], 64) + "\"");
    }
    const std::string_view name = tl.fields[0];
    const std::string_view value = tl.fields[1];
    if (name.size() > kMaxKeyNameLength) return table_error(file, n, "key name longer than 255 bytes");
    if (!printable_ascii(name)) return table_error(file, n, "key name \"" + log_escape(name, 64) + "\" is not printable ASCII");
    if (spec->kind == TableKind::kRefile && name.find('*') != std::string_view::npos) {
      return table_error(file, n, "key name \"" + log_escape(name, 64) + "\" has a '*': key names are looked up exactly");
    }
    if (auto [it, inserted] = seen.emplace(name, n); !inserted) {
      return table_error(file, n, "duplicate key name \"" + log_escape(name, 64) + "\" (first at line " +
                                      std::to_string(it->second) + ")");
    }
    const std::size_t c1 = value.find(':');
    const std::size_t c2 = c1 == std::string_view::npos ? c1 : value.find(':', c1 + 1);
    if (c2 == std::string_view::npos) {
      return table_error(file, n, "value \"" + log_escape(value, 64) + "\" is not DOMAIN:SELECTOR:KEYPATH");
    }
    std::string_view domain = value.substr(0, c1);
    const std::string_view selector = value.substr(c1 + 1, c2 - c1 - 1);
    const std::string_view key = value.substr(c2 + 1);
    if (domain == "%") {
      return table_error(file, n, "domain \"%\" (the sender's domain) is not supported: name each signing domain");
    }
    if (domain.ends_with('.')) domain.remove_suffix(1);
    if (domain.empty()) return table_error(file, n, "missing domain");
    if (!is_valid_dns_name(domain)) return table_error(file, n, "invalid domain \"" + log_escape(domain, 64) + "\"");
    if (selector.empty()) return table_error(file, n, "missing selector");
    if (!is_valid_dns_name(selector)) {
      return table_error(file, n, "invalid selector \"" + log_escape(selector, 64) + "\"");
    }
    if (key.empty()) return table_error(file, n, "missing key path");
    if (key.find('%') != std::string_view::npos) {
      return table_error(file, n, "'%' in key path (the sender's domain) is not supported: name each key file");
    }
    // OpenDKIM reads a value not starting with "/", "./" or "../" as inline
    // PEM or base64 DER key data. Such data is long and has no '/' in its
    // first bytes ... but so can a file name; refuse only what cannot be a
    // sane file name: a "-----BEGIN" header or a very long component.
    if (key.starts_with("-----") || (key.find('/') == std::string_view::npos && key.size() > 255)) {
      return table_error(file, n, "inline key data is not supported: put the key in a file and give its path");
    }
    KeyTableEntry e;
    e.name = std::string(name);
    e.domain = ascii_lower(domain);
    e.selector = std::string(selector);
    e.key_path = key.starts_with('/') ? std::string(key) : std::string(directory_of(file)) + std::string(key);
    e.line = n;
    table.entries_.push_back(std::move(e));
  }
  return table;
}

}  // namespace sluice::milter
