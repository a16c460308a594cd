#include "ctl/suppress_command.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <tuple>
#include <utility>

#include "common/config_values.h"
#include "common/csv.h"
#include "common/log.h"
#include "common/redis_conn.h"
#include "ctl/command_util.h"

namespace sluice::ctl {
namespace {

constexpr const char* kUsage =
    "usage: sluicectl [-c FILE] suppress ACTION [ARGS]\n"
    "  add ADDRESS [--reason hard-bounce|soft-bounce|complaint|unsubscribe|manual] [--scope SCOPE]\n"
    "      [--expires DURATION] [--note TEXT] [--tracking-id ID]\n"
    "  remove ADDRESS [--scope SCOPE]\n"
    "  show ADDRESS [--scope SCOPE]\n"
    "  list [--scope SCOPE] [--limit N]       (default 100 entries)\n"
    "  export [--scope SCOPE]                 CSV on standard output\n"
    "  import FILE.csv|- [--scope SCOPE] [--dry-run]\n"
    "SCOPE is global (the default), sasl_username=NAME or sender_domain=DOMAIN.\n"
    "DURATION is a number with unit s, m, h or d: 12h, 30d.\n"
    "CSV columns (header row required, any order): address,scope,reason,since,expires,tracking_id,note;\n"
    "times ISO 8601 UTC, empty expires = never, empty reason = manual, empty scope = --scope.\n";

constexpr std::size_t kPageSize = 1000;
constexpr std::size_t kMaxReportedRowErrors = 100;
// Column widths stop growing here in "list"; longer values still print whole.
constexpr std::size_t kMaxListColumnWidth = 40;

enum Column { kAddress, kScope, kReason, kSince, kExpires, kTrackingId, kNote, kColumnCount };

struct ActionSpec {
  std::string_view name;
  SuppressAction action;
  std::size_t operands;  // ADDRESS or FILE
  std::vector<std::string_view> options;
};

const std::vector<ActionSpec>& action_specs() {
  static const std::vector<ActionSpec> specs = {
      {"add", SuppressAction::kAdd, 1, {"reason", "scope", "expires", "note", "tracking-id"}},
      {"remove", SuppressAction::kRemove, 1, {"scope"}},
      {"show", SuppressAction::kShow, 1, {"scope"}},
      {"list", SuppressAction::kList, 0, {"scope", "limit"}},
      {"export", SuppressAction::kExport, 0, {"scope"}},
      {"import", SuppressAction::kImport, 1, {"scope", "dry-run"}},
  };
  return specs;
}

bool has_control_bytes(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7f;
  });
}

