#include "ctl/dns_check.h"

#include <algorithm>
#include <cstdio>

#include "common/ascii.h"
#include "common/log.h"

namespace sluice::ctl {
namespace {

constexpr std::string_view kSpf = "spf";
constexpr std::string_view kDkim = "dkim";
constexpr std::string_view kDmarc = "dmarc";

// How much of a record from DNS a report line quotes.
constexpr std::size_t kQuoteBytes = 120;

bool is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_wsp(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_wsp(text.back())) text.remove_suffix(1);
  return text;
}

std::string without_space(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (!is_wsp(c)) out.push_back(c);
  }
  return out;
}

std::string quoted(std::string_view untrusted) { return "\"" + log_escape(untrusted, kQuoteBytes) + "\""; }

class Report {
 public:
  explicit Report(DnsCheckReport& out) : out_(out) {}
  void add(CheckStatus status, std::string_view area, std::string text) {
    out_.lines.push_back(CheckLine{status, std::string(area), std::move(text)});
  }
  void publish(std::string_view owner, std::string_view text) {
    out_.records_to_publish.push_back(zone_txt_record(owner, text));
  }

 private:
  DnsCheckReport& out_;
};

// --- SPF -------------------------------------------------------------------

bool causes_lookup(const SpfTerm& term) {
  if (term.modifier) return term.name == "redirect";
  return term.name == "include" || term.name == "a" || term.name == "mx" || term.name == "ptr" ||
         term.name == "exists";
}

// The domain an include: or redirect= names, as a cache key and a query name.
std::string spf_target(const SpfTerm& term) {
  std::string target = ascii_lower(term.value);
  if (!target.empty() && target.back() == '.') target.pop_back();
  return target;
}

// Walks a record and the records it includes or redirects to, counting the
// terms that cost a DNS query (RFC 7208 4.6.4). Stops querying as soon as
// the count is over the limit, so a hostile record costs at most ~11 lookups.
class SpfWalk {
 public:
  SpfWalk(DnsResolver& dns, Report& report, const std::string& root) : dns_(dns), report_(report), path_{root} {}

  void walk(const std::string& domain, std::string_view record, bool top_level) {
    const std::vector<SpfTerm> terms = split_spf_terms(record);
    const bool has_all = std::any_of(terms.begin(), terms.end(),
                                     [](const SpfTerm& t) { return !t.modifier && t.name == "all"; });
    // Every term is still looked at for the flags below; follow() stops
    // querying once the verdict is known.
    for (const SpfTerm& term : terms) {
      const std::string where = path_.size() <= 1 ? "" : " in " + domain;  // path_ holds the domain walked
      if (!term.modifier && term.name == "all") {
        // An included +all makes the include match for everyone; ?all only
        // matters where it decides the result (the record or its redirect).
        if (term.qualifier == '+') {
          report_.add(CheckStatus::kFail, kSpf,
                      "+all" + where + " lets any host on the Internet pass SPF for the domain; end with -all or ~all");
        } else if (term.qualifier == '?' && top_level) {
          report_.add(CheckStatus::kWarn, kSpf,
                      "?all" + where + " is neutral about every other host: receivers learn nothing; use ~all or -all");
        }
      }
      if (!term.modifier && term.name == "ptr") {
        report_.add(CheckStatus::kWarn, kSpf,
                    "ptr" + where + " is deprecated (RFC 7208 5.5): slow, and many receivers skip it; use ip4:/ip6:");
      }
      if (term.modifier && term.name == "redirect" && has_all) continue;  // RFC 7208 6.1: ignored
      if (!causes_lookup(term)) continue;
      ++lookups_;
      if (term.name == "include") follow("include:" + term.value, spf_target(term), false);
      if (term.name == "redirect") follow("redirect=" + term.value, spf_target(term), top_level);
    }
  }

  int lookups() const { return lookups_; }
  bool dns_failed() const { return dns_failed_; }

