#include "milter/snapshot.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "common/small_file.h"
#include "milter/dkim_signer.h"
#include "milter/scan_decision.h"

namespace sluice::milter {
void derive_header_lists(MilterSnapshot& snapshot) {
  const Config& config = *snapshot.config;
  snapshot.signed_headers = config.milter.signed_headers;
  snapshot.scan_header_names.clear();
  for (const ScannerSettings& scanner : config.scanners) {
    for (std::string& name : scan_header_names(scanner)) {
      if (std::find(snapshot.scan_header_names.begin(), snapshot.scan_header_names.end(), name) ==
          snapshot.scan_header_names.end()) {
        snapshot.scan_header_names.push_back(name);
      }
      if (std::find(snapshot.signed_headers.begin(), snapshot.signed_headers.end(), name) ==
          snapshot.signed_headers.end()) {
        snapshot.signed_headers.push_back(std::move(name));
      }
    }
  }
}

Result<SnapshotPtr> load_snapshot(ConfigPtr config) {
  auto snapshot = std::make_shared<MilterSnapshot>();
  snapshot->config = config;
  const MilterSettings& settings = config->milter;

  if (settings.key_table.empty() != settings.signing_table.empty()) {
    return make_error(Errc::kConfig, config->path + ": [milter] key_table and signing_table go together");
  }
  if (!settings.key_table.empty()) {
    auto key_spec = parse_table_spec(settings.key_table);
    if (!key_spec) return key_spec.error();
    auto key_text = read_small_file(key_spec->path, kMaxTableBytes);
    if (!key_text) return key_text.error();
    auto keys = parse_key_table(*key_text, settings.key_table);
    if (!keys) return keys.error();
    snapshot->keys = std::move(keys).value();

    auto signing_spec = parse_table_spec(settings.signing_table);
    if (!signing_spec) return signing_spec.error();
    auto signing_text = read_small_file(signing_spec->path, kMaxTableBytes);
    if (!signing_text) return signing_text.error();
    auto signing = parse_signing_table(*signing_text, settings.signing_table);
    if (!signing) return signing.error();
    if (Status checked = check_signing_table(*signing, snapshot->keys); !checked) return checked.error();
    snapshot->signing = std::move(signing).value();
    snapshot->has_tables = true;

    const DkimKeyPolicy policy{settings.min_rsa_bits, 4096};
    for (const KeyTableEntry& entry : snapshot->keys.entries()) {
      LoadedKey loaded;
      loaded.entry = &entry;
      struct stat st {};
      if (::lstat(entry.key_path.c_str(), &st) != 0 && errno == ENOENT) {
        // A key that is not there (yet) must not stop the relay: messages
        // for it follow on_missing_key, and the log says why.
        loaded.problem = "key file " + entry.key_path + " does not exist";
        log_warn("key %s: %s", entry.name.c_str(), loaded.problem.c_str());
      } else if (auto key = DkimKey::load_file(entry.key_path, policy)) {
        loaded.key = *key;
      } else {
        // Unsafe permissions, a weak or broken key: refuse to start.
        return make_error(Errc::kConfig, settings.key_table + ":" + std::to_string(entry.line) + ": key " +
                                             entry.name + ": " + key.error().detail);
      }
      snapshot->loaded.emplace(entry.name, std::move(loaded));
    }
    // An identity (i=) outside its key's domain would fail every message:
    // refuse it here, where the operator sees it.
    for (const SigningTableEntry& line : snapshot->signing.entries()) {
      if (line.signer.empty()) continue;
      const LoadedKey& loaded = snapshot->loaded.find(line.key_name)->second;
      if (!loaded.key) continue;  // missing key: reported per message
      DkimSignOptions probe;
      probe.domain = loaded.entry->domain;
      probe.selector = loaded.entry->selector;
      probe.key = loaded.key;
      probe.identity = line.signer;
      if (Status valid = validate_sign_options(probe); !valid) {
        return make_error(Errc::kConfig, settings.signing_table + ":" + std::to_string(line.line) + ": " +
                                             valid.error().detail);
      }
    }
  }

  if (!settings.header_rules.empty()) {
    auto text = read_small_file(settings.header_rules, kMaxRulesFileBytes);
    if (!text) return text.error();
    auto rules = parse_header_rules(*text, settings.header_rules);
    if (!rules) return rules.error();
    snapshot->rules = std::move(rules).value();
  }
  derive_header_lists(*snapshot);
  snapshot->redis = std::make_shared<RedisPool>(config->redis.connection);
  snapshot->authserv_id = settings.authserv_id;
  if (snapshot->authserv_id.empty()) {
    char host[256] = "";
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
    snapshot->authserv_id = host;
  }
  return SnapshotPtr(std::move(snapshot));
}

}  // namespace sluice::milter
