// DNS TXT lookups for checks that read published records (SPF, DKIM, DMARC),
// behind an interface so that the checks are tested against a map.
//
// Owns: SystemDnsResolver owns one resolver state (res_ninit), so it never
// touches the process-wide _res. Not thread-safe: one resolver per thread.
// Errors: a name that does not exist (NXDOMAIN) or has no TXT record (NODATA)
// is an empty answer, not an error. When no server gives a usable answer
// (silence, SERVFAIL, REFUSED: glibc does not tell them apart once it has
// tried them all) the error is kTimeout; no reachable server or a SERVFAIL
// glibc reports as such is kUnavailable (both temporary); a malformed name is
// kInvalidInput; an unparsable answer is kProtocol. Each lookup waits at most
// what /etc/resolv.conf allows (timeout x attempts x servers).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sluice {

// Largest DNS answer read, in bytes (the DNS message limit over TCP).
inline constexpr std::size_t kMaxDnsAnswer = 65535;

class DnsResolver {
 public:
  virtual ~DnsResolver() = default;
  // The TXT records of |name| (absolute, no trailing dot needed), each one's
  // character-strings joined without separator (RFC 7208 3.3, RFC 6376 3.6.2.2).
  virtual Result<std::vector<std::string>> txt(std::string_view name) = 0;
};

class SystemDnsResolver final : public DnsResolver {
 public:
  // Reads /etc/resolv.conf into a private resolver state.
  static Result<std::unique_ptr<SystemDnsResolver>> create();
  ~SystemDnsResolver() override;

  Result<std::vector<std::string>> txt(std::string_view name) override;

  struct State;  // defined in the .cc: only create() can make one
  explicit SystemDnsResolver(std::unique_ptr<State> state);

 private:
  std::unique_ptr<State> state_;
};

// Answers from a map, for tests: names are compared case-insensitively, a
// name in |failing| answers kUnavailable (a SERVFAIL), any other name absent
// from |records| does not exist.
class FakeDnsResolver final : public DnsResolver {
 public:
  void add_txt(std::string_view name, std::string text);
  void fail(std::string_view name);

  Result<std::vector<std::string>> txt(std::string_view name) override;
  // Every name asked for, in order (lowercased).
  const std::vector<std::string>& queries() const { return queries_; }

 private:
  std::map<std::string, std::vector<std::string>> records_;
  std::set<std::string> failing_;
  std::vector<std::string> queries_;
};

// True when |name| may be sent as a query: 1..253 bytes of printable ASCII
// without spaces, labels of 1..63 bytes (one trailing dot allowed).
bool is_queryable_dns_name(std::string_view name);

}  // namespace sluice