 private:
  void follow(const std::string& via, const std::string& target, bool top_level) {
    if (lookups_ > kMaxSpfLookups || dns_failed_) return;
    if (target.find('%') != std::string::npos) {
      report_.add(CheckStatus::kNote, kSpf,
                  log_escape(via, 80) + " uses macros: not followed, its DNS lookups are not counted");
      return;
    }
    if (!is_queryable_dns_name(target)) {
      report_.add(CheckStatus::kFail, kSpf,
                  log_escape(via, 80) + " does not name a domain: receivers return permerror");
      return;
    }
    if (std::find(path_.begin(), path_.end(), target) != path_.end()) {
      report_.add(CheckStatus::kFail, kSpf,
                  log_escape(via, 80) + " loops back to " + target + ": receivers return permerror");
      return;
    }
    auto txt = dns_.txt(target);
    if (!txt) {
      report_.add(CheckStatus::kDnsError, kSpf,
                  "cannot look up " + target + " TXT (for " + log_escape(via, 80) + "): " + txt.error().detail);
      dns_failed_ = true;
      return;
    }
    std::vector<std::string> records;
    for (const std::string& text : *txt) {
      if (is_spf_record(text)) records.push_back(text);
    }
    if (records.size() != 1) {
      // RFC 7208 5.2 (include), 6.1 (redirect): no record or several is permerror.
      report_.add(CheckStatus::kFail, kSpf,
                  log_escape(via, 80) + ": " + target +
                      (records.empty() ? " has no SPF record" : " has several SPF records") +
                      ": receivers return permerror");
      return;
    }
    path_.push_back(target);
    walk(target, records.front(), top_level);
    path_.pop_back();
  }

  DnsResolver& dns_;
  Report& report_;
  int lookups_ = 0;
  bool dns_failed_ = false;
  std::vector<std::string> path_;  // domains being walked, to find loops
};

std::string relay_terms(const std::vector<std::string>& ips) {
  std::string terms;
  for (const std::string& ip : ips) {
    terms += (ip.find(':') == std::string::npos ? " ip4:" : " ip6:") + ip;
  }
  return terms;
}

// The existing record with the missing ip4:/ip6: terms right after
// "v=spf1": they are evaluated first, before any term that costs a lookup.
std::string spf_with_relays(std::string_view record, const std::vector<std::string>& ips) {
  std::string_view rest = trim(record).substr(6);
  return "v=spf1" + relay_terms(ips) + (trim(rest).empty() ? "" : " " + std::string(trim(rest)));
}

void check_spf(const DnsCheckInput& in, DnsResolver& dns, SpfChecker& spf, Report& report) {
  auto txt = dns.txt(in.domain);
  if (!txt) {
    report.add(CheckStatus::kDnsError, kSpf, "cannot look up " + in.domain + " TXT: " + txt.error().detail);
    return;
  }
  std::vector<std::string> records;
  for (const std::string& text : *txt) {
    if (is_spf_record(text)) records.push_back(text);
  }
  if (records.empty()) {
    report.add(CheckStatus::kFail, kSpf, "no SPF record (v=spf1) at " + in.domain);
    if (!in.relay_ips.empty()) report.publish(in.domain, "v=spf1" + relay_terms(in.relay_ips) + " ~all");
    return;
  }
  if (records.size() > 1) {
    report.add(CheckStatus::kFail, kSpf,
               in.domain + " has " + std::to_string(records.size()) +
                   " SPF records: receivers return permerror (RFC 7208 4.5); merge them into one");
  } else {
    report.add(CheckStatus::kOk, kSpf, "one SPF record at " + in.domain + ": " + quoted(records.front()));
    SpfWalk walk(dns, report, in.domain);
    walk.walk(in.domain, records.front(), true);
    if (walk.lookups() > kMaxSpfLookups) {
      report.add(CheckStatus::kFail, kSpf,
                 "more than 10 DNS-querying terms (include, a, mx, ptr, exists, redirect), counting included records: "
                 "receivers return permerror (RFC 7208 4.6.4); replace includes by ip4:/ip6: terms");
    } else if (!walk.dns_failed()) {
      report.add(CheckStatus::kOk, kSpf,
                 std::to_string(walk.lookups()) +
                     " of 10 DNS-querying terms, counting included records (RFC 7208 4.6.4)");
    }
  }

  if (in.relay_ips.empty()) {
    report.add(CheckStatus::kWarn, kSpf, "no relay address to check: give --relay-ip or set [dns] relay_addresses");
    return;
  }
  std::vector<std::string> uncovered;
  bool dns_failed = false;
  for (const std::string& ip : in.relay_ips) {
    const SpfOutcome outcome = spf.check(ip, in.domain, "postmaster@" + in.domain);
    const std::string result(spf_result_name(outcome.result));
    const std::string why = outcome.explanation.empty() ? "" : " (" + outcome.explanation + ")";
    if (outcome.result == SpfResult::kPass) {
      report.add(CheckStatus::kOk, kSpf, "relay " + ip + " is covered: result pass");
    } else if (outcome.result == SpfResult::kTempError) {
      report.add(CheckStatus::kDnsError, kSpf, "relay " + ip + ": result temperror" + why);
      dns_failed = true;
    } else {
      report.add(CheckStatus::kFail, kSpf, "relay " + ip + " is not covered: result " + result + why);
      uncovered.push_back(ip);
    }
  }
  if (!uncovered.empty() && records.size() == 1 && !dns_failed) {
    report.publish(in.domain, spf_with_relays(records.front(), uncovered));
  }
}

