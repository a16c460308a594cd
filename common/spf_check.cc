#include "common/spf_check.h"

// libspf2's headers use these types without including them, and declare
// their functions without extern "C".
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
extern "C" {
#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>
}

#include <algorithm>

#include "common/ascii.h"
#include "common/c_handle.h"

namespace sluice {
namespace {

using SpfDnsPtr = CHandle<SPF_dns_server_t, SPF_dns_free>;
using SpfServerPtr = CHandle<SPF_server_t, SPF_server_free>;
using SpfRequestPtr = CHandle<SPF_request_t, SPF_request_free>;
using SpfResponsePtr = CHandle<SPF_response_t, SPF_response_free>;

constexpr std::size_t kMaxExplanation = 200;
// RFC 5321 4.5.3.1.3: a path is at most 256 octets; a domain at most 255.
constexpr std::size_t kMaxMailFrom = 256;
constexpr std::size_t kMaxHelo = 255;

struct ResultName {
  SpfResult result;
  std::string_view name;
};
constexpr ResultName kResultNames[] = {
    {SpfResult::kNone, "none"},         {SpfResult::kNeutral, "neutral"},     {SpfResult::kPass, "pass"},
    {SpfResult::kFail, "fail"},         {SpfResult::kSoftfail, "softfail"},   {SpfResult::kTempError, "temperror"},
    {SpfResult::kPermError, "permerror"},
};

// Printable ASCII only, cut at kMaxExplanation: the text comes from DNS
// (exp= records, domain names) and ends up in logs and SMTP replies.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxExplanation) break;
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(byte >= 0x20 && byte < 0x7f ? c : '?');
  }
  return out;
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

SpfOutcome outcome(SpfResult result, std::string domain, std::string_view why) {
  return SpfOutcome{result, std::move(domain), printable(why)};
}

SpfResult map_result(SPF_result_t result, SPF_errcode_t error) {
  switch (result) {
    case SPF_RESULT_PASS: return SpfResult::kPass;
    case SPF_RESULT_FAIL: return SpfResult::kFail;
    case SPF_RESULT_SOFTFAIL: return SpfResult::kSoftfail;
    case SPF_RESULT_NEUTRAL: return SpfResult::kNeutral;
    case SPF_RESULT_NONE: return SpfResult::kNone;
    case SPF_RESULT_TEMPERROR: return SpfResult::kTempError;
    case SPF_RESULT_PERMERROR: return SpfResult::kPermError;
    case SPF_RESULT_INVALID: break;
  }
  // libspf2 leaves a DNS failure as INVALID; anything else INVALID is a
  // record it could not use (a syntax error).
  return error == SPF_E_DNS_ERROR ? SpfResult::kTempError : SpfResult::kPermError;
}

// The first error message libspf2 recorded, else its header comment without
// the leading "receiving-host: " it adds.
std::string reason_of(SPF_request_t* request, SPF_response_t* response) {
  if (response == nullptr) return "";
  for (int i = 0; i < SPF_response_messages(response); ++i) {
    SPF_error_t* message = SPF_response_message(response, i);
    const char* text = message != nullptr ? SPF_error_message(message) : nullptr;
    if (text != nullptr && *text != '\0') return text;
  }
  const char* comment = SPF_response_get_header_comment(response);
  if (comment == nullptr) return "";
  std::string_view text = comment;
  const char* receiver = SPF_request_get_rec_dom(request);
  if (receiver != nullptr) {
    const std::string prefix = std::string(receiver) + ": ";
    if (text.starts_with(prefix)) text.remove_prefix(prefix.size());
  }
  return std::string(text);
}

SPF_errcode_t add_record(SPF_dns_server_t* zone, const SpfZoneRecord& record) {
  const char* name = record.name.c_str();
  const char* value = record.value.c_str();
  switch (record.type) {
    case SpfZoneRecord::Type::kTxt: return SPF_dns_zone_add_str(zone, name, ns_t_txt, NETDB_SUCCESS, value);
    case SpfZoneRecord::Type::kA: return SPF_dns_zone_add_str(zone, name, ns_t_a, NETDB_SUCCESS, value);
    case SpfZoneRecord::Type::kAaaa: return SPF_dns_zone_add_str(zone, name, ns_t_aaaa, NETDB_SUCCESS, value);
    case SpfZoneRecord::Type::kMx: return SPF_dns_zone_add_str(zone, name, ns_t_mx, NETDB_SUCCESS, value);
    case SpfZoneRecord::Type::kTempFail: return SPF_dns_zone_add_str(zone, name, ns_t_any, TRY_AGAIN, nullptr);
    case SpfZoneRecord::Type::kNotFound: return SPF_dns_zone_add_str(zone, name, ns_t_any, HOST_NOT_FOUND, nullptr);
  }
  return SPF_E_INTERNAL_ERROR;
}

}  // namespace

std::string_view spf_result_name(SpfResult result) {
  for (const ResultName& entry : kResultNames) {
    if (entry.result == result) return entry.name;
  }
  return "permerror";
}

