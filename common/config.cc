#include "common/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "common/config_keys.h"
#include "common/config_values.h"

namespace sluice {
namespace {

constexpr std::size_t kMaxLineLength = 4096;
constexpr off_t kMaxFileSize = 1 << 20;

std::string_view trim(std::string_view s) {
  const auto not_blank = s.find_first_not_of(" \t");
  if (not_blank == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(not_blank, last - not_blank + 1);
}

bool is_key_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string dir_of(std::string_view path) {
  const auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

// Collects the location of each key set, to report duplicates and to blame
// the right line when a rule spanning several keys fails.
class ParseState {
 public:
  explicit ParseState(std::string_view file_name) : file_(file_name) {}

  Error error_at(std::size_t line, std::string_view reason) const {
    return make_error(Errc::kConfig, file_ + ":" + std::to_string(line) + ": " + std::string(reason));
  }
  Error error_at_key(std::string_view section, std::string_view key, std::string_view reason) const {
    const auto it = lines_.find(std::string(section) + "." + std::string(key));
    if (it == lines_.end()) return make_error(Errc::kConfig, file_ + ": " + std::string(reason));
    return error_at(it->second, reason);
  }
  std::size_t line_of(std::string_view section, std::string_view key) const {
    const auto it = lines_.find(std::string(section) + "." + std::string(key));
    return it == lines_.end() ? 0 : it->second;
  }
  void remember(std::string_view section, std::string_view key, std::size_t line) {
    lines_[std::string(section) + "." + std::string(key)] = line;
  }

 private:
  std::string file_;
  std::map<std::string, std::size_t> lines_;
};

std::string unknown_section_reason(std::string_view section) {
  std::vector<std::string_view> sections;
  for (const ConfigSection& known : config_sections()) sections.push_back(known.name);
  std::string reason = "unknown section [" + log_escape(section, 64) + "]";
  const std::string_view hint = closest_match(section, sections);
  if (!hint.empty()) reason += " (did you mean [" + std::string(hint) + "]?)";
  return reason;
}

std::string unknown_key_reason(std::string_view section, std::string_view name) {
  std::vector<std::string_view> names;
  for (const ConfigKey& key : config_keys()) {
    if (key.section == section) names.push_back(key.name);
  }
  std::string reason = "unknown key \"" + log_escape(name, 64) + "\" in [" + std::string(section) + "]";
  const std::string_view hint = closest_match(name, names);
  if (!hint.empty()) reason += " (did you mean \"" + std::string(hint) + "\"?)";
  return reason;
}

// Applies the defaults of one section's keys. A default that does not pass
// its own check is a bug in config_keys.cc, hence the abort.
void apply_defaults(Config& config, std::string_view section) {
  for (const ConfigKey& key : config_keys()) {
    if (key.section != section || key.default_value.empty()) continue;
    if (!key.apply(config, key.default_value, ConfigContext{})) std::abort();
  }
}

}  // namespace

Config default_config() {
  Config config;
  for (const ConfigSection& section : config_sections()) {
    if (!section.named) apply_defaults(config, section.name);
  }
  return config;
}

Result<Config> parse_config(std::string_view text, std::string_view file_name) {
  Config config = default_config();
  config.path = file_name;
  const std::string base_dir = dir_of(file_name);
  const ConfigContext context{base_dir};
  ParseState state(file_name);

  std::string section;  // kind: "quota"
  std::string where;    // kind and name, as keys are remembered: "quota per-user"
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    if (line.size() > kMaxLineLength) return state.error_at(line_number, "line longer than 4096 bytes");
    if (line.find('\0') != std::string_view::npos) return state.error_at(line_number, "NUL byte in line");
    line = trim(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;

    if (line.front() == '[') {
      if (line.back() != ']') return state.error_at(line_number, "section header without closing ']'");
      const std::string_view header = trim(line.substr(1, line.size() - 2));
      const auto blank = header.find_first_of(" \t");
      section = header.substr(0, blank);
      const std::string_view name = blank == std::string_view::npos ? std::string_view{} : trim(header.substr(blank));
      const ConfigSection* kind = find_config_section(section);
      if (kind == nullptr) return state.error_at(line_number, unknown_section_reason(section));
      if (!kind->named && !name.empty()) {
        return state.error_at(line_number, "section [" + section + "] takes no name");
      }
      if (kind->named && name.empty()) {
        return state.error_at(line_number, "section [" + section + "] needs a name: [" + section + " NAME]");
      }
      where = kind->named ? section + " " + std::string(name) : section;
      if (kind->open != nullptr) {
        if (const std::size_t earlier = state.line_of(where, ""); earlier != 0) {
          return state.error_at(line_number, "[" + where + "] already defined on line " + std::to_string(earlier));
        }
        if (Status opened = kind->open(config, name); !opened) {
          return state.error_at(line_number, opened.error().detail);
        }
        apply_defaults(config, section);
      }
      state.remember(where, "", line_number);
      continue;
    }

    const auto equals = line.find('=');
    if (equals == std::string_view::npos) {
      return state.error_at(line_number, "expected \"key = value\" or \"[section]\"");
    }
    const std::string_view name = trim(line.substr(0, equals));
    std::string_view value = trim(line.substr(equals + 1));
    if (section.empty()) {
      return state.error_at(line_number, "key \"" + log_escape(name, 64) + "\" outside any [section]");
    }
    if (!is_key_name(name)) {
      return state.error_at(line_number, "invalid key name \"" + log_escape(name, 64) + "\"");
    }
    const ConfigKey* key = find_config_key(section, name);
    if (key == nullptr) return state.error_at(line_number, unknown_key_reason(section, name));
    if (const std::size_t earlier = state.line_of(where, name); earlier != 0) {
      return state.error_at(line_number, "\"" + std::string(name) + "\" already set on line " +
                                             std::to_string(earlier));
    }
    if (!key->excludes.empty()) {
      if (const std::size_t other = state.line_of(where, key->excludes); other != 0) {
        return state.error_at(line_number, "\"" + std::string(name) + "\" cannot be used together with \"" +
                                               std::string(key->excludes) + "\" (line " +
                                               std::to_string(other) + ")");
      }
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    } else if (!value.empty() && value.front() == '"') {
      return state.error_at(line_number, "unterminated quoted value");
    }
    if (Status applied = key->apply(config, value, context); !applied) {
      return state.error_at(line_number, "[" + where + "] " + std::string(name) + ": " + applied.error().detail);
    }
    state.remember(where, name, line_number);
  }

  if (auto problem = find_cross_key_problem(config)) {
    return state.error_at_key(problem->section, problem->key, problem->reason);
  }
  return config;
}

Result<Config> load_config(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::kConfig, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  std::string text;
  Error failure;
  bool failed = false;
  if (::fstat(fd, &st) != 0) {
    failure = make_error(Errc::kConfig, path + ": cannot stat: " + std::strerror(errno));
    failed = true;
  } else if (!S_ISREG(st.st_mode)) {
    failure = make_error(Errc::kConfig, path + ": not a regular file");
    failed = true;
  } else if (st.st_size > kMaxFileSize) {
    failure = make_error(Errc::kConfig, path + ": larger than 1 MiB; is this really sluice.conf?");
    failed = true;
  } else {
    text.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    text.resize(done);
  }
  ::close(fd);
  if (failed) return failure;
  return parse_config(text, path);
}

std::string default_config_path() {
  if (const char* env = std::getenv("SLUICE_CONFIG"); env != nullptr && *env != '\0') return env;
  return SLUICE_SYSCONFDIR "/sluice/sluice.conf";
}

}  // namespace sluice
