// DKIM key table: maps a key name to the signing domain (d=), the selector
// (s=) and the private key file, in OpenDKIM's KeyTable format so that an
// operator can point sluice-milter at an existing /etc/opendkim/KeyTable.
//
//   # KEYNAME                    DOMAIN:SELECTOR:KEYPATH
//   ed.example.com               example.com:ed2024:keys/example.com.ed25519
//   rsa.example.com              example.com:rsa2024:/etc/sluice/keys/example.com.rsa
//
// Format (OpenDKIM opendkim.conf(5) "KeyTable", file: data set):
// - A '#' starts a comment that runs to the end of the line (anywhere on the
//   line, as OpenDKIM does); blank lines are ignored; CRLF line ends are
//   accepted. Fields are separated by spaces or tabs.
// - KEYNAME is one field of printable ASCII; each name appears once.
// - DOMAIN and SELECTOR follow RFC 6376 3.1 / RFC 5321 sub-domain rules: dot-
//   separated labels of letters, digits and inner hyphens, at most 63 octets
//   each, the whole name at most 253. DOMAIN is stored lowercased (one
//   trailing dot dropped); SELECTOR as written.
// - KEYPATH is the rest of the value after the second ':'. A relative path is
//   resolved against the directory of the table file, so a table and its keys
//   can move together. The key file itself is not opened here (the DKIM signer
//   opens it with O_NOFOLLOW and checks its mode).
// Differences from OpenDKIM, each refused with a file:line error rather than
// silently reinterpreted: a DOMAIN of "%" (the sender's domain: Sluice signs
// only domains that are named, see DESIGN.md), and inline key data in place
// of KEYPATH (a key belongs in a file with a checked mode).
//
// Owns: the parsed entries. Pure: no I/O, no global state; a KeyTable is
// immutable after parsing and safe to share between threads (reload swaps a
// shared_ptr<const ...>).
// Errors: kConfig with detail "file:line: reason"; hostile bytes in the text
// are escaped in the detail (log_escape), never echoed raw.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sluice::milter {

// Caps on what a table file may hold; a bigger table is a mistake.
inline constexpr std::size_t kMaxTableBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxTableLineLength = 4096;
inline constexpr std::size_t kMaxKeyNameLength = 255;

// How a table is named in the config, as opendkim.conf does: "file:/path",
// "refile:/path" or a bare "/path" (same as file:).
enum class TableKind { kFile, kRefile };
struct TableSpec {
  TableKind kind = TableKind::kFile;
  std::string path;  // the prefix removed
};
// Splits "file:" / "refile:" off a table name. Other OpenDKIM data-set types
// ("csl:", "db:", "dsn:", "ldap:", "lua:", "memcache:", "redis:", "mdb:",
// "erlang:", "repute:", "socket:") are refused: Sluice reads plain files.
Result<TableSpec> parse_table_spec(std::string_view name);

// True when |name| is a DNS name of LDH labels (RFC 5321 4.1.2 sub-domain,
// RFC 1035 2.3.4 sizes): labels 1..63 octets, total <= 253, no trailing dot.
bool is_valid_dns_name(std::string_view name);

struct KeyTableEntry {
  std::string name;      // KEYNAME, as written
  std::string domain;    // d=, lowercased
  std::string selector;  // s=, as written
  std::string key_path;  // absolute, or relative to the process cwd when the table name was relative
  int line = 0;          // line in the table file, for messages
};

class KeyTable {
 public:
  // The entry named |name| (exact, case-sensitive as OpenDKIM's key table),
  // or nullptr.
  const KeyTableEntry* find(std::string_view name) const;
  const std::vector<KeyTableEntry>& entries() const { return entries_; }
  // The table's file name without its "file:"/"refile:" prefix.
  const std::string& file_name() const { return file_name_; }

 private:
  friend Result<KeyTable> parse_key_table(std::string_view text, std::string_view file_name);
  std::vector<KeyTableEntry> entries_;  // file order
  std::string file_name_;
};

// Parses a key table. |file_name| is the name as configured (it may carry a
// "file:" or "refile:" prefix; with "refile:" a KEYNAME may not contain '*',
// since key names are looked up exactly) and is used for relative KEYPATHs
// and in error details.
Result<KeyTable> parse_key_table(std::string_view text, std::string_view file_name);

namespace table_detail {
// One significant line of an OpenDKIM-style table: comment cut, split into
// whitespace-separated fields. Shared by the key and signing table parsers.
struct TableLine {
  int line = 0;
  std::vector<std::string_view> fields;
};
// Splits |text| into significant lines; errors carry "file:line: reason".
Result<std::vector<TableLine>> split_table(std::string_view text, std::string_view file_name);
// "file:line: reason" as a kConfig error.
Error table_error(std::string_view file_name, int line, std::string_view reason);
}  // namespace table_detail

}  // namespace sluice::milter
