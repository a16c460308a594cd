// The table of every sluice.conf key: section, name, type, default, one line
// of help, and the function that checks a value and stores it in a Config.
// Adding a key means adding one row here (and a line in doc/sluice.conf.5).
#pragma once

#include <optional>
#include <vector>
#include <span>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/result.h"

namespace sluice {

// What a key's apply function may need besides the value.
struct ConfigContext {
  std::string_view base_dir;  // directory of the config file, for relative paths
};

struct ConfigKey {
  std::string_view section;
  std::string_view name;
  std::string_view type;           // for docs and messages: "duration", "yes|no"
  std::string_view default_value;  // as it would be written in the file
  std::string_view help;
  // Checks |value| and stores it; the error detail is the reason only.
  Status (*apply)(Config& config, std::string_view value, const ConfigContext& context);
  // A key of the same section that must not be set together with this one.
  std::string_view excludes = {};
};

// A section kind. A named one ("[quota NAME]") may appear once per name;
// |open| is called at its header, before its keys, and appends what the keys
// then fill in.
struct ConfigSection {
  std::string_view name;
  bool named;
  std::string_view help;
  Status (*open)(Config& config, std::string_view instance);
};

// One part of the tables: the core ([redis], [log], [policyd], [milter],
// [quota]) and one per feature area, each in its own config_keys_*.cc, so
// that a feature's keys live next to each other. config_keys() is all parts.
struct CrossKeyProblem;
struct ConfigPart {
  std::span<const ConfigSection> sections;
  std::span<const ConfigKey> keys;
  std::optional<CrossKeyProblem> (*cross_check)(const Config&) = nullptr;
};
ConfigPart core_config_part();
ConfigPart scanner_config_part();   // config_keys_scan.cc: [scanner NAME]
ConfigPart dns_config_part();       // config_keys_dns.cc: [dns]
ConfigPart feedback_config_part();  // config_keys_feedback.cc: [bounce], [reputation], [unsubscribe]

std::span<const ConfigKey> config_keys();
std::span<const ConfigSection> config_sections();
const ConfigKey* find_config_key(std::string_view section, std::string_view name);
const ConfigSection* find_config_section(std::string_view section);

// A rule that needs several keys at once, found after the whole file is
// read; |key| is the one to blame in the message.
struct CrossKeyProblem {
  std::string section;  // "redis", or "quota NAME" for a named section
  std::string_view key;  // empty: blame the section header
  std::string reason;
};
std::optional<CrossKeyProblem> find_cross_key_problem(const Config& config);

}  // namespace sluice