Result<SpfResult> parse_spf_result(std::string_view name) {
  for (const ResultName& entry : kResultNames) {
    if (ascii_iequals(entry.name, name)) return entry.result;
  }
  return make_error(Errc::kInvalidInput, "not an SPF result: \"" + printable(name) + "\"");
}

// Destruction order matters: the server refers to a zone it does not own,
// so |server| (declared last) goes first.
struct SpfChecker::State {
  SpfDnsPtr zone;
  SpfServerPtr server;
};

SpfChecker::SpfChecker(std::unique_ptr<State> state) : state_(std::move(state)) {}
SpfChecker::SpfChecker(SpfChecker&&) noexcept = default;
SpfChecker& SpfChecker::operator=(SpfChecker&&) noexcept = default;
SpfChecker::~SpfChecker() = default;

Result<SpfChecker> SpfChecker::create() {
  auto state = std::make_unique<State>();
  state->server.reset(SPF_server_new(SPF_DNS_CACHE, 0));
  if (!state->server) return make_error(Errc::kInternal, "SPF_server_new failed");
  return SpfChecker(std::move(state));
}

Result<SpfChecker> SpfChecker::create_with_zone(const std::vector<SpfZoneRecord>& records) {
  auto state = std::make_unique<State>();
  state->zone.reset(SPF_dns_zone_new(nullptr, "sluice-zone", 0));
  if (!state->zone) return make_error(Errc::kInternal, "SPF_dns_zone_new failed");
  for (const SpfZoneRecord& record : records) {
    if (add_record(state->zone.get(), record) != SPF_E_SUCCESS) {
      return make_error(Errc::kInvalidInput, "cannot add zone record for \"" + printable(record.name) + "\"");
    }
  }
  state->server.reset(SPF_server_new_dns(state->zone.get(), 0));
  if (!state->server) return make_error(Errc::kInternal, "SPF_server_new_dns failed");
  return SpfChecker(std::move(state));
}

SpfOutcome SpfChecker::check(std::string_view client_ip, std::string_view helo, std::string_view mail_from) {
  // RFC 7208 2.4: the null sender is checked as postmaster@HELO.
  const std::string sender = mail_from.empty() ? "postmaster@" + std::string(helo) : std::string(mail_from);
  const auto at = sender.rfind('@');
  std::string domain = ascii_lower(at == std::string::npos ? sender : sender.substr(at + 1));
  if (!domain.empty() && domain.back() == '.') domain.pop_back();

  if (mail_from.empty() && helo.empty()) {
    return outcome(SpfResult::kNone, "", "null sender and no HELO name: no identity to check");
  }
  // The C API would cut at an embedded NUL and check another name; controls
  // are never part of a mailbox or a host name.
  if (mail_from.size() > kMaxMailFrom || helo.size() > kMaxHelo || has_control(sender) || has_control(helo) ||
      domain.empty()) {
    return outcome(SpfResult::kPermError, domain, "malformed sender \"" + printable(sender) + "\"");
  }

  const std::string ip(client_ip);
  in_addr v4{};
  in6_addr v6{};
  const bool is_v4 = ip.find('\0') == std::string::npos && inet_pton(AF_INET, ip.c_str(), &v4) == 1;
  const bool is_v6 = !is_v4 && ip.find('\0') == std::string::npos && inet_pton(AF_INET6, ip.c_str(), &v6) == 1;
  if (!is_v4 && !is_v6) {
    return outcome(SpfResult::kPermError, domain,
                   "client address \"" + printable(client_ip) + "\" is not an IP address");
  }

  SpfRequestPtr request{SPF_request_new(state_->server.get())};
  if (!request) return outcome(SpfResult::kTempError, domain, "SPF_request_new failed");
  const SPF_errcode_t set_ip =
      is_v4 ? SPF_request_set_ipv4(request.get(), v4) : SPF_request_set_ipv6(request.get(), v6);
  if (set_ip != SPF_E_SUCCESS) {
    return outcome(SpfResult::kPermError, domain, "client address \"" + printable(client_ip) + "\" refused");
  }
  if (!helo.empty() && SPF_request_set_helo_dom(request.get(), std::string(helo).c_str()) != SPF_E_SUCCESS) {
    return outcome(SpfResult::kPermError, domain, "HELO name refused");
  }
  if (SPF_request_set_env_from(request.get(), sender.c_str()) != 0) {
    return outcome(SpfResult::kPermError, domain, "sender \"" + printable(sender) + "\" refused");
  }

  SPF_response_t* raw_response = nullptr;
  const SPF_errcode_t status = SPF_request_query_mailfrom(request.get(), &raw_response);
  SpfResponsePtr response{raw_response};
  if (!response) return outcome(SpfResult::kTempError, domain, "libspf2 returned no response");
  // The query's status carries the DNS error; the response's errcode is 0 then.
  const SPF_errcode_t error = status != SPF_E_SUCCESS ? status : SPF_response_errcode(response.get());
  const SpfResult result = map_result(SPF_response_result(response.get()), error);
  return outcome(result, std::move(domain), reason_of(request.get(), response.get()));
}

}  // namespace sluice
