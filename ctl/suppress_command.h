// sluicectl suppress: add, remove, show, list, export and import entries of
// the suppression lists (common/suppression_store.h) from the command line.
//
// Argument parsing, scope syntax, times and the CSV row checks are pure
// functions declared here, so they are tested without Redis; run_suppress()
// applies them through a SuppressionStore. Import validates every row first
// and writes nothing if any row is bad.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "common/suppression_store.h"
#include "ctl/command.h"

namespace sluice::ctl {

enum class SuppressAction { kHelp, kAdd, kRemove, kShow, kList, kExport, kImport };

// One suppression list: "global", "sasl_username=NAME", "sender_domain=DOMAIN".
struct SuppressScopeArg {
  SuppressionScope scope = SuppressionScope::kGlobal;
  std::string value;  // normalised; empty for global
  friend bool operator==(const SuppressScopeArg&, const SuppressScopeArg&) = default;
};

struct SuppressArgs {
  SuppressAction action = SuppressAction::kHelp;
  std::string address;                    // add, remove, show
  std::string file;                       // import: a path or "-" for stdin
  std::optional<SuppressScopeArg> scope;  // --scope; nullopt: global (import: per row, else global)
  std::string reason = "manual";          // add --reason
  std::optional<std::chrono::milliseconds> expires;  // add --expires, relative to now
  std::string note;                       // add --note
  std::string tracking_id;                // add --tracking-id
  std::size_t limit = 100;                // list --limit
  bool dry_run = false;                   // import --dry-run
};

inline constexpr std::size_t kMaxSuppressListLimit = 1'000'000;
// Longest --expires: ten years.
inline constexpr std::chrono::milliseconds kMaxSuppressExpiry{3650LL * 86400 * 1000};

// The export and import columns, in export order.
inline constexpr std::string_view kSuppressCsvColumns[] = {"address", "scope",       "reason", "since",
                                                           "expires", "tracking_id", "note"};

// Parses the arguments after "suppress". Errors are usage errors (the detail
// is the one-line reason).
Result<SuppressArgs> parse_suppress_args(const std::vector<std::string>& args);

// "global", "sasl_username=alice", "sender_domain=Example.COM" (normalised).
Result<SuppressScopeArg> parse_suppress_scope(std::string_view text);
// The inverse: "global", "sasl_username=alice".
std::string format_suppress_scope(SuppressionScope scope, std::string_view value);

// Unix ms as ISO 8601 UTC: "2026-11-27T10:00:00Z", with ".123" before the Z
// when the milliseconds are not zero.
std::string format_iso8601_utc(std::int64_t unix_ms);
// Reads "YYYY-MM-DDTHH:MM:SS[.fff]Z" (also with a space for T, "+00:00" for
// Z, or a bare date: midnight UTC) into Unix ms.
Result<std::int64_t> parse_iso8601_utc(std::string_view text);

// One import row, validated and normalised as SuppressionStore::add()
// would. since_ms 0: now; expires_ms 0: never.
struct SuppressImportRow {
  SuppressionEntry entry;
  std::size_t line = 0;
};

// Maps the header row to column indexes; every name must be one of
// kSuppressCsvColumns, once, and "address" must be there.
// The result has one index per kSuppressCsvColumns entry (or -1 if absent).
Result<std::vector<int>> parse_suppress_csv_header(const std::vector<std::string>& header);
// Checks one data row against the header; `default_scope` is used when the
// row has no scope. The error detail is the reason only.
Result<SuppressionEntry> parse_suppress_csv_row(const std::vector<int>& columns,
                                                const std::vector<std::string>& fields,
                                                const SuppressScopeArg& default_scope);
// An entry as an export row (kSuppressCsvColumns order).
std::vector<std::string> suppress_csv_row(const SuppressionEntry& entry);

int run_suppress(const CommandContext& context);

}  // namespace sluice::ctl
