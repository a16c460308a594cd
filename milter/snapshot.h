// Everything sluice-milter derives from one configuration: the key and
// signing tables, the private keys (parsed once here, never per message),
// the header rules. Immutable once built; a reload builds a new one and new
// connections take it, while connections in progress finish with theirs.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/redis_pool.h"
#include "common/result.h"
#include "milter/dkim_key.h"
#include "milter/header_rules.h"
#include "milter/key_table.h"
#include "milter/signing_table.h"

namespace sluice::milter {

struct LoadedKey {
  const KeyTableEntry* entry = nullptr;  // points into MilterSnapshot::keys
  DkimKeyPtr key;                        // null when it could not be loaded
  std::string problem;                   // why not, for the per-message log
};

struct MilterSnapshot {
  ConfigPtr config;
  KeyTable keys;
  SigningTable signing;
  bool has_tables = false;  // key_table and signing_table both configured
  std::map<std::string, LoadedKey, std::less<>> loaded;  // by key name
  std::optional<HeaderRules> rules;
  // Headers signed when present: [milter] signed_headers plus the headers
  // the scanners may add (their verdict must be covered by the signature).
  std::vector<std::string> signed_headers;
  // Lowercase names of the scanners' headers: removed from incoming mail.
  std::vector<std::string> scan_header_names;
  // Message records, counters, From ownership. Connects on first use.
  std::shared_ptr<RedisPool> redis;
  // Authentication-Results authserv-id: [milter] authserv_id or the host name.
  std::string authserv_id;
};
using SnapshotPtr = std::shared_ptr<const MilterSnapshot>;

// Reads the tables, keys and rules named by |config|. Errors that make the
// configuration unusable (a table that does not parse, a key readable by
// others, a key under min_rsa_bits) are returned as file:line: reason; a key
// file that is merely missing is recorded in LoadedKey::problem and handled
// per message by on_missing_key.
Result<SnapshotPtr> load_snapshot(ConfigPtr config);

// Fills signed_headers and scan_header_names from snapshot.config (part of
// load_snapshot; public for tests that build a snapshot by hand).
void derive_header_lists(MilterSnapshot& snapshot);

}  // namespace sluice::milter
