// The sluice.conf configuration: one INI-style file shared by every program,
// with a section per component ([redis], [log], later [milter], [policyd]).
//
// A Config is an immutable snapshot once loaded: daemons hold it through a
// std::shared_ptr<const Config> and a reload swaps the pointer, so a request
// in flight keeps the snapshot it started with. Every key, its type, default
// and check live in config_keys.cc; this file only reads the syntax.
//
// Syntax: "[section]" lines, "key = value" lines, blank lines and lines whose
// first non-blank character is '#' or ';'. Values run to the end of the line
// (no trailing comments: '#' is legal in a password) and are trimmed; a value
// may be written in double quotes to keep surrounding blanks. Some sections
// are named and may appear several times: "[quota per-customer]". Unknown sections
// and keys, a key set twice, a bad value, and a missing file are errors
// reported as "file:line: reason".
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.h"
#include "common/log.h"
#include "common/quota_rule.h"
#include "common/redis_conn.h"
#include "common/result.h"

// configure passes the installation's sysconfdir; "/etc" for other builds.
#ifndef SLUICE_SYSCONFDIR
#define SLUICE_SYSCONFDIR "/etc"
#endif

namespace sluice {

struct RedisSettings {
  RedisOptions connection;
  // Every key Sluice writes starts with this prefix (doc/redis-schema.md).
  std::string key_prefix;
};

struct LogSettings {
  int facility = 0;
  LogLevel level = LogLevel::kInfo;
};

// What sluice-policyd answers when Redis cannot be asked in time.
enum class RedisErrorAction { kTempfail, kAccept };

// Which suppression lists a recipient is looked up in.
enum class SuppressionScope { kGlobal, kSaslUsername, kSenderDomain };

struct PolicydSettings {
  std::vector<std::string> listen;  // "inet:127.0.0.1:10040", "unix:/run/sluice/policyd.sock"
  unsigned unix_socket_mode = 0666;
  RedisErrorAction on_redis_error = RedisErrorAction::kTempfail;
  int max_connections = 1000;
  std::chrono::milliseconds idle_timeout{0};
  bool suppression = true;
  std::vector<SuppressionScope> suppression_scopes;
  std::string pid_file;
  std::string user;
};

enum class DkimCanonicalization { kSimple, kRelaxed };
enum class MissingKeyAction { kAccept, kTempfail };

struct MilterSettings {
  std::string socket;         // libmilter notation: "inet:8891@127.0.0.1", "unix:/path"
  std::string key_table;      // OpenDKIM-style tables; "file:" / "refile:" prefixes kept
  std::string signing_table;
  std::string header_rules;   // empty: no rules
  DkimCanonicalization header_canon = DkimCanonicalization::kRelaxed;
  DkimCanonicalization body_canon = DkimCanonicalization::kRelaxed;
  std::vector<std::string> signed_headers;
  std::vector<std::string> oversigned_headers;
  std::chrono::seconds signature_ttl{0};  // x= after this long; 0: no x=
  int min_rsa_bits = 2048;
  bool dual_sign = true;                  // every matching signing-table line
  MissingKeyAction on_missing_key = MissingKeyAction::kAccept;
  std::vector<Cidr> internal_networks;    // clients whose mail is outbound without AUTH
  bool sign_unauthenticated = false;      // also sign mail that is neither (inbound)
  std::string tracking_header;
  bool verp = false;
  std::string verp_prefix;
  std::string verp_domain;
  std::chrono::seconds mta_timeout{0};
  std::string pid_file;
  std::string user;
};

struct Config {
  std::string path;  // file it was read from; empty for built-in defaults
  RedisSettings redis;
  LogSettings log;
  PolicydSettings policyd;
  MilterSettings milter;
  std::vector<QuotaRule> quota_rules;  // [quota NAME] sections, in file order
};

using ConfigPtr = std::shared_ptr<const Config>;

// The configuration with every key at its documented default.
Config default_config();

// Parses |text| as if read from |file_name| (used in messages and to resolve
// relative paths such as password_file).
Result<Config> parse_config(std::string_view text, std::string_view file_name);

// Reads and parses |path|. Files over 1 MiB are refused: a config that large
// is a mistake (a key table given as -c, say).
Result<Config> load_config(const std::string& path);

// Where programs look without -c: $SLUICE_CONFIG, else SYSCONFDIR/sluice/sluice.conf.
std::string default_config_path();

}  // namespace sluice
