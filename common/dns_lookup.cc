#include "common/dns_lookup.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <netdb.h>
#include <resolv.h>

#include <algorithm>
#include <cerrno>

#include "common/ascii.h"
#include "common/log.h"

namespace sluice {
namespace {

// glibc also has a function named __res_state: name the struct explicitly.
using ResState = struct __res_state;

// res_nclose frees what res_ninit allocated inside the state, not the state.
struct ResStateFree {
  void operator()(ResState* state) const noexcept {
    res_nclose(state);
    std::default_delete<ResState>{}(state);
  }
};
using ResStatePtr = std::unique_ptr<ResState, ResStateFree>;

std::string without_trailing_dot(std::string_view name) {
  if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
  return std::string(name);
}

// One TXT RDATA: <length><bytes> character-strings (RFC 1035 3.3.14), joined.
Result<std::string> join_character_strings(const unsigned char* data, std::size_t size) {
  std::string out;
  std::size_t at = 0;
  while (at < size) {
    const std::size_t length = data[at++];
    if (length > size - at) return make_error(Errc::kProtocol, "TXT record overruns its RDATA");
    out.append(reinterpret_cast<const char*>(data + at), length);
    at += length;
  }
  return out;
}

Result<std::vector<std::string>> parse_txt_answer(const unsigned char* answer, int length) {
  ns_msg message;
  if (ns_initparse(answer, length, &message) != 0) {
    return make_error(Errc::kProtocol, "unparsable DNS answer");
  }
  std::vector<std::string> records;
  const int count = ns_msg_count(message, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (ns_parserr(&message, ns_s_an, i, &rr) != 0) {
      return make_error(Errc::kProtocol, "unparsable resource record in DNS answer");
    }
    // A CNAME chain puts the aliases first; only the TXT data counts.
    if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in) continue;
    auto text = join_character_strings(ns_rr_rdata(rr), ns_rr_rdlen(rr));
    if (!text) return text.error();
    records.push_back(std::move(text).value());
  }
  return records;
}

}  // namespace

bool is_queryable_dns_name(std::string_view name) {
  if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) return false;
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (++label > 63) {
      return false;
    }
  }
  return label > 0;
}

struct SystemDnsResolver::State {
  ResStatePtr res;
};

SystemDnsResolver::SystemDnsResolver(std::unique_ptr<State> state) : state_(std::move(state)) {}
SystemDnsResolver::~SystemDnsResolver() = default;

Result<std::unique_ptr<SystemDnsResolver>> SystemDnsResolver::create() {
  auto res = std::make_unique<ResState>();  // zeroed, as res_ninit expects
  if (res_ninit(res.get()) != 0) {
    // res_ninit may have allocated before failing; res_nclose handles both.
    ResStatePtr failed{res.release()};
    return make_error(Errc::kUnavailable, "cannot read the resolver configuration (/etc/resolv.conf)");
  }
  auto state = std::make_unique<State>();
  state->res.reset(res.release());
  return std::make_unique<SystemDnsResolver>(std::move(state));
}

Result<std::vector<std::string>> SystemDnsResolver::txt(std::string_view name) {
  if (!is_queryable_dns_name(name)) {
    return make_error(Errc::kInvalidInput, "not a DNS name: \"" + log_escape(name, 80) + "\"");
  }
  const std::string query = without_trailing_dot(name);
  std::vector<unsigned char> answer(kMaxDnsAnswer);
  errno = 0;
  // res_nquery, not res_nsearch: the names checked are absolute and must not
  // be completed with the search list.
  const int length = res_nquery(state_->res.get(), query.c_str(), ns_c_in, ns_t_txt, answer.data(),
                                static_cast<int>(answer.size()));
  if (length < 0) {
    const int saved_errno = errno;
    switch (state_->res->res_h_errno) {
      case HOST_NOT_FOUND:  // NXDOMAIN
      case NO_DATA:         // the name exists, without TXT records
        return std::vector<std::string>{};
      case TRY_AGAIN:
        // glibc tries every server; when none gave a usable answer it says
        // ETIMEDOUT whether they were silent or answered SERVFAIL/REFUSED.
        if (saved_errno == ETIMEDOUT) {
          return make_error(Errc::kTimeout, "no usable DNS answer for " + log_escape(query, 255) +
                                                " TXT (the name servers timed out or answered SERVFAIL or REFUSED)");
        }
        if (saved_errno == ECONNREFUSED) {
          return make_error(Errc::kUnavailable, "no name server reachable for " + log_escape(query, 255) + " TXT");
        }
        return make_error(Errc::kUnavailable, "DNS server failure (SERVFAIL) for " + log_escape(query, 255) + " TXT");
      default:  // NO_RECOVERY: FORMERR, NOTIMP, or a query glibc would not send
        return make_error(Errc::kUnavailable, "DNS query failed for " + log_escape(query, 255) + " TXT");
    }
  }
  if (static_cast<std::size_t>(length) > answer.size()) {
    return make_error(Errc::kProtocol, "DNS answer for " + log_escape(query, 255) + " exceeds 64 KiB");
  }
  return parse_txt_answer(answer.data(), length);
}

void FakeDnsResolver::add_txt(std::string_view name, std::string text) {
  records_[ascii_lower(without_trailing_dot(name))].push_back(std::move(text));
}

void FakeDnsResolver::fail(std::string_view name) { failing_.insert(ascii_lower(without_trailing_dot(name))); }

Result<std::vector<std::string>> FakeDnsResolver::txt(std::string_view name) {
  const std::string key = ascii_lower(without_trailing_dot(name));
  queries_.push_back(key);
  if (!is_queryable_dns_name(name)) return make_error(Errc::kInvalidInput, "not a DNS name");
  if (failing_.contains(key)) {
    return make_error(Errc::kUnavailable, "DNS server failure (SERVFAIL) for " + key + " TXT");
  }
  const auto found = records_.find(key);
  if (found == records_.end()) return std::vector<std::string>{};
  return found->second;
}

}  // namespace sluice
