// One message passing through sluice-milter: collects the envelope and the
// header, streams the body into the DKIM signers and the content scanners,
// and at the end computes the EomPlan (header rules, scanner verdicts,
// tracking ID, List-Unsubscribe, signatures, VERP, Redis records). Knows
// nothing of libmilter; the network steps (scanners, Redis, SPF) are driven
// by callbacks.cc and their results handed in, so the state machine is
// unit-tested.
//
// Memory: headers are kept (they are needed for rules and signing) up to
// kMaxHeaderBytes; the body is never kept whole: it is hashed, and each
// scanner holds at most its max_size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/spf_check.h"
#include "milter/dkim_signer.h"
#include "milter/eom_plan.h"
#include "milter/scan_decision.h"
#include "milter/scanner.h"
#include "milter/snapshot.h"

namespace sluice::milter {

inline constexpr std::size_t kMaxHeaderBytes = 1024 * 1024;
inline constexpr std::size_t kMaxHeaderCount = 2000;
// Recipients remembered for the scanners (rspamd's Rcpt headers); all are counted.
inline constexpr std::size_t kMaxRememberedRecipients = 100;

struct Envelope {
  std::string client_address;  // numeric, from the connect step
  std::string helo;            // HELO/EHLO argument, may be empty
  std::string auth_authen;     // {auth_authen}: the SASL login, empty if none
  std::string mail_from;       // as given to MAIL FROM, without <>
  std::size_t recipients = 0;
  std::vector<std::string> recipient_addresses;  // the first kMaxRememberedRecipients, without <>
};

// Whether the SASL login owns the From domain ([milter] sender_authorisation).
enum class FromOwnership { kNotChecked, kOwned, kNotOwned, kUnknown };

class Message {
 public:
  Message(SnapshotPtr snapshot, Envelope envelope, std::string tracking_id);

  // Mail neither authenticated nor from internal_networks is passed
  // untouched (unless sign_unauthenticated).
  bool outbound() const { return outbound_; }
  void add_recipient(std::string_view address);
  // Error (kTooLong) when the header exceeds the caps: the caller tempfails.
  Status header(std::string_view name, std::string_view value);
  // Picks the signing keys from the From header and starts the signers.
  void end_of_headers();
  void body(std::string_view chunk);

  // The From address (Mailbox::lookup_key) and domain, once end_of_headers
  // found exactly one parsable From; empty otherwise.
  const std::string& from_address() const { return from_address_; }
  const std::string& from_domain() const { return from_domain_; }
  const Envelope& envelope() const { return envelope_; }
  // True when sender_authorisation asks for the From ownership check.
  bool needs_ownership_check() const;
  void set_from_ownership(FromOwnership ownership, std::string detail = {});
  void set_spf(SpfOutcome outcome) { spf_ = std::move(outcome); }

  // Sends the rest of the message to every scanner and waits for all of
  // them (concurrently; each within its own timeout). Blocks.
  void run_scans(std::string_view queue_id);
  // Tests: the verdicts as if run_scans() had produced them.
  void set_scan_verdicts(std::vector<ScanVerdict> verdicts) { verdicts_ = std::move(verdicts); }

  // |now_unix_s|: for the Redis buckets and the List-Unsubscribe token.
  EomPlan finish(std::string_view queue_id, std::int64_t now_unix_s);

  const std::string& tracking_id() const { return tracking_id_; }

 private:
  struct Signature {
    const LoadedKey* key;
    std::unique_ptr<DkimSigner> signer;  // null when the key is missing
  };

  std::string sender_domain() const;
  std::string verp_address() const;
  void start_scans();
  bool is_scan_header(std::string_view name) const;
  std::optional<HeaderField> authentication_results() const;
  std::vector<HeaderField> list_unsubscribe(const std::vector<HeaderField>& final_headers, std::int64_t now,
                                            std::string& note) const;
  void add_redis_writes(EomPlan& plan, const ScanDecision* scans, std::int64_t now) const;

  SnapshotPtr snapshot_;
  Envelope envelope_;
  std::string tracking_id_;
  bool outbound_ = false;
  std::vector<HeaderField> headers_;
  std::size_t header_bytes_ = 0;
  std::vector<Signature> signatures_;
  std::string signing_problem_;  // why a matched domain cannot be signed
  std::string from_domain_;
  std::string from_address_;
  FromOwnership ownership_ = FromOwnership::kNotChecked;
  std::string ownership_detail_;
  std::optional<SpfOutcome> spf_;
  bool scans_started_ = false;
  std::vector<std::unique_ptr<ScanSession>> scans_;
  std::vector<ScanVerdict> verdicts_;
};

}  // namespace sluice::milter
