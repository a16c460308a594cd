// OpenDKIM-compatible signing table; see signing_table.h for the rules.
#include "milter/signing_table.h"

#include <algorithm>

#include "common/log.h"

namespace sluice::milter {
namespace {

using table_detail::table_error;

// Lowercases the domain side of a pattern: after the last '@', or all of it
// when it has no '@' (then it names a domain).
std::string normalise_pattern(std::string_view pattern) {
  std::string out{pattern};
  const std::size_t at = out.rfind('@');
  const std::size_t from = at == std::string::npos ? 0 : at + 1;
  for (std::size_t i = from; i < out.size(); ++i) {
    if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] + ('a' - 'A'));
  }
  return out;
}

bool printable_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  }
  return true;
}

// UTF-8 local parts and domains (RFC 6531) may appear in patterns: allow
// bytes >= 0x80 there, but no controls or spaces.
bool pattern_bytes_ok(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

// Lookup keys for an exact ("file:") table, in OpenDKIM's order.
std::vector<std::string> exact_keys(const Mailbox& from) {
  const std::string& user = from.local;
  const std::string& host = from.domain;
  std::vector<std::string> keys;
  keys.push_back(user + "@" + host);
  keys.push_back(host);
  for (std::size_t dot = host.find('.'); dot != std::string::npos; dot = host.find('.', dot + 1)) {
    const std::string parent = host.substr(dot);  // ".example.com"
    keys.push_back(user + "@" + parent);
    keys.push_back(parent);
  }
  keys.push_back(user + "@*");
  keys.push_back("*");
  return keys;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;  // position of the last '*' seen
  std::size_t star_t = 0;                     // text position it is tried at
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_t = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;  // let the last '*' swallow one more byte
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::vector<const SigningTableEntry*> SigningTable::match(const Mailbox& from, bool all_matches) const {
  std::vector<const SigningTableEntry*> out;
  if (from.is_null() || from.domain.empty() || from.domain.front() == '[') return out;
  if (kind_ == TableKind::kRefile) {
    const std::string address = from.local + "@" + from.domain;
    for (const SigningTableEntry& e : entries_) {
      if (!glob_match(e.pattern, address)) continue;
      out.push_back(&e);
      if (!all_matches) break;
    }
    return out;
  }
  for (const std::string& key : exact_keys(from)) {
    for (const SigningTableEntry& e : entries_) {
      if (e.pattern != key) continue;
      out.push_back(&e);
      if (!all_matches) return out;
    }
  }
  return out;
}

std::vector<std::string> SigningTable::lookup(const Mailbox& from, bool all_matches) const {
  std::vector<std::string> names;
  for (const SigningTableEntry* e : match(from, all_matches)) {
    if (std::find(names.begin(), names.end(), e->key_name) == names.end()) names.push_back(e->key_name);
  }
  return names;
}

Result<SigningTable> parse_signing_table(std::string_view text, std::string_view file_name) {
  auto spec = parse_table_spec(file_name);
  if (!spec) return std::move(spec).error();
  const std::string& file = spec->path;
  auto lines = table_detail::split_table(text, file);
  if (!lines) return std::move(lines).error();

  SigningTable table;
  table.kind_ = spec->kind;
  table.file_name_ = file;
  for (const table_detail::TableLine& tl : *lines) {
    const int n = tl.line;
    const std::string_view pattern = tl.fields[0];
    if (tl.fields.size() < 2) {
      return table_error(file, n, "missing key name after pattern \"" + log_escape(pattern, 64) + "\"");
    }
    if (tl.fields.size() > 3) {
      return table_error(file, n, "unexpected text after SIGNER: \"" + log_escape(tl.fields[3], 64) + "\"");
    }
    const std::string_view key_name = tl.fields[1];
    const std::string_view signer = tl.fields.size() == 3 ? tl.fields[2] : std::string_view{};
    if (pattern.size() > kMaxMailboxInputLength) return table_error(file, n, "pattern longer than 1024 bytes");
    if (!pattern_bytes_ok(pattern)) return table_error(file, n, "control byte in pattern");
    if (spec->kind == TableKind::kRefile) {
      const std::size_t bad = pattern.find_first_of("?[](){}|^$\\");
      if (bad != std::string_view::npos) {
        return table_error(file, n, std::string("'") + pattern[bad] +
                                        "' in pattern: OpenDKIM reads it as a regular expression, Sluice "
                                        "patterns only know '*'");
      }
    } else {
      // In an exact table '*' is only the catch-all "*" or "user@*".
      const std::size_t star = pattern.find('*');
      if (star != std::string_view::npos && pattern != "*" &&
          !(star == pattern.size() - 1 && star > 0 && pattern[star - 1] == '@')) {
        return table_error(file, n, "'*' in pattern \"" + log_escape(pattern, 64) +
                                        "\" never matches in an exact (file:) table; use refile: for wildcards");
      }
    }
    if (key_name == "%") {
      return table_error(file, n, "key name \"%\" (the sender's domain) is not supported: name a key");
    }
    if (key_name.size() > kMaxKeyNameLength || !printable_ascii(key_name)) {
      return table_error(file, n, "invalid key name \"" + log_escape(key_name, 64) + "\"");
    }
    if (!signer.empty()) {
      if (signer.find('%') != std::string_view::npos) {
        return table_error(file, n, "'%' in signer (the sender's domain) is not supported");
      }
      if (signer.size() > kMaxMailboxInputLength || signer.find('@') == std::string_view::npos) {
        return table_error(file, n, "signer \"" + log_escape(signer, 64) + "\" is not [user]@domain");
      }
    }
    SigningTableEntry e;
    e.pattern = normalise_pattern(pattern);
    e.key_name = std::string(key_name);
    e.signer = std::string(signer);
    e.line = n;
    table.entries_.push_back(std::move(e));
  }
  return table;
}

Status check_signing_table(const SigningTable& signing, const KeyTable& keys) {
  for (const SigningTableEntry& e : signing.entries()) {
    if (keys.find(e.key_name) == nullptr) {
      return table_error(signing.file_name(), e.line,
                         "key \"" + log_escape(e.key_name, 64) + "\" is not in the key table " + keys.file_name());
    }
  }
  return {};
}

}  // namespace sluice::milter
