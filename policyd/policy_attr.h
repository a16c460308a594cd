// Attribute names of the Postfix SMTP access policy delegation protocol
// (SMTPD_POLICY_README), spelled once, as Postfix's mail_proto.h spells them
// (MAIL_ATTR_*). Everything that reads or writes a policy attribute by name
// uses these constants; no other file spells a wire name.
//
// Owns: nothing (compile-time constants). Thread-safe by construction.
#pragma once

#include <string_view>

namespace sluice::policyd::policy_attr {

// Postfix 2.1 and later.
inline constexpr std::string_view kRequest = "request";
inline constexpr std::string_view kProtocolState = "protocol_state";
inline constexpr std::string_view kProtocolName = "protocol_name";
inline constexpr std::string_view kHeloName = "helo_name";
inline constexpr std::string_view kQueueId = "queue_id";
inline constexpr std::string_view kSender = "sender";
inline constexpr std::string_view kRecipient = "recipient";
inline constexpr std::string_view kRecipientCount = "recipient_count";
inline constexpr std::string_view kClientAddress = "client_address";
inline constexpr std::string_view kClientName = "client_name";
inline constexpr std::string_view kReverseClientName = "reverse_client_name";
inline constexpr std::string_view kInstance = "instance";
// Postfix 2.2 and later.
inline constexpr std::string_view kSaslMethod = "sasl_method";
inline constexpr std::string_view kSaslUsername = "sasl_username";
inline constexpr std::string_view kSaslSender = "sasl_sender";
inline constexpr std::string_view kSize = "size";
inline constexpr std::string_view kCcertSubject = "ccert_subject";
inline constexpr std::string_view kCcertIssuer = "ccert_issuer";
inline constexpr std::string_view kCcertFingerprint = "ccert_fingerprint";
// Postfix 2.3 and later.
inline constexpr std::string_view kEncryptionProtocol = "encryption_protocol";
inline constexpr std::string_view kEncryptionCipher = "encryption_cipher";
inline constexpr std::string_view kEncryptionKeysize = "encryption_keysize";
inline constexpr std::string_view kEtrnDomain = "etrn_domain";
// Postfix 2.5 and later.
inline constexpr std::string_view kStress = "stress";
// Postfix 2.9 and later.
inline constexpr std::string_view kCcertPubkeyFingerprint = "ccert_pubkey_fingerprint";
// Postfix 3.0 and later.
inline constexpr std::string_view kClientPort = "client_port";
// Postfix 3.1 and later.
inline constexpr std::string_view kPolicyContext = "policy_context";
// Postfix 3.2 and later.
inline constexpr std::string_view kServerAddress = "server_address";
inline constexpr std::string_view kServerPort = "server_port";
// Postfix 3.8 and later.
inline constexpr std::string_view kCompatibilityLevel = "compatibility_level";
inline constexpr std::string_view kMailVersion = "mail_version";

// The only value of kRequest this protocol defines.
inline constexpr std::string_view kRequestSmtpdAccessPolicy = "smtpd_access_policy";
// The reply's one attribute.
inline constexpr std::string_view kAction = "action";
// Postfix's spelling of a client or server port it does not know
// (CLIENT_PORT_UNKNOWN in smtpd.h).
inline constexpr std::string_view kPortUnknown = "unknown";

}  // namespace sluice::policyd::policy_attr