// Reads `digits` decimal digits at text[pos]; -1 if they are not all digits.
int read_number(std::string_view text, std::size_t pos, std::size_t digits) {
  if (pos + digits > text.size()) return -1;
  int value = 0;
  for (std::size_t i = pos; i < pos + digits; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// Redis's clock, Unix ms: expiries are computed from it, as the store's checks are.
Result<std::int64_t> redis_now_ms(RedisConn& conn) {
  auto reply = conn.command({"TIME"});
  if (!reply) return reply.error();
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || r.element[0]->type != REDIS_REPLY_STRING ||
      r.element[1]->type != REDIS_REPLY_STRING) {
    return make_error(Errc::kProtocol, "redis: TIME answered " + reply_describe(r));
  }
  return std::strtoll(r.element[0]->str, nullptr, 10) * 1000 + std::strtoll(r.element[1]->str, nullptr, 10) / 1000;
}

std::string scope_label(SuppressionScope scope, std::string_view value) {
  return format_suppress_scope(scope, value);
}

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

std::string expiry_text(std::int64_t expires_ms) {
  return expires_ms == 0 ? "never" : format_iso8601_utc(expires_ms);
}

// --- actions ----------------------------------------------------------------

int run_add(const SuppressArgs& args, const SuppressScopeArg& scope, RedisConn& conn, SuppressionStore& store) {
  SuppressionEntry entry;
  entry.scope = scope.scope;
  entry.scope_value = scope.value;
  entry.recipient = args.address;
  entry.reason = args.reason;
  entry.note = args.note;
  entry.tracking_id = args.tracking_id;
  if (args.expires) {
    auto now = redis_now_ms(conn);
    if (!now) return report(now.error());
    entry.expires_ms = *now + args.expires->count();
  }
  auto added = store.add(entry);
  if (!added) return report(added.error());
  std::printf("%s %s to %s (reason %s, expires %s)\n", added->created ? "added" : "updated",
              added->entry.recipient.c_str(), scope_label(scope.scope, added->entry.scope_value).c_str(),
              added->entry.reason.c_str(), expiry_text(added->entry.expires_ms).c_str());
  return kExitOk;
}

int run_remove(const SuppressArgs& args, const SuppressScopeArg& scope, SuppressionStore& store) {
  auto recipient = normalize_suppression_recipient(args.address);
  if (!recipient) return report(recipient.error());
  auto removed = store.remove(scope.scope, scope.value, *recipient);
  if (!removed) return report(removed.error());
  const std::string where = scope_label(scope.scope, scope.value);
  if (!*removed) {
    std::fprintf(stderr, "sluicectl: %s was not suppressed in %s: nothing removed\n", recipient->c_str(),
                 where.c_str());
    return kExitFailed;
  }
  std::printf("removed %s from %s\n", recipient->c_str(), where.c_str());
  return kExitOk;
}

int run_show(const SuppressArgs& args, const SuppressScopeArg& scope, SuppressionStore& store) {
  auto recipient = normalize_suppression_recipient(args.address);
  if (!recipient) return report(recipient.error());
  auto found = store.get(scope.scope, scope.value, *recipient);
  if (!found) return report(found.error());
  const std::string where = scope_label(scope.scope, scope.value);
  if (!*found) {
    std::fprintf(stderr, "sluicectl: %s is not suppressed in %s\n", recipient->c_str(), where.c_str());
    return kExitFailed;
  }
  const SuppressionEntry& e = **found;
  std::printf("address      %s\n", e.recipient.c_str());
  std::printf("scope        %s\n", where.c_str());
  std::printf("reason       %s\n", e.reason.c_str());
  std::printf("since        %s\n", format_iso8601_utc(e.since_ms).c_str());
  std::printf("expires      %s\n", expiry_text(e.expires_ms).c_str());
  std::printf("tracking_id  %s\n", or_dash(e.tracking_id).c_str());
  std::printf("note         %s\n", or_dash(log_escape(e.note, kMaxSuppressionNoteLength)).c_str());
  return kExitOk;
}

int run_list(const SuppressArgs& args, const SuppressScopeArg& scope, SuppressionStore& store) {
  std::vector<SuppressionEntry> entries;
  std::string cursor;
  while (entries.size() < args.limit) {
    auto page = store.list(scope.scope, scope.value, cursor, std::min(kPageSize, args.limit - entries.size()));
    if (!page) return report(page.error());
    for (SuppressionEntry& e : page->entries) entries.push_back(std::move(e));
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  auto total = store.count(scope.scope, scope.value);
  if (!total) return report(total.error());

  const std::string where = scope_label(scope.scope, scope.value);
  if (entries.empty()) {
    std::printf("no entries in %s\n", where.c_str());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"ADDRESS", "REASON", "SINCE", "EXPIRES", "TRACKING_ID", "NOTE"}};
  for (const SuppressionEntry& e : entries) {
    rows.push_back({e.recipient, e.reason, format_iso8601_utc(e.since_ms), expiry_text(e.expires_ms),
                    or_dash(e.tracking_id), or_dash(log_escape(e.note, kMaxSuppressionNoteLength))});
  }
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], std::min(row[i].size(), kMaxListColumnWidth));
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] > row[i].size() ? widths[i] - row[i].size() : 0, ' ') + "  ";
    }
    std::printf("%s\n", line.c_str());
  }
  std::printf("%zu of %llu entries in %s%s\n", entries.size(), static_cast<unsigned long long>(*total),
              where.c_str(), entries.size() < *total ? " (use --limit N or export for more)" : "");
  return kExitOk;
}

int run_export(const SuppressScopeArg& scope, SuppressionStore& store) {
  const std::vector<std::string> header(std::begin(kSuppressCsvColumns), std::end(kSuppressCsvColumns));
  std::string out = format_csv_record(header);
  std::string cursor;
  while (true) {
    auto page = store.list(scope.scope, scope.value, cursor, kPageSize);
    if (!page) return report(page.error());
    for (const SuppressionEntry& e : page->entries) out += format_csv_record(suppress_csv_row(e));
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) break;
    out.clear();
    if (page->next_cursor.empty()) break;
    cursor = page->next_cursor;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "sluicectl: writing the export: %s\n", std::strerror(errno));
    return kExitFailed;
  }
  return kExitOk;
}