// --- DKIM ------------------------------------------------------------------

const std::string* find_tag(const std::vector<std::pair<std::string, std::string>>& tags, std::string_view name) {
  for (const auto& [tag, value] : tags) {
    if (tag == name) return &value;
  }
  return nullptr;
}

// Colon-separated list values (h=, t=, RFC 6376 3.6.1), trimmed, lowercased.
std::vector<std::string> colon_list(std::string_view value) {
  std::vector<std::string> items;
  while (true) {
    const auto colon = value.find(':');
    items.push_back(ascii_lower(trim(value.substr(0, colon))));
    if (colon == std::string_view::npos) break;
    value.remove_prefix(colon + 1);
  }
  return items;
}

bool contains(const std::vector<std::string>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// The verdict on one key record; empty when it is right. |note| gets
// advice that is not a problem.
std::string dkim_record_problem(const DkimKeyExpectation& key, std::string_view text, std::string& note,
                                std::string& key_type) {
  auto tags = parse_tag_list(text);
  if (!tags) return "unparsable key record: " + tags.error().detail;
  if (const std::string* v = find_tag(*tags, "v"); v != nullptr && (*v != "DKIM1" || tags->front().first != "v")) {
    return "unparsable key record: v= must come first and be DKIM1 (RFC 6376 3.6.1)";
  }
  const std::string* p = find_tag(*tags, "p");
  if (p == nullptr) return "unparsable key record: no p= tag";
  const std::string* k = find_tag(*tags, "k");
  key_type = k != nullptr ? ascii_lower(*k) : "rsa";  // RFC 6376 3.6.1: k= defaults to rsa
  const std::string published = without_space(*p);
  if (published.empty()) return "key revoked (empty p=, RFC 6376 3.6.1)";
  if (const std::string* t = find_tag(*tags, "t"); t != nullptr && contains(colon_list(*t), "y")) {
    note = "t=y: testing mode, verifiers may treat failures as no signature";
  }
  if (key.key_type.empty()) return "";  // nothing of ours to compare with
  if (key_type != key.key_type) {
    return "k=" + log_escape(key_type, 20) + " but our key " + key.key_file + " is " + key.key_type;
  }
  if (const std::string* h = find_tag(*tags, "h"); h != nullptr && !contains(colon_list(*h), "sha256")) {
    return "h=" + log_escape(*h, 40) + " excludes sha256, the only hash Sluice signs with";
  }
  if (published != key.public_key) {
    return "p= is not the public key of " + key.key_file + " (the published key differs)";
  }
  return "";
}

void check_dkim_key(const DnsCheckInput& in, const DkimKeyExpectation& key, DnsResolver& dns, Report& report) {
  const std::string name = key.selector + "._domainkey." + in.domain;
  if (!key.load_error.empty()) {
    report.add(CheckStatus::kFail, kDkim, name + ": cannot load our key: " + key.load_error);
    return;
  }
  auto txt = dns.txt(name);
  if (!txt) {
    report.add(CheckStatus::kDnsError, kDkim, "cannot look up " + name + " TXT: " + txt.error().detail);
    return;
  }
  std::string problem;
  std::string note;
  std::string key_type;
  if (txt->empty()) {
    problem = "no DKIM key record";
  } else if (txt->size() > 1) {
    problem = std::to_string(txt->size()) + " TXT records: verifiers may use any of them (RFC 6376 3.6.2.2); keep one";
  } else {
    problem = dkim_record_problem(key, txt->front(), note, key_type);
  }
  if (!problem.empty()) {
    report.add(CheckStatus::kFail, kDkim, name + ": " + problem);
    if (!key.record.empty()) report.publish(name, key.record);
    return;
  }
  if (key.key_type.empty()) {
    report.add(CheckStatus::kNote, kDkim,
               name + ": key record present (k=" + log_escape(key_type, 20) +
                   "), not compared: no key for this selector in the key table");
  } else {
    report.add(CheckStatus::kOk, kDkim, name + " matches our key " + key.key_file + " (k=" + key.key_type + ")");
  }
  if (!note.empty()) report.add(CheckStatus::kWarn, kDkim, name + ": " + note);
}

void check_dkim(const DnsCheckInput& in, DnsResolver& dns, Report& report) {
  if (in.dkim.empty()) {
    report.add(CheckStatus::kWarn, kDkim,
               "no DKIM key for " + in.domain + " in the key table and no --selector: nothing to check");
    return;
  }
  for (const DkimKeyExpectation& key : in.dkim) check_dkim_key(in, key, dns, report);
}

// --- DMARC -----------------------------------------------------------------

void check_dmarc(const DnsCheckInput& in, DnsResolver& dns, Report& report) {
  const std::string name = "_dmarc." + in.domain;
  const std::string starter = "v=DMARC1; p=none; rua=mailto:dmarc-reports@" + in.domain;
  auto txt = dns.txt(name);
  if (!txt) {
    report.add(CheckStatus::kDnsError, kDmarc, "cannot look up " + name + " TXT: " + txt.error().detail);
    return;
  }
  // RFC 7489 6.6.3: only records starting with v=DMARC1 count.
  std::vector<std::string> records;
  for (const std::string& text : *txt) {
    if (without_space(text.substr(0, text.find(';'))) == "v=DMARC1") records.push_back(text);
  }
  if (records.empty()) {
    report.add(CheckStatus::kFail, kDmarc, "no DMARC record at " + name);
    report.publish(name, starter);
    return;
  }
  if (records.size() > 1) {
    report.add(CheckStatus::kFail, kDmarc,
               std::to_string(records.size()) + " DMARC records at " + name +
                   ": receivers apply none of them (RFC 7489 6.6.3); keep one");
    return;
  }
  auto tags = parse_tag_list(records.front());
  if (!tags) {
    report.add(CheckStatus::kFail, kDmarc, name + ": unparsable record: " + tags.error().detail);
    report.publish(name, starter);
    return;
  }
  const std::string* p = find_tag(*tags, "p");
  const std::string policy = p != nullptr ? ascii_lower(*p) : "";
  if (policy != "none" && policy != "quarantine" && policy != "reject") {
    report.add(CheckStatus::kFail, kDmarc,
               name + ": no valid p= (none, quarantine or reject): " + quoted(records.front()));
    return;
  }
  if (policy == "none") {
    report.add(CheckStatus::kWarn, kDmarc,
               name + ": p=none is monitoring only: receivers take no action on mail that fails; move to "
                      "quarantine or reject once the reports are clean");
  } else {
    report.add(CheckStatus::kOk, kDmarc, name + ": p=" + policy);
  }
  if (find_tag(*tags, "rua") == nullptr) {
    report.add(CheckStatus::kNote, kDmarc,
               name + ": no rua=, so no aggregate reports; add rua=mailto:dmarc-reports@" + in.domain);
  }
}

void append_escaped(std::string& out, std::string_view chunk) {
  for (char c : chunk) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20 || byte >= 0x7f) {
      char digits[5];
      std::snprintf(digits, sizeof digits, "\\%03u", static_cast<unsigned>(byte));
      out += digits;
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

bool is_spf_record(std::string_view text) {
  // RFC 7208 4.5: "v=spf1" (case-insensitive) then SP or the end.
  return text.size() >= 6 && ascii_iequals(text.substr(0, 6), "v=spf1") && (text.size() == 6 || text[6] == ' ');
}

std::vector<SpfTerm> split_spf_terms(std::string_view record) {
  std::vector<SpfTerm> terms;
  if (!is_spf_record(record)) return terms;
  record.remove_prefix(6);
  while (!record.empty()) {
    const auto start = record.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    record.remove_prefix(start);
    const auto end = record.find(' ');
    std::string_view text = record.substr(0, end);
    record.remove_prefix(end == std::string_view::npos ? record.size() : end);

    SpfTerm term;
    const auto name_end = text.find_first_of(":/=");
    if (name_end != std::string_view::npos && text[name_end] == '=') {
      term.modifier = true;
      term.name = ascii_lower(text.substr(0, name_end));
      term.value = text.substr(name_end + 1);
    } else {
      if (!text.empty() && (text[0] == '+' || text[0] == '-' || text[0] == '~' || text[0] == '?')) {
        term.qualifier = text[0];
        text.remove_prefix(1);
      }
      const auto split = text.find_first_of(":/");
      term.name = ascii_lower(text.substr(0, split));
      if (split != std::string_view::npos) term.value = text.substr(text[split] == ':' ? split + 1 : split);
    }
    terms.push_back(std::move(term));
  }
  return terms;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_tag_list(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> tags;
  while (true) {
    const auto semicolon = text.find(';');
    const std::string_view spec = trim(text.substr(0, semicolon));
    const bool last = semicolon == std::string_view::npos || trim(text.substr(semicolon + 1)).empty();
    if (spec.empty() && !(last && !tags.empty())) return make_error(Errc::kInvalidInput, "empty tag");
    if (!spec.empty()) {
      const auto eq = spec.find('=');
      if (eq == std::string_view::npos) {
        return make_error(Errc::kInvalidInput, "tag " + quoted(spec.substr(0, 20)) + " has no '='");
      }
      const std::string_view name = trim(spec.substr(0, eq));
      // RFC 6376 3.2: tag-name = ALPHA *ALNUMPUNC.
      const bool valid_name = !name.empty() && ascii_lower(name[0]) >= 'a' && ascii_lower(name[0]) <= 'z' &&
                              std::all_of(name.begin(), name.end(), [](char c) {
                                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                       c == '_';
                              });
      if (!valid_name) return make_error(Errc::kInvalidInput, "bad tag name " + quoted(name.substr(0, 20)));
      const std::string_view value = trim(spec.substr(eq + 1));
      if (std::any_of(value.begin(), value.end(), [](char c) {
            const auto byte = static_cast<unsigned char>(c);
            return (byte < 0x20 && !is_wsp(c)) || byte >= 0x7f;
          })) {
        return make_error(Errc::kInvalidInput, "tag " + std::string(name) + "= holds bytes outside ASCII");
      }
      for (const auto& [seen, unused] : tags) {
        if (seen == name) return make_error(Errc::kInvalidInput, "tag " + std::string(name) + "= appears twice");
      }
      tags.emplace_back(std::string(name), std::string(value));
    }
    if (last) break;
    text.remove_prefix(semicolon + 1);
  }
  return tags;
}

std::string zone_txt_record(std::string_view owner, std::string_view text) {
  std::string out(owner);
  if (out.empty() || out.back() != '.') out.push_back('.');
  out += " 3600 IN TXT (";
  std::size_t at = 0;
  do {
    out += "\n    \"";
    append_escaped(out, text.substr(at, 250));
    out += "\"";
    at += 250;
  } while (at < text.size());
  out += " )\n";
  return out;
}

std::string_view check_status_name(CheckStatus status) {
  switch (status) {
    case CheckStatus::kOk: return "ok";
    case CheckStatus::kNote: return "note";
    case CheckStatus::kWarn: return "warn";
    case CheckStatus::kFail: return "FAIL";
    case CheckStatus::kDnsError: return "ERR";
  }
  return "ERR";
}

int DnsCheckReport::exit_status() const {
  const auto has = [this](CheckStatus status) {
    return std::any_of(lines.begin(), lines.end(), [status](const CheckLine& line) { return line.status == status; });
  };
  // A failed lookup leaves part of the answer unknown: say "retry", not "fix".
  if (has(CheckStatus::kDnsError)) return kDnsExitDnsFailed;
  return has(CheckStatus::kFail) ? kDnsExitProblems : kDnsExitOk;
}

DnsCheckReport check_domain_dns(const DnsCheckInput& input, DnsResolver& resolver, SpfChecker& spf) {
  DnsCheckReport out;
  Report report(out);
  check_spf(input, resolver, spf, report);
  check_dkim(input, resolver, report);
  check_dmarc(input, resolver, report);
  return out;
}

std::string render_dns_report(const DnsCheckReport& report) {
  std::string out;
  for (const CheckLine& line : report.lines) {
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%-4.4s %-4.5s ", std::string(check_status_name(line.status)).c_str(),
                  line.area.c_str());
    out += prefix + line.text + "\n";
  }
  if (report.records_to_publish.empty()) {
    out += "\nRecords to publish: none\n";
  } else {
    out += "\nRecords to publish:\n";
    for (const std::string& record : report.records_to_publish) out += record;
  }
  return out;
}

}  // namespace sluice::ctl
