// [scanner NAME]: one content scanner for sluice-milter (doc/scanners.md).
#include <algorithm>
#include <charconv>
#include <string>

#include "common/config_key_helpers.h"
#include "common/listen_address.h"

namespace sluice {
namespace {

using std::chrono::milliseconds;
using namespace config_detail;

ScannerSettings& current(Config& c) { return c.scanners.back(); }

Result<double> parse_score(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // !(in range) also refuses "nan", which no score would ever reach.
  if (ec != std::errc() || end != text.data() + text.size() || !(value >= -1000 && value <= 1000)) {
    return config_error("\"" + std::string(text) + "\" is not a score between -1000 and 1000");
  }
  return value;
}

Status store_action(ScanAction& out, std::string_view value, bool verdict_is_clean) {
  if (value == "accept") out = ScanAction::kAccept;
  else if (value == "add-header") out = ScanAction::kAddHeader;
  else if (verdict_is_clean) return config_error("on_clean must be accept or add-header");
  else if (value == "quarantine") out = ScanAction::kQuarantine;
  else if (value == "tempfail") out = ScanAction::kTempfail;
  else if (value == "reject") out = ScanAction::kReject;
  else return config_error("an action is accept, add-header, quarantine, tempfail or reject");
  return {};
}

const ConfigKey kKeys[] = {
    {"scanner", "type", "spamd|rspamd|clamd", "spamd", "which daemon: SpamAssassin spamd, rspamd, ClamAV clamd",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v == "spamd") current(c).kind = ScannerKind::kSpamd;
       else if (v == "rspamd") current(c).kind = ScannerKind::kRspamd;
       else if (v == "clamd") current(c).kind = ScannerKind::kClamd;
       else return config_error("type must be spamd, rspamd or clamd");
       return {};
     }},
    {"scanner", "address", "inet:HOST:PORT | unix:PATH", "",
     "where the daemon listens (spamd 783, rspamd normal worker 11333, clamd 3310)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       auto parsed = parse_listen_address(v);
       if (!parsed) return config_error(parsed.error().detail);
       current(c).address = v;
       return {};
     }},
    {"scanner", "timeout", "duration", "10s", "connect, send and answer, counted from end of message",
     [](Config& c, std::string_view v, const ConfigContext&) {
       return store_duration(current(c).timeout, v, milliseconds{10}, milliseconds{600'000});
     }},
    {"scanner", "max_size", "bytes (K, M)", "1M", "larger messages skip this scanner (logged)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       auto size = parse_size_value(v, 1024, std::int64_t{1} << 30);
       if (!size) return size.error();
       current(c).max_size = static_cast<std::size_t>(*size);
       return {};
     }},
    {"scanner", "threshold", "score", "", "spam at or above this score (empty: the scanner's own verdict)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v.empty()) {
         current(c).threshold.reset();
         return {};
       }
       auto score = parse_score(v);
       if (!score) return score.error();
       current(c).threshold = *score;
       return {};
     }},
    {"scanner", "account_thresholds", "LOGIN=SCORE list", "", "per SASL login thresholds, e.g. alice=8, bulk@example.com=3",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       std::vector<AccountThreshold> entries;
       for (std::string_view item : split_list(v)) {
         if (item.empty()) continue;
         const auto eq = item.rfind('=');
         if (eq == std::string_view::npos || eq == 0) return config_error("\"" + std::string(item) + "\" is not LOGIN=SCORE");
         std::string_view score_text = item.substr(eq + 1);
         while (!score_text.empty() && (score_text.front() == ' ' || score_text.front() == '\t')) score_text.remove_prefix(1);
         auto score = parse_score(score_text);
         if (!score) return score.error();
         std::string_view login = item.substr(0, eq);
         while (!login.empty() && (login.back() == ' ' || login.back() == '\t')) login.remove_suffix(1);
         entries.push_back(AccountThreshold{std::string(login), *score});
       }
       current(c).account_thresholds = std::move(entries);
       return {};
     }},
    {"scanner", "on_clean", "accept|add-header", "accept", "a clean verdict: nothing, or the score headers",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_action(current(c).on_clean, v, true); }},
    {"scanner", "on_spam", "accept|add-header|quarantine|tempfail|reject", "reject",
     "spam (spamd, rspamd) or a virus (clamd)",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_action(current(c).on_spam, v, false); }},
    {"scanner", "on_failure", "accept|add-header|quarantine|tempfail|reject", "accept",
     "the scanner is unreachable, too slow or answers nonsense",
     [](Config& c, std::string_view v, const ConfigContext&) { return store_action(current(c).on_failure, v, false); }},
    {"scanner", "reject_text", "text", "", "text of the 5.7.1 rejection (empty: a built-in text naming the verdict)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (v.size() > 200 || std::any_of(v.begin(), v.end(), [](char ch) {
             return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
           })) {
         return config_error("reject_text must be at most 200 printable characters");
       }
       current(c).reject_text = v;
       return {};
     }},
    {"scanner", "header_prefix", "header name", "", "added headers are PREFIX-Status, PREFIX-Score, PREFIX-Symbols "
     "(empty: X-Spam, or X-Virus for clamd)",
     [](Config& c, std::string_view v, const ConfigContext&) -> Status {
       if (!v.empty() && (!is_header_name(v) || v.size() > 40)) return config_error("header_prefix must be a header name");
       current(c).header_prefix = v;
       return {};
     }},
};

const ConfigSection kSections[] = {
    {"scanner", true, "one content scanner for sluice-milter: [scanner NAME]",
     [](Config& c, std::string_view name) -> Status {
       if (!is_section_name(name)) return config_error("a scanner name is 1 to 64 of letters, digits and . _ -");
       if (c.scanners.size() >= 8) return config_error("at most 8 scanners");
       ScannerSettings scanner;
       scanner.name = name;
       c.scanners.push_back(std::move(scanner));
       return {};
     }},
};

std::optional<CrossKeyProblem> check_scanners(const Config& config) {
  for (const ScannerSettings& scanner : config.scanners) {
    if (scanner.address.empty()) {
      return CrossKeyProblem{"scanner " + scanner.name, "", "scanner \"" + scanner.name + "\" has no address"};
    }
    if (scanner.kind == ScannerKind::kClamd && (scanner.threshold || !scanner.account_thresholds.empty())) {
      return CrossKeyProblem{"scanner " + scanner.name, "threshold", "clamd gives no score: threshold does not apply"};
    }
  }
  return std::nullopt;
}

}  // namespace

ConfigPart scanner_config_part() { return ConfigPart{kSections, kKeys, check_scanners}; }

}  // namespace sluice