// Reads the CSV `path` ("-": stdin), checking every row. Prints each bad
// row as "FILE:LINE: reason"; returns the entries only if none was bad.
std::optional<std::vector<SuppressImportRow>> read_import(const std::string& path, const SuppressScopeArg& scope) {
  const std::string name = path == "-" ? std::string("stdin") : path;
  std::FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    std::fprintf(stderr, "sluicectl: %s: %s\n", log_escape(name, 200).c_str(), std::strerror(errno));
    return std::nullopt;
  }
  CsvLimits limits;
  limits.max_field_bytes = 4096;
  limits.max_fields = 32;
  limits.max_record_bytes = 16384;
  CsvReader reader(limits);
  std::optional<std::vector<int>> columns;
  std::vector<SuppressImportRow> rows;
  std::map<std::tuple<SuppressionScope, std::string, std::string>, std::size_t> seen;  // -> line
  std::size_t bad = 0;
  auto bad_row = [&](std::size_t line, const std::string& reason) {
    if (++bad <= kMaxReportedRowErrors) {
      std::fprintf(stderr, "sluicectl: %s:%zu: %s\n", log_escape(name, 200).c_str(), line, reason.c_str());
    }
  };
  auto take = [&](const CsvRecord& record) {
    if (!columns) {
      std::vector<std::string> header = record.fields;
      if (!header.empty() && header[0].starts_with("\xEF\xBB\xBF")) header[0].erase(0, 3);  // a spreadsheet's BOM
      auto parsed = parse_suppress_csv_header(header);
      if (!parsed) {
        bad_row(record.line, parsed.error().detail);
        columns = std::vector<int>{};  // unusable: every data row is then skipped
        return;
      }
      columns = std::move(parsed).value();
      return;
    }
    if (columns->empty()) return;
    auto entry = parse_suppress_csv_row(*columns, record.fields, scope);
    if (!entry) {
      bad_row(record.line, entry.error().detail);
      return;
    }
    auto [it, fresh] = seen.emplace(std::make_tuple(entry->scope, entry->scope_value, entry->recipient), record.line);
    if (!fresh) {
      bad_row(record.line, entry->recipient + " in " + scope_label(entry->scope, entry->scope_value) +
                               " is already on line " + std::to_string(it->second));
      return;
    }
    rows.push_back(SuppressImportRow{std::move(entry).value(), record.line});
  };

  char chunk[65536];
  bool eof = false;
  while (!eof) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, file);
    if (n < sizeof chunk) {
      if (std::ferror(file)) {
        std::fprintf(stderr, "sluicectl: %s: %s\n", log_escape(name, 200).c_str(), std::strerror(errno));
        if (file != stdin) std::fclose(file);
        return std::nullopt;
      }
      eof = true;
    }
    reader.feed(std::string_view(chunk, n));
    if (eof) reader.finish();
    while (true) {
      auto record = reader.next();
      if (!record) {
        bad_row(reader.line(), record.error().detail);
        continue;
      }
      if (!*record) break;
      take(**record);
    }
  }
  if (file != stdin) std::fclose(file);
  if (!columns) {
    std::fprintf(stderr, "sluicectl: %s: empty file (a header row is required: %s)\n", log_escape(name, 200).c_str(),
                 "address,scope,reason,since,expires,tracking_id,note");
    return std::nullopt;
  }
  if (bad > 0) {
    if (bad > kMaxReportedRowErrors) {
      std::fprintf(stderr, "sluicectl: %s: %zu more bad rows not shown\n", log_escape(name, 200).c_str(),
                   bad - kMaxReportedRowErrors);
    }
    std::fprintf(stderr, "sluicectl: %s: %zu bad row%s: nothing imported\n", log_escape(name, 200).c_str(), bad,
                 bad == 1 ? "" : "s");
    return std::nullopt;
  }
  return rows;
}

