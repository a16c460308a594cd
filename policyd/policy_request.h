// PolicyRequest: one Postfix SMTP access policy request (SMTPD_POLICY_README),
// typed. PolicyReader builds it from the wire; the checks read it. Only the
// attributes Postfix defines are kept; others are counted and dropped.
//
// Owns: copies of the attribute values (no views into a reader's buffer), so a
// request outlives the reader and may move to another thread.
// Guarantees: values hold no NUL, CR or LF and are at most
// PolicyLimits::max_line_bytes long; otherwise they are raw, as Postfix sent
// them (Postfix does not encode them): validate before use (parse_mailbox).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::policyd {

// Where in the SMTP dialogue Postfix asks (attribute protocol_state).
enum class ProtocolState {
  kOther,         // missing, empty, or a state this version does not know
  kConnect,       // "CONNECT"
  kEhlo,          // "EHLO"
  kHelo,          // "HELO"
  kMail,          // "MAIL"
  kRcpt,          // "RCPT"
  kData,          // "DATA" (also sent for BDAT)
  kEndOfMessage,  // "END-OF-MESSAGE"
  kVrfy,          // "VRFY"
  kEtrn,          // "ETRN"
};

// Maps Postfix's spelling (ASCII case-insensitive) to a state; anything else
// is kOther.
ProtocolState parse_protocol_state(std::string_view text);
// Postfix's spelling ("RCPT", "END-OF-MESSAGE"); "other" for kOther.
std::string_view protocol_state_name(ProtocolState state);

struct PolicyRequest {
  ProtocolState protocol_state = ProtocolState::kOther;
  std::string protocol_name;        // "SMTP" or "ESMTP"
  std::string helo_name;
  std::string queue_id;             // empty before Postfix assigns one
  std::string sender;               // "" is the null sender (or not yet known)
  std::string recipient;            // current recipient (RCPT), else ""
  std::uint32_t recipient_count = 0;  // accepted recipients; non-zero at DATA and END-OF-MESSAGE
  std::string client_address;       // "unknown" when Postfix does not know
  std::string client_name;          // "unknown" when the name did not verify
  std::string reverse_client_name;
  std::optional<std::uint16_t> client_port;  // nullopt: absent or "unknown"
  std::string server_address;
  std::optional<std::uint16_t> server_port;  // nullopt: absent or "unknown"
  std::string instance;             // same value for all requests of one message
  std::string sasl_method;
  std::string sasl_username;        // empty: not authenticated
  std::string sasl_sender;
  std::uint64_t size = 0;           // bytes: MAIL FROM SIZE=, actual size at END-OF-MESSAGE
  std::string ccert_subject;
  std::string ccert_issuer;
  std::string ccert_fingerprint;
  std::string ccert_pubkey_fingerprint;
  std::string encryption_protocol;  // empty: no TLS
  std::string encryption_cipher;
  std::uint32_t encryption_keysize = 0;
  std::string etrn_domain;
  std::string stress;               // "yes" under overload, else ""
  std::string policy_context;       // smtpd_policy_service_policy_context
  std::string compatibility_level;
  std::string mail_version;

  std::uint32_t attribute_count = 0;  // every attribute line, request= included
  std::uint32_t unknown_attributes = 0;  // lines with names this version ignores

  bool authenticated() const { return !sasl_username.empty(); }

  friend bool operator==(const PolicyRequest&, const PolicyRequest&) = default;
};

}  // namespace sluice::policyd
