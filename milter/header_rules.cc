// Header rewrite rules; see header_rules.h for the format and guarantees.
#include "milter/header_rules.h"
#include "common/ascii.h"

#include <regex.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <unordered_map>

#include "common/log.h"

namespace sluice::milter {
namespace {

constexpr int kMaxGroups = 9;  // $1..$9

// RAII owner of a compiled POSIX regex.
class Regex {
 public:
  // Compiles |pattern| (ERE, case-insensitive). |captures|: keep group
  // offsets (rewrite); otherwise REG_NOSUB, which is faster.
  static Result<std::shared_ptr<const Regex>> compile(const std::string& pattern, bool captures) {
    auto re = std::shared_ptr<Regex>(new Regex());
    const int flags = REG_EXTENDED | REG_ICASE | (captures ? 0 : REG_NOSUB);
    const int rc = regcomp(&re->re_, pattern.c_str(), flags);
    if (rc != 0) {
      std::array<char, 160> buf{};
      regerror(rc, &re->re_, buf.data(), buf.size());
      return make_error(Errc::kConfig, buf.data());
    }
    re->compiled_ = true;
    return std::shared_ptr<const Regex>(std::move(re));
  }
  ~Regex() {
    if (compiled_) regfree(&re_);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  std::size_t groups() const { return re_.re_nsub; }

  // Searches |text| (may hold NUL: REG_STARTEND). On a match, fills |m|
  // when given (offsets relative to text).
  bool search(std::string_view text, std::array<regmatch_t, kMaxGroups + 1>* m) const {
    std::array<regmatch_t, kMaxGroups + 1> local{};
    auto& pm = m != nullptr ? *m : local;
    pm[0].rm_so = 0;
    pm[0].rm_eo = static_cast<regoff_t>(text.size());
    const char* data = text.empty() ? "" : text.data();
    return regexec(&re_, data, m != nullptr ? pm.size() : 1, pm.data(), REG_STARTEND) == 0;
  }

 private:
  Regex() = default;
  regex_t re_{};
  bool compiled_ = false;
};
using RegexPtr = std::shared_ptr<const Regex>;


constexpr bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the first blank-separated word of |s| (s is left-trimmed).
std::string_view next_word(std::string_view& s) {
  s = trim(s);
  std::size_t i = 0;
  while (i < s.size() && !is_blank(s[i])) ++i;
  const std::string_view word = s.substr(0, i);
  s = trim(s.substr(i));
  return word;
}

// A DNS name: LDH labels (same rule as key_table's is_valid_dns_name, kept
// local so this file stands alone for the fuzzer).
bool valid_domain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t len = 0;
  char prev = '.';
  for (const char c : name) {
    if (c == '.') {
      if (len == 0 || prev == '-') return false;
      len = 0;
    } else {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if ((!alnum && c != '-') || (c == '-' && len == 0) || ++len > 63) return false;
    }
    prev = c;
  }
  return len > 0 && prev != '-';
}

// Estimates the size of |ere| with counted repetitions unrolled (glibc's
// regcomp duplicates the repeated subtree), and refuses back-references.
// Returns an error reason, or "" when the regex is acceptable.
std::string check_regex_cost(std::string_view ere) {
  struct Frame {
    std::size_t total = 0;
  };
  std::vector<Frame> stack(1);
  std::size_t last_atom = 0;  // size of the atom a quantifier would repeat
  std::size_t i = 0;
  auto add_atom = [&](std::size_t size) {
    stack.back().total += size;
    last_atom = size;
  };
  while (i < ere.size()) {
    const char c = ere[i];
    if (c == '\\') {
      if (i + 1 < ere.size() && ere[i + 1] >= '1' && ere[i + 1] <= '9') {
        return "back-references (\\1..\\9) are not supported";
      }
      i += 2;
      add_atom(1);
    } else if (c == '[') {
      // Bracket expression: "[", optional "^", optional literal "]", then up
      // to the closing "]"; "[:class:]", "[.x.]", "[=x=]" nest.
      ++i;
      if (i < ere.size() && ere[i] == '^') ++i;
      if (i < ere.size() && ere[i] == ']') ++i;
      while (i < ere.size() && ere[i] != ']') {
        if (ere[i] == '[' && i + 1 < ere.size() && (ere[i + 1] == ':' || ere[i + 1] == '.' || ere[i + 1] == '=')) {
          const char kind = ere[i + 1];
          const std::size_t close = ere.find(std::string{kind, ']'}, i + 2);
          if (close == std::string_view::npos) return "";  // regcomp reports it
          i = close + 2;
        } else {
          ++i;
        }
      }
      ++i;
      add_atom(1);
    } else if (c == '(') {
      stack.push_back({});
      ++i;
      last_atom = 0;
    } else if (c == ')') {
      if (stack.size() == 1) {
        ++i;
        add_atom(1);  // an unmatched ')' is a literal in glibc ERE
        continue;
      }
      const std::size_t group = stack.back().total + 1;
      stack.pop_back();
      ++i;
      add_atom(group);
    } else if (c == '{') {
      // "{n}", "{n,}", "{n,m}": unroll cost; anything else: a literal.
      std::size_t j = i + 1;
      std::size_t lo = 0;
      std::size_t hi = 0;
      bool have_lo = false;
      bool comma = false;
      bool have_hi = false;
      while (j < ere.size() && ere[j] >= '0' && ere[j] <= '9') {
        lo = std::min<std::size_t>(lo * 10 + static_cast<std::size_t>(ere[j] - '0'), 100000);
        have_lo = true;
        ++j;
      }
      if (j < ere.size() && ere[j] == ',') {
        comma = true;
        ++j;
        while (j < ere.size() && ere[j] >= '0' && ere[j] <= '9') {
          hi = std::min<std::size_t>(hi * 10 + static_cast<std::size_t>(ere[j] - '0'), 100000);
          have_hi = true;
          ++j;
        }
      }
      if ((have_lo || have_hi) && j < ere.size() && ere[j] == '}') {
        const std::size_t bound = std::max(comma ? (have_hi ? hi : lo + 1) : lo, lo);
        if (bound > 255) return "a repetition count above 255";
        const std::size_t extra = last_atom * (bound > 0 ? bound - 1 : 0);
        stack.back().total += extra;
        last_atom += extra;
        i = j + 1;
      } else {
        ++i;
        add_atom(1);
      }
    } else if (c == '+') {
      // glibc turns "x+" into "xx*".
      stack.back().total += last_atom;
      last_atom *= 2;
      ++i;
    } else {
      ++i;
      if (c != '*' && c != '?' && c != '|' && c != '^' && c != '$') add_atom(1);
    }
    std::size_t sum = 0;
    for (const Frame& f : stack) sum += f.total;
    if (sum > kMaxRegexCost) return "too complex (counted repetitions expand beyond " + std::to_string(kMaxRegexCost) + " atoms)";
  }
  return "";
}

// Replacement text: literal pieces and group references.
struct ReplPiece {
  std::string literal;
  int group = -1;  // >= 0: $group
};

enum class RuleKind { kRemove, kAdd, kSet, kRewrite };

struct Rule {
  RuleKind kind = RuleKind::kRemove;
  std::string name;         // literal header name ("" when name_regex)
  RegexPtr name_regex;      // remove/rewrite by name regex
  RegexPtr value_regex;     // remove-by-value, rewrite
  std::string value;        // add/set
  std::vector<ReplPiece> replacement;
  std::size_t section = 0;  // index into sections
  std::string where;        // "file:line"
};

enum class SectionKind { kAll, kAccount, kDomain };
struct Section {
  SectionKind kind = SectionKind::kAll;
  std::vector<std::string> names;  // accounts as written; domains lowercased
};

bool section_applies(const Section& s, const HeaderContext& ctx) {
  switch (s.kind) {
    case SectionKind::kAll:
      return true;
    case SectionKind::kAccount:
      if (ctx.account.empty()) return false;
      return std::find(s.names.begin(), s.names.end(), ctx.account) != s.names.end();
    case SectionKind::kDomain: {
      if (ctx.sender_domain.empty()) return false;
      std::string domain = ascii_lower(ctx.sender_domain);
      if (domain.ends_with('.')) domain.pop_back();
      for (const std::string& d : s.names) {
        if (d.starts_with("*.")) {
          const std::string_view suffix = std::string_view(d).substr(1);  // ".example.com"
          if (domain.size() > suffix.size() && domain.ends_with(suffix)) return true;
        } else if (d == domain) {
          return true;
        }
      }
      return false;
    }
  }
  return false;
}

// Header value with folding removed: CR and LF dropped.
std::string unfold(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c != '\r' && c != '\n') out += c;
  }
  return out;
}