int run_import(const SuppressArgs& args, RedisConn& conn, SuppressionStore& store) {
  const SuppressScopeArg default_scope = args.scope.value_or(SuppressScopeArg{});
  auto rows = read_import(args.file, default_scope);
  if (!rows) return kExitFailed;

  // Rows that expired already (an old export) are skipped, not errors.
  auto now = redis_now_ms(conn);
  if (!now) return report(now.error());
  std::size_t expired = 0;
  std::size_t created = 0;
  std::size_t updated = 0;
  for (const SuppressImportRow& row : *rows) {
    const SuppressionEntry& e = row.entry;
    if (e.expires_ms != 0 && e.expires_ms <= *now) {
      ++expired;
      continue;
    }
    if (args.dry_run) {
      auto found = store.get(e.scope, e.scope_value, e.recipient);
      if (!found) return report(found.error());
      ++(*found ? updated : created);
      continue;
    }
    // A row with a since keeps it (an import restores an export); without
    // one, a new entry starts now and an existing one keeps its since.
    auto added = store.add(e, e.since_ms != 0 ? SinceOnUpdate::kReplace : SinceOnUpdate::kKeep);
    if (!added) {
      if (added.error().code == Errc::kInvalidInput && e.expires_ms != 0) {  // expired since we asked
        ++expired;
        continue;
      }
      std::fprintf(stderr, "sluicectl: %s:%zu: %s (%zu of %zu rows imported before it)\n",
                   args.file == "-" ? "stdin" : log_escape(args.file, 200).c_str(), row.line,
                   added.error().message().c_str(), created + updated, rows->size());
      const Errc code = added.error().code;
      return code == Errc::kUnavailable || code == Errc::kTimeout ? kExitUnavailable : kExitFailed;
    }
    ++(added->created ? created : updated);
  }
  if (expired > 0) std::printf("skipped %zu row%s already expired\n", expired, expired == 1 ? "" : "s");
  std::printf("%s %zu (%zu new, %zu updated)%s\n", args.dry_run ? "would import" : "imported", created + updated,
              created, updated, args.dry_run ? ", dry run: nothing written" : "");
  return kExitOk;
}

}  // namespace

Result<SuppressScopeArg> parse_suppress_scope(std::string_view text) {
  const auto eq = text.find('=');
  auto scope = parse_suppression_scope(text.substr(0, eq));
  if (!scope) return scope.error();
  if (*scope == SuppressionScope::kGlobal) {
    if (eq != std::string_view::npos) return usage("scope global takes no value");
    return SuppressScopeArg{};
  }
  if (eq == std::string_view::npos) {
    return usage("scope " + std::string(suppression_scope_name(*scope)) + " needs a value: " +
                 std::string(suppression_scope_name(*scope)) +
                 (*scope == SuppressionScope::kSaslUsername ? "=NAME" : "=DOMAIN"));
  }
  auto value = normalize_suppression_scope_value(*scope, text.substr(eq + 1));
  if (!value) return value.error();
  return SuppressScopeArg{*scope, std::move(value).value()};
}

std::string format_suppress_scope(SuppressionScope scope, std::string_view value) {
  std::string out(suppression_scope_name(scope));
  if (scope != SuppressionScope::kGlobal) {
    out += '=';
    out += value;
  }
  return out;
}

std::string format_iso8601_utc(std::int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out = text;
  if (unix_ms % 1000 != 0) {
    std::snprintf(text, sizeof text, ".%03d", static_cast<int>(unix_ms % 1000));
    out += text;
  }
  out += 'Z';
  return out;
}

Result<std::int64_t> parse_iso8601_utc(std::string_view text) {
  const Error bad = make_error(Errc::kInvalidInput, "time \"" + log_escape(text, 40) +
                                                        "\" is not ISO 8601 UTC (2026-11-27T10:00:00Z)");
  const int year = read_number(text, 0, 4);
  const int month = read_number(text, 5, 2);
  const int day = read_number(text, 8, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || text[4] != '-' || text[7] != '-') return bad;
  int hour = 0, minute = 0, second = 0, millis = 0;
  std::size_t pos = 10;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return bad;
    hour = read_number(text, 11, 2);
    minute = read_number(text, 14, 2);
    second = read_number(text, 17, 2);
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || text.size() < 19 ||
        text[13] != ':' || text[16] != ':') {
      return bad;
    }
    pos = 19;
    if (pos < text.size() && text[pos] == '.') {
      std::size_t digits = 0;
      ++pos;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
        if (digits < 3) millis = millis * 10 + (text[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0 || digits > 9) return bad;
      for (std::size_t i = digits; i < 3; ++i) millis *= 10;
    }
    const std::string_view zone = text.substr(pos);
    if (!zone.empty() && zone != "Z" && zone != "z" && zone != "+00:00") return bad;
  }
  std::tm utc{};
  utc.tm_year = year - 1900;
  utc.tm_mon = month - 1;
  utc.tm_mday = day;
  utc.tm_hour = hour;
  utc.tm_min = minute;
  utc.tm_sec = second;
  const std::time_t seconds = timegm(&utc);
  if (utc.tm_mday != day || utc.tm_mon != month - 1) return bad;  // 31 April was normalised to 1 May
  return static_cast<std::int64_t>(seconds) * 1000 + millis;
}

