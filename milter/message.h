// One message passing through sluice-milter: collects the envelope and the
// header, streams the body into the DKIM signers, and at the end computes
// the EomPlan (header rules, tracking ID, signatures, VERP). Knows nothing of
// libmilter, so the whole per-message state machine is unit-tested.
//
// Memory: headers are kept (they are needed for rules and signing) up to
// kMaxHeaderBytes; the body is never kept, only hashed.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "milter/dkim_signer.h"
#include "milter/eom_plan.h"
#include "milter/snapshot.h"

namespace sluice::milter {

inline constexpr std::size_t kMaxHeaderBytes = 1024 * 1024;
inline constexpr std::size_t kMaxHeaderCount = 2000;

struct Envelope {
  std::string client_address;  // numeric, from the connect step
  std::string auth_authen;     // {auth_authen}: the SASL login, empty if none
  std::string mail_from;       // as given to MAIL FROM, without <>
  std::size_t recipients = 0;
};

class Message {
 public:
  Message(SnapshotPtr snapshot, Envelope envelope, std::string tracking_id);

  // Mail neither authenticated nor from internal_networks is passed
  // untouched (unless sign_unauthenticated).
  bool outbound() const { return outbound_; }
  void add_recipient() { ++envelope_.recipients; }
  // Error (kTooLong) when the header exceeds the caps: the caller tempfails.
  Status header(std::string_view name, std::string_view value);
  // Picks the signing keys from the From header and starts the signers.
  void end_of_headers();
  void body(std::string_view chunk);
  EomPlan finish(std::string_view queue_id);

  const std::string& tracking_id() const { return tracking_id_; }

 private:
  struct Signature {
    const LoadedKey* key;
    std::unique_ptr<DkimSigner> signer;  // null when the key is missing
  };

  std::string sender_domain() const;
  std::string verp_address() const;

  SnapshotPtr snapshot_;
  Envelope envelope_;
  std::string tracking_id_;
  bool outbound_ = false;
  std::vector<HeaderField> headers_;
  std::size_t header_bytes_ = 0;
  std::vector<Signature> signatures_;
  std::string signing_problem_;  // why a matched domain cannot be signed
  std::string from_domain_;
};

}  // namespace sluice::milter