bool has_injection(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos; }

}  // namespace

bool is_valid_header_name(std::string_view name) {
  if (name.empty() || name.size() > 996) return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || u == ':') return false;
  }
  return true;
}

struct HeaderRulesImpl {
  std::vector<Section> sections;
  std::vector<Rule> rules;
};

HeaderRules::HeaderRules() : impl_(std::make_unique<HeaderRulesImpl>()) {}
HeaderRules::~HeaderRules() = default;
HeaderRules::HeaderRules(HeaderRules&&) noexcept = default;
HeaderRules& HeaderRules::operator=(HeaderRules&&) noexcept = default;
std::size_t HeaderRules::size() const { return impl_ ? impl_->rules.size() : 0; }

std::vector<HeaderChange> HeaderEdits::ordered_for_milter() const {
  // |changes| follow the message order, so for each name the indexes rise;
  // reversed, they fall for every name at once.
  return std::vector<HeaderChange>(changes.rbegin(), changes.rend());
}

namespace {

class RuleParser {
 public:
  RuleParser(std::string_view file, HeaderRulesImpl& out) : file_(file), out_(out) {}

  Status parse(std::string_view text) {
    if (text.size() > kMaxRulesFileBytes) {
      return make_error(Errc::kConfig, std::string(file_) + ":0: file is larger than " +
                                           std::to_string(kMaxRulesFileBytes) + " bytes");
    }
    out_.sections.push_back(Section{});  // the implicit [all] at the top
    std::size_t pos = 0;
    while (pos < text.size()) {
      const std::size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() : nl + 1;
      ++line_;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF line end
      if (line.size() > kMaxRuleLineLength) {
        return fail("line longer than " + std::to_string(kMaxRuleLineLength) + " bytes");
      }
      for (const char c : line) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
          std::array<char, 8> hex{};
          std::snprintf(hex.data(), hex.size(), "0x%02x", static_cast<unsigned>(u));
          return fail(std::string("control byte ") + hex.data() +
                      " in line (CR, LF and NUL could inject headers; other controls are refused too)");
        }
      }
      line = trim(line);
      if (line.empty() || line.front() == '#') continue;
      Status st = line.front() == '[' ? parse_section(line) : parse_rule(line);
      if (!st) return st;
    }
    return {};
  }

 private:
  Error fail(std::string_view reason) const {
    return make_error(Errc::kConfig, where() + ": " + std::string(reason));
  }
  std::string where() const { return std::string(file_) + ":" + std::to_string(line_); }

  Status parse_section(std::string_view line) {
    if (line.back() != ']') return fail("section line must end with ']'");
    std::string_view body = trim(line.substr(1, line.size() - 2));
    const std::string kind = ascii_lower(next_word(body));
    Section s;
    if (kind == "all") {
      if (!body.empty()) return fail("[all] takes no names");
    } else if (kind == "account" || kind == "domain") {
      s.kind = kind == "account" ? SectionKind::kAccount : SectionKind::kDomain;
      while (!body.empty()) {
        std::string_view name = next_word(body);
        if (s.kind == SectionKind::kDomain) {
          if (name.ends_with('.')) name.remove_suffix(1);
          const std::string_view base = name.starts_with("*.") ? name.substr(2) : name;
          if (!valid_domain(base)) return fail("invalid domain \"" + log_escape(name, 64) + "\"");
          s.names.push_back(ascii_lower(name));
        } else {
          if (name.size() > 255) return fail("account name longer than 255 bytes");
          s.names.emplace_back(name);
        }
      }
      if (s.names.empty()) return fail("[" + kind + "] needs at least one name");
    } else {
      return fail("unknown section \"" + log_escape(kind, 32) + "\"; expected [all], [account NAME...] or [domain DOMAIN...]");
    }
    out_.sections.push_back(std::move(s));
    return {};
  }

  // Reads "/regex/" at the start of |s| (s left-trimmed); leaves |s| after it.
  Result<std::string> take_regex(std::string_view& s) {
    if (s.empty() || s.front() != '/') return fail("expected /regex/");
    std::string re;
    std::size_t i = 1;
    bool closed = false;
    while (i < s.size()) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        if (s[i + 1] == '/') {
          re += '/';
        } else {
          re += s[i];
          re += s[i + 1];
        }
        i += 2;
      } else if (s[i] == '/') {
        closed = true;
        ++i;
        break;
      } else {
        re += s[i++];
      }
    }
    if (!closed) return fail("regex not closed with '/' (write '/' inside a regex as \\/)");
    if (re.empty()) return fail("empty regex");
    if (i < s.size() && !is_blank(s[i])) {
      return fail(std::string("unexpected '") + log_escape(s.substr(i, 1), 4) +
                  "' after the closing '/' (regex flags are not supported; matching is case-insensitive)");
    }
    s = trim(s.substr(i));
    if (re.size() > kMaxRegexLength) return fail("regex longer than " + std::to_string(kMaxRegexLength) + " bytes");
    if (std::string why = check_regex_cost(re); !why.empty()) return fail("regex refused: " + why);
    return re;
  }

  Result<RegexPtr> compile(const std::string& re, bool captures) {
    auto compiled = Regex::compile(re, captures);
    if (!compiled) return fail("bad regex: " + compiled.error().detail);
    return std::move(*compiled);
  }

  // NAME or /REGEX/ selecting headers by name.
  Status take_selector(std::string_view& rest, Rule& rule) {
    if (rest.empty()) return fail("missing header name or /regex/");
    if (rest.front() == '/') {
      auto re = take_regex(rest);
      if (!re) return std::move(re).error();
      auto compiled = compile(*re, false);
      if (!compiled) return std::move(compiled).error();
      rule.name_regex = std::move(*compiled);
      return {};
    }
    std::string_view name = next_word(rest);
    if (name.ends_with(':')) name.remove_suffix(1);
    if (!is_valid_header_name(name)) return fail("invalid header name \"" + log_escape(name, 64) + "\"");
    rule.name = std::string(name);
    return {};
  }

  Status parse_rule(std::string_view line) {
    if (out_.rules.size() >= kMaxRules) return fail("more than " + std::to_string(kMaxRules) + " rules");
    std::string_view rest = line;
    const std::string keyword = ascii_lower(next_word(rest));
    Rule rule;
    rule.section = out_.sections.size() - 1;
    rule.where = where();
    if (keyword == "remove") {
      rule.kind = RuleKind::kRemove;
      if (Status st = take_selector(rest, rule); !st) return st;
      if (!rest.empty()) {
        if (rest.front() != '/') return fail("expected /regex/ or end of line after the header name");
        auto re = take_regex(rest);
        if (!re) return std::move(re).error();
        auto compiled = compile(*re, false);
        if (!compiled) return std::move(compiled).error();
        rule.value_regex = std::move(*compiled);
        if (!rest.empty()) return fail("unexpected text after the value regex");
      }
    } else if (keyword == "add" || keyword == "set") {
      rule.kind = keyword == "add" ? RuleKind::kAdd : RuleKind::kSet;
      const std::size_t colon = rest.find(':');
      if (colon == std::string_view::npos) return fail(keyword + " needs \"NAME: VALUE\"");
      const std::string_view name = rest.substr(0, colon);
      if (!is_valid_header_name(name)) return fail("invalid header name \"" + log_escape(name, 64) + "\"");
      const std::string_view value = trim(rest.substr(colon + 1));
      if (name.size() + 2 + value.size() > 998) return fail("header longer than 998 bytes (RFC 5322 2.1.1)");
      rule.name = std::string(name);
      rule.value = std::string(value);
    } else if (keyword == "rewrite") {
      rule.kind = RuleKind::kRewrite;
      if (Status st = take_selector(rest, rule); !st) return st;
      if (rest.empty() || rest.front() != '/') return fail("rewrite needs a /regex/ after the header name");
      auto re = take_regex(rest);
      if (!re) return std::move(re).error();
      auto compiled = compile(*re, true);
      if (!compiled) return std::move(compiled).error();
      rule.value_regex = std::move(*compiled);
      if (Status st = parse_replacement(rest, rule); !st) return st;
    } else {
      return fail("unknown rule \"" + log_escape(keyword, 32) + "\"; expected remove, add, set, rewrite or a [section]");
    }
    out_.rules.push_back(std::move(rule));
    return {};
  }

  Status parse_replacement(std::string_view text, Rule& rule) {
    ReplPiece lit;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '$' && i + 1 < text.size()) {
        const char n = text[i + 1];
        if (n == '$') {
          lit.literal += '$';
          ++i;
          continue;
        }
        if (n >= '0' && n <= '9') {
          const int group = n - '0';
          if (static_cast<std::size_t>(group) > rule.value_regex->groups()) {
            return fail("replacement uses $" + std::string(1, n) + " but the regex has " +
                        std::to_string(rule.value_regex->groups()) + " group(s)");
          }
          if (!lit.literal.empty()) rule.replacement.push_back(std::move(lit));
          lit = ReplPiece{};
          rule.replacement.push_back(ReplPiece{"", group});
          ++i;
          continue;
        }
      }
      lit.literal += text[i];
    }
    if (!lit.literal.empty()) rule.replacement.push_back(std::move(lit));
    return {};
  }

  std::string_view file_;
  HeaderRulesImpl& out_;
  int line_ = 0;
};

