// DKIM signing table: chooses which keys (names in the KeyTable) sign a
// message, from the address in its From header, in OpenDKIM's SigningTable
// format so that an operator can reuse an existing /etc/opendkim/SigningTable.
//
//   # PATTERN                 KEYNAME             [SIGNER]
//   *@example.com             ed.example.com
//   *@example.com             rsa.example.com
//   *@*.example.org           org.example.org     @example.org
//
// Format (opendkim.conf(5) "SigningTable"): '#' starts a comment anywhere on
// a line; blank lines are ignored; fields are separated by spaces or tabs;
// each line is PATTERN KEYNAME with an optional third field SIGNER (the i=
// identity OpenDKIM would use; kept for the signer, not interpreted here).
// How PATTERN is read depends on how the table is named (see TableSpec):
//
// "file:/path" or "/path" (exact). The sender user@host is looked up as these
// keys, in this order (OpenDKIM's dkimf_apply_signtable):
//   1. "user@host"                       full address
//   2. "host"                            domain
//   3. for each parent of host, nearest first:
//        "user@.parent", then ".parent"  e.g. "user@.example.com", ".example.com", "user@.com", ".com"
//   4. "user@*"
//   5. "*"
// Parents are always tried: OpenDKIM's SubDomains setting does not affect
// this lookup (it only applies to the Domain list). Several lines may carry
// the same PATTERN (e.g. one Ed25519 and one RSA key): all of them match.
//
// "refile:/path" (glob). PATTERN is matched against the whole "user@host";
// '*' matches any run of bytes (also none, also '@' and '.'); every other
// byte matches itself. Lines are tried in file order. OpenDKIM turns the
// pattern into a POSIX regex and so gives '?', '[', '(', '|', '{', '^', '$'
// and '\' regex meaning; Sluice refuses patterns holding them (file:line
// error) rather than read them differently.
//
// Case: domains compare case-insensitively (the sender's domain is
// lowercase, see common/address.h, and the part of a PATTERN after its last
// '@', or a whole PATTERN without '@', is lowercased at load); local parts
// compare exactly as written ("Alice@" does not match "alice@"). OpenDKIM
// compares whole keys case-insensitively; write both spellings, or a '*',
// where that matters.
//
// Lookup: the key names of the first matching line, or with all_matches
// (dual signing, OpenDKIM's MultipleSignatures) of every matching line, in
// lookup order (exact) or file order (glob), each key name once.
// The null sender and address literals ("user@[192.0.2.1]") match nothing.
// Not supported, refused with a file:line error: a KEYNAME of "%" (OpenDKIM:
// "the sender's domain"; Sluice signs only named domains) and '%' in SIGNER.
//
// Owns: the parsed entries. Pure: no I/O; immutable after parsing, safe to
// share between threads. Errors: kConfig "file:line: reason".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/result.h"
#include "milter/key_table.h"

namespace sluice::milter {

struct SigningTableEntry {
  std::string pattern;   // as compared: domain part lowercased
  std::string key_name;  // a KeyTable name
  std::string signer;    // optional i= identity, "" when absent
  int line = 0;
};

class SigningTable {
 public:
  // Key names for |from| (see the header comment for order and matching).
  std::vector<std::string> lookup(const Mailbox& from, bool all_matches) const;
  // The matching entries themselves (same order and rules as lookup(), but
  // one per matching line: a key name may repeat with different signers).
  std::vector<const SigningTableEntry*> match(const Mailbox& from, bool all_matches) const;

  TableKind kind() const { return kind_; }
  const std::vector<SigningTableEntry>& entries() const { return entries_; }
  const std::string& file_name() const { return file_name_; }

 private:
  friend Result<SigningTable> parse_signing_table(std::string_view text, std::string_view file_name);
  TableKind kind_ = TableKind::kFile;
  std::vector<SigningTableEntry> entries_;  // file order
  std::string file_name_;
};

// Parses a signing table named |file_name| ("file:", "refile:" or a bare
// path decides the matching, see above).
Result<SigningTable> parse_signing_table(std::string_view text, std::string_view file_name);

// Checks that every KEYNAME of |signing| exists in |keys|; the first missing
// one gives "signing-file:line: key "NAME" is not in the key table KEYFILE".
Status check_signing_table(const SigningTable& signing, const KeyTable& keys);

// '*' glob match of |text| against |pattern| (bytes, case-sensitive), in
// O(|pattern| * |text|) worst case with no recursion. Exposed for tests.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace sluice::milter