Result<SuppressArgs> parse_suppress_args(const std::vector<std::string>& args) {
  SuppressArgs out;
  if (args.empty()) return usage("suppress: missing action (add, remove, show, list, export, import)");
  if (wants_help(args)) {
    out.action = SuppressAction::kHelp;
    return out;
  }
  const auto& specs = action_specs();
  const auto spec = std::find_if(specs.begin(), specs.end(), [&](const ActionSpec& s) { return s.name == args[0]; });
  if (spec == specs.end()) {
    return usage("suppress: unknown action \"" + log_escape(args[0], 32) +
                 "\" (want add, remove, show, list, export or import)");
  }
  out.action = spec->action;
  const std::string action_name(spec->name);

  std::vector<std::string> operands;
  bool options_done = false;
  std::vector<std::string> given;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || !arg.starts_with("--")) {
      operands.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (std::find(spec->options.begin(), spec->options.end(), name) == spec->options.end()) {
      return usage("suppress " + action_name + ": unknown option --" + log_escape(name, 32));
    }
    if (std::find(given.begin(), given.end(), name) != given.end()) {
      return usage("suppress " + action_name + ": option --" + name + " given twice");
    }
    given.push_back(name);
    if (name == "dry-run") {
      if (value) return usage("suppress " + action_name + ": --dry-run takes no value");
      out.dry_run = true;
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return usage("suppress " + action_name + ": option --" + name + " needs a value");
      value = args[++i];
    }
    if (name == "scope") {
      auto scope = parse_suppress_scope(*value);
      if (!scope) return usage("--scope: " + scope.error().detail);
      out.scope = std::move(scope).value();
    } else if (name == "reason") {
      if (!is_suppression_reason(*value)) {
        return usage("--reason: unknown reason \"" + log_escape(*value, 32) +
                     "\" (want hard-bounce, soft-bounce, complaint, unsubscribe or manual)");
      }
      out.reason = *value;
    } else if (name == "expires") {
      auto duration = parse_duration_value(*value, std::chrono::seconds{1}, kMaxSuppressExpiry);
      if (!duration) return usage("--expires: " + duration.error().detail);
      out.expires = *duration;
    } else if (name == "note") {
      out.note = *value;
    } else if (name == "tracking-id") {
      out.tracking_id = *value;
    } else if (name == "limit") {
      auto limit = parse_int_value(*value, 1, static_cast<std::int64_t>(kMaxSuppressListLimit));
      if (!limit) return usage("--limit: " + limit.error().detail);
      out.limit = static_cast<std::size_t>(*limit);
    }
  }
  if (operands.size() != spec->operands) {
    const char* what = spec->action == SuppressAction::kImport ? "FILE" : "ADDRESS";
    if (spec->operands == 0) {
      return usage("suppress " + action_name + " takes no operand, got \"" + log_escape(operands[0], 64) + "\"");
    }
    return usage("suppress " + action_name + (operands.empty() ? " needs " : " takes one ") + what);
  }
  if (spec->operands == 1) {
    (spec->action == SuppressAction::kImport ? out.file : out.address) = operands[0];
  }
  return out;
}

Result<std::vector<int>> parse_suppress_csv_header(const std::vector<std::string>& header) {
  std::vector<int> columns(kColumnCount, -1);
  for (std::size_t i = 0; i < header.size(); ++i) {
    const auto known = std::find(std::begin(kSuppressCsvColumns), std::end(kSuppressCsvColumns), header[i]);
    if (known == std::end(kSuppressCsvColumns)) {
      return make_error(Errc::kInvalidInput,
                        "unknown column \"" + log_escape(header[i], 40) +
                            "\" (a header row is required; columns: address,scope,reason,since,expires,"
                            "tracking_id,note)");
    }
    int& slot = columns[static_cast<std::size_t>(known - std::begin(kSuppressCsvColumns))];
    if (slot >= 0) return make_error(Errc::kInvalidInput, "column \"" + header[i] + "\" given twice");
    slot = static_cast<int>(i);
  }
  if (columns[kAddress] < 0) return make_error(Errc::kInvalidInput, "the header has no \"address\" column");
  return columns;
}