// One header while the rules run.
struct Working {
  std::string name;
  std::string value;
  int original = -1;  // index into the input, -1 when added by a rule
  bool deleted = false;
};

bool name_matches(const Rule& rule, std::string_view name) {
  if (rule.name_regex) return rule.name_regex->search(name, nullptr);
  return ascii_iequals(rule.name, name);
}

}  // namespace

Result<HeaderRules> parse_header_rules(std::string_view text, std::string_view file_name) {
  HeaderRules rules;
  RuleParser parser(file_name, *rules.impl_);
  if (Status st = parser.parse(text); !st) return st.error();
  return rules;
}

HeaderEdits HeaderRules::apply(std::span<const HeaderField> headers, const HeaderContext& context) const {
  HeaderEdits edits;
  std::vector<Working> work;
  work.reserve(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) {
    work.push_back(Working{headers[i].name, headers[i].value, static_cast<int>(i), false});
  }
  std::vector<bool> active(impl_->sections.size());
  for (std::size_t s = 0; s < impl_->sections.size(); ++s) active[s] = section_applies(impl_->sections[s], context);

  auto warn = [&](const Rule& rule, std::string_view header, std::string_view reason) {
    edits.warnings.push_back(rule.where + ": " + log_escape(header, 64) + ": " + std::string(reason));
  };
  // The unfolded value when a regex may see it, or nullopt (with a warning).
  // Values arrive as the message has them, the space after the colon
  // included (libmilter with SMFIP_HDR_LEADSPC); regexes and replacements
  // see and write the value without that one space, as a person reads it.
  auto regex_input = [&](const Rule& rule, const Working& w) -> std::optional<std::string> {
    std::string v = unfold(w.value);
    if (!v.empty() && v.front() == ' ') v.erase(0, 1);
    if (v.size() > kMaxRegexInput) {
      warn(rule, w.name, "value longer than " + std::to_string(kMaxRegexInput) + " bytes not matched");
      return std::nullopt;
    }
    return v;
  };

  for (const Rule& rule : impl_->rules) {
    if (!active[rule.section]) continue;
    switch (rule.kind) {
      case RuleKind::kRemove:
        for (Working& w : work) {
          if (w.deleted || !name_matches(rule, w.name)) continue;
          if (rule.value_regex) {
            const auto v = regex_input(rule, w);
            if (!v || !rule.value_regex->search(*v, nullptr)) continue;
          }
          w.deleted = true;
        }
        break;
      case RuleKind::kAdd:
        work.push_back(Working{rule.name, " " + rule.value, -1, false});
        break;
      case RuleKind::kSet: {
        bool first = true;
        for (Working& w : work) {
          if (w.deleted || !ascii_iequals(w.name, rule.name)) continue;
          if (first) {
            w.value = " " + rule.value;
            first = false;
          } else {
            w.deleted = true;
          }
        }
        if (first) work.push_back(Working{rule.name, " " + rule.value, -1, false});
        break;
      }
      case RuleKind::kRewrite:
        for (Working& w : work) {
          if (w.deleted || !name_matches(rule, w.name)) continue;
          const auto v = regex_input(rule, w);
          if (!v) continue;
          std::array<regmatch_t, kMaxGroups + 1> m{};
          if (!rule.value_regex->search(*v, &m)) continue;
          std::string out = v->substr(0, static_cast<std::size_t>(m[0].rm_so));
          for (const ReplPiece& piece : rule.replacement) {
            if (piece.group < 0) {
              out += piece.literal;
            } else if (m[piece.group].rm_so >= 0) {
              const auto so = static_cast<std::size_t>(m[piece.group].rm_so);
              const auto eo = static_cast<std::size_t>(m[piece.group].rm_eo);
              out.append(*v, so, eo - so);
            }
            if (out.size() > kMaxRegexInput + v->size()) break;  // stop growing; refused below
          }
          out.append(*v, static_cast<std::size_t>(m[0].rm_eo));
          if (out == *v) continue;  // nothing changed: keep the original folding
          if (has_injection(out)) {
            warn(rule, w.name, "rewrite skipped: result would contain CR, LF or NUL");
            continue;
          }
          if (out.size() > kMaxRegexInput) {
            warn(rule, w.name, "rewrite skipped: result longer than " + std::to_string(kMaxRegexInput) + " bytes");
            continue;
          }
          w.value = " " + out;
        }
        break;
    }
  }

  // Index of each original header among those of its name, from 1.
  std::vector<int> index(headers.size(), 0);
  std::unordered_map<std::string, int> seen;
  for (std::size_t i = 0; i < headers.size(); ++i) index[i] = ++seen[ascii_lower(headers[i].name)];
  for (const Working& w : work) {
    if (w.original < 0) {
      if (!w.deleted) {
        edits.additions.push_back(HeaderField{w.name, w.value});
        edits.result.push_back(HeaderField{w.name, w.value});
      }
      continue;
    }
    const auto i = static_cast<std::size_t>(w.original);
    if (w.deleted) {
      edits.changes.push_back(HeaderChange{headers[i].name, index[i], std::nullopt});
      continue;
    }
    if (w.value != headers[i].value) edits.changes.push_back(HeaderChange{headers[i].name, index[i], w.value});
    edits.result.push_back(HeaderField{w.name, w.value});
  }
  return edits;
}

}  // namespace sluice::milter