Result<SuppressionEntry> parse_suppress_csv_row(const std::vector<int>& columns,
                                                const std::vector<std::string>& fields,
                                                const SuppressScopeArg& default_scope) {
  const std::size_t width =
      static_cast<std::size_t>(std::count_if(columns.begin(), columns.end(), [](int c) { return c >= 0; }));
  if (fields.size() != width) {
    return make_error(Errc::kInvalidInput, std::to_string(fields.size()) + " field" +
                                               (fields.size() == 1 ? "" : "s") + ", the header has " +
                                               std::to_string(width));
  }
  auto field = [&](Column c) -> const std::string& {
    static const std::string kEmpty;
    return columns[c] < 0 ? kEmpty : fields[static_cast<std::size_t>(columns[c])];
  };
  SuppressionEntry e;
  if (field(kAddress).empty()) return make_error(Errc::kInvalidInput, "address is empty");
  auto recipient = normalize_suppression_recipient(field(kAddress));
  if (!recipient) return recipient.error();
  e.recipient = std::move(recipient).value();

  if (field(kScope).empty()) {
    e.scope = default_scope.scope;
    e.scope_value = default_scope.value;
  } else {
    auto scope = parse_suppress_scope(field(kScope));
    if (!scope) return make_error(Errc::kInvalidInput, "scope: " + scope.error().detail);
    e.scope = scope->scope;
    e.scope_value = std::move(scope->value);
  }

  e.reason = field(kReason).empty() ? std::string("manual") : field(kReason);
  if (!is_suppression_reason(e.reason)) {
    return make_error(Errc::kInvalidInput, "unknown reason \"" + log_escape(e.reason, 32) +
                                               "\" (want hard-bounce, soft-bounce, complaint, unsubscribe or manual)");
  }
  if (!field(kSince).empty()) {
    auto since = parse_iso8601_utc(field(kSince));
    if (!since) return make_error(Errc::kInvalidInput, "since: " + since.error().detail);
    e.since_ms = *since;
  }
  if (!field(kExpires).empty()) {
    auto expires = parse_iso8601_utc(field(kExpires));
    if (!expires) return make_error(Errc::kInvalidInput, "expires: " + expires.error().detail);
    e.expires_ms = *expires;
  }
  // The same checks as SuppressionStore::add(), so that a bad row is found
  // before anything is written.
  e.tracking_id = field(kTrackingId);
  if (e.tracking_id.size() > kMaxSuppressionTrackingIdLength) {
    return make_error(Errc::kTooLong, "tracking_id longer than " +
                                          std::to_string(kMaxSuppressionTrackingIdLength) + " bytes");
  }
  if (has_control_bytes(e.tracking_id)) return make_error(Errc::kInvalidInput, "tracking_id contains control bytes");
  e.note = field(kNote);
  if (e.note.size() > kMaxSuppressionNoteLength) {
    return make_error(Errc::kTooLong, "note longer than " + std::to_string(kMaxSuppressionNoteLength) + " bytes");
  }
  if (e.note.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return make_error(Errc::kInvalidInput, "note contains CR, LF or NUL");
  }
  return e;
}

std::vector<std::string> suppress_csv_row(const SuppressionEntry& e) {
  return {e.recipient,
          format_suppress_scope(e.scope, e.scope_value),
          e.reason,
          e.since_ms == 0 ? std::string() : format_iso8601_utc(e.since_ms),
          e.expires_ms == 0 ? std::string() : format_iso8601_utc(e.expires_ms),
          e.tracking_id,
          e.note};
}

int run_suppress(const CommandContext& context) {
  auto args = parse_suppress_args(context.args);
  if (!args) return report_usage(args.error(), "suppress");
  if (args->action == SuppressAction::kHelp) return print_help(kUsage);
  RedisConn conn(context.config.redis.connection);
  SuppressionStore store(conn, context.config.redis.key_prefix);
  const SuppressScopeArg scope = args->scope.value_or(SuppressScopeArg{});
  switch (args->action) {
    case SuppressAction::kAdd: return run_add(*args, scope, conn, store);
    case SuppressAction::kRemove: return run_remove(*args, scope, store);
    case SuppressAction::kShow: return run_show(*args, scope, store);
    case SuppressAction::kList: return run_list(*args, scope, store);
    case SuppressAction::kExport: return run_export(scope, store);
    case SuppressAction::kImport: return run_import(*args, conn, store);
    case SuppressAction::kHelp: break;
  }
  return kExitOk;
}

}  // namespace sluice::ctl
