#include "milter/message.h"
#include "common/ascii.h"

#include <algorithm>
#include <cctype>

#include "common/address.h"
#include "common/cidr.h"
#include "common/log.h"
#include "common/shared_keys.h"
#include "common/unsubscribe_token.h"

namespace sluice::milter {
namespace {

// The address in a From field: the last <angle-addr>, else the whole value
// (RFC 5322 3.4). Display names and comments are not needed to find the
// signing domain; an unparsable From leaves the message unsigned.
std::string_view from_field_address(std::string_view value) {
  const auto open = value.rfind('<');
  if (open != std::string_view::npos) {
    const auto close = value.find('>', open);
    if (close != std::string_view::npos) return value.substr(open + 1, close - open - 1);
  }
  const auto first = value.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = value.find_last_not_of(" \t\r\n");
  return value.substr(first, last - first + 1);
}

Canon canon_of(DkimCanonicalization c) {
  return c == DkimCanonicalization::kSimple ? Canon::kSimple : Canon::kRelaxed;
}

}  // namespace

Message::Message(SnapshotPtr snapshot, Envelope envelope, std::string tracking_id)
    : snapshot_(std::move(snapshot)), envelope_(std::move(envelope)), tracking_id_(std::move(tracking_id)) {
  const MilterSettings& settings = snapshot_->config->milter;
  outbound_ = !envelope_.auth_authen.empty() ||
              any_contains(settings.internal_networks, envelope_.client_address) || settings.sign_unauthenticated;
}

void Message::add_recipient(std::string_view address) {
  ++envelope_.recipients;
  if (envelope_.recipient_addresses.size() < kMaxRememberedRecipients) {
    envelope_.recipient_addresses.emplace_back(address);
  }
}

// Scanners start at the first header, when the recipients are all known
// (rspamd wants them) and before any byte of the message must be sent.
void Message::start_scans() {
  if (scans_started_ || !outbound_) return;
  scans_started_ = true;
  const Config& config = *snapshot_->config;
  if (config.scanners.empty()) return;
  ScanEnvelope scan_envelope;
  scan_envelope.client_address = envelope_.client_address;
  scan_envelope.helo = envelope_.helo;
  scan_envelope.mail_from = envelope_.mail_from;
  scan_envelope.auth_authen = envelope_.auth_authen;
  scan_envelope.recipients = envelope_.recipient_addresses;
  for (const ScannerSettings& scanner : config.scanners) {
    scans_.push_back(make_scan_session(scanner, scan_envelope, envelope_.auth_authen));
  }
}

Status Message::header(std::string_view name, std::string_view value) {
  header_bytes_ += name.size() + value.size() + 3;
  if (header_bytes_ > kMaxHeaderBytes || headers_.size() >= kMaxHeaderCount) {
    return make_error(Errc::kTooLong, "message header larger than " + std::to_string(kMaxHeaderBytes / 1024) +
                                          " KiB or " + std::to_string(kMaxHeaderCount) + " fields");
  }
  if (!outbound_) return {};
  start_scans();
  for (auto& scan : scans_) scan->header(name, value);
  headers_.push_back(HeaderField{std::string(name), std::string(value)});
  return {};
}

void Message::end_of_headers() {
  if (!outbound_) return;
  start_scans();
  for (auto& scan : scans_) scan->end_of_headers();
  if (!snapshot_->has_tables) return;
  const HeaderField* from = nullptr;
  int from_count = 0;
  for (const HeaderField& field : headers_) {
    if (ascii_iequals(field.name, "From")) {
      from = &field;
      ++from_count;
    }
  }
  if (from_count != 1) {
    // RFC 6376 5.4 needs exactly one From; signing several would let a
    // receiver show the unsigned one (DESIGN: refuse).
    signing_problem_ = std::to_string(from_count) + " From fields";
    return;
  }
  auto mailbox = parse_mailbox(from_field_address(from->value), MailboxOptions{.allow_null = false});
  if (!mailbox) {
    signing_problem_ = "unparsable From (" + mailbox.error().detail + ")";
    return;
  }
  from_domain_ = mailbox->domain;
  from_address_ = mailbox->lookup_key();
  const MilterSettings& settings = snapshot_->config->milter;
  for (const SigningTableEntry* entry : snapshot_->signing.match(*mailbox, settings.dual_sign)) {
    const auto found = snapshot_->loaded.find(entry->key_name);
    if (found == snapshot_->loaded.end()) continue;  // check_signing_table prevents this
    const LoadedKey& loaded = found->second;
    Signature signature{&loaded, nullptr};
    if (loaded.key == nullptr) {
      signing_problem_ = "key " + entry->key_name + ": " + loaded.problem;
    } else {
      DkimSignOptions options;
      options.domain = loaded.entry->domain;
      options.selector = loaded.entry->selector;
      options.key = loaded.key;
      options.header_canon = canon_of(settings.header_canon);
      options.body_canon = canon_of(settings.body_canon);
      options.signed_headers = snapshot_->signed_headers;
      options.oversigned_headers = settings.oversigned_headers;
      options.expire_after_seconds = settings.signature_ttl.count();
      options.identity = entry->signer;
      signature.signer = std::make_unique<DkimSigner>(std::move(options));
    }
    signatures_.push_back(std::move(signature));
  }
}

void Message::body(std::string_view chunk) {
  for (Signature& signature : signatures_) {
    if (signature.signer) signature.signer->body(chunk);
  }
  for (auto& scan : scans_) scan->body(chunk);
}

bool Message::needs_ownership_check() const {
  return outbound_ && snapshot_->config->milter.sender_authorisation && !envelope_.auth_authen.empty() &&
         !from_domain_.empty();
}

void Message::set_from_ownership(FromOwnership ownership, std::string detail) {
  ownership_ = ownership;
  ownership_detail_ = std::move(detail);
}

void Message::run_scans(std::string_view queue_id) {
  if (scans_.empty()) return;
  std::vector<ScanSession*> sessions;
  sessions.reserve(scans_.size());
  for (auto& scan : scans_) sessions.push_back(scan.get());
  verdicts_ = finish_scans(sessions, queue_id);
  scans_.clear();  // sockets and buffers go now, not at the end of the connection
}

bool Message::is_scan_header(std::string_view name) const {
  for (const std::string& scan_name : snapshot_->scan_header_names) {
    if (ascii_iequals(name, scan_name)) return true;
  }
  return false;
}

// RFC 8601 5: an Authentication-Results field carrying our own authserv-id
// that arrives with the message is a forgery and is removed; ours says what
// this relay saw: the SPF result of the client for the MAIL FROM domain.
std::optional<HeaderField> Message::authentication_results() const {
  const MilterSettings& settings = snapshot_->config->milter;
  if (!settings.authentication_results || !spf_) return std::nullopt;
  std::string value = " " + snapshot_->authserv_id + "; spf=" + std::string(spf_result_name(spf_->result));
  // The domain comes from the client's MAIL FROM: only a plain domain name
  // goes into the header (no CR, LF or anything a reader could misparse).
  const std::string& domain = spf_->domain;
  const bool plain = !domain.empty() && domain.size() <= 253 && std::all_of(domain.begin(), domain.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '.' || ch == '_';
  });
  if (plain) value += " smtp.mailfrom=" + domain;
  return HeaderField{"Authentication-Results", value};
}

// RFC 8058 one-click unsubscribe for accounts that enable it: one token per
// message, so only for mail to exactly one recipient; a sender's own
// List-Unsubscribe is left alone.
std::vector<HeaderField> Message::list_unsubscribe(const std::vector<HeaderField>& final_headers, std::int64_t now,
                                                   std::string& note) const {
  const UnsubscribeSettings& settings = snapshot_->config->feedback.unsubscribe;
  if (!settings.enabled_for(envelope_.auth_authen) || settings.keys.empty()) return {};
  if (envelope_.recipients != 1 || envelope_.recipient_addresses.empty()) {
    note = "skipped(" + std::to_string(envelope_.recipients) + " recipients)";
    return {};
  }
  for (const HeaderField& field : final_headers) {
    if (ascii_iequals(field.name, "List-Unsubscribe")) {
      note = "kept-sender's";
      return {};
    }
  }
  auto recipient = parse_mailbox(envelope_.recipient_addresses.front(), MailboxOptions{.allow_null = false});
  if (!recipient) {
    note = "skipped(unparsable recipient)";
    return {};
  }
  const std::string token =
      make_unsubscribe_token(settings.keys.front(), envelope_.auth_authen, recipient->lookup_key(), now);
  if (token.empty()) {
    note = "skipped(account or recipient too long for a token)";
    return {};
  }
  std::string value;
  if (!settings.mailto_domain.empty()) {
    value += " <mailto:" + settings.mailto_local + "+" + token + "@" + settings.mailto_domain + ">";
  }
  if (!settings.url_base.empty()) {
    if (!value.empty()) value += ",\r\n";
    value += " <" + settings.url_base + token + ">";
  }
  note = "added";
  std::vector<HeaderField> fields{HeaderField{"List-Unsubscribe", value}};
  if (!settings.url_base.empty()) {
    fields.push_back(HeaderField{"List-Unsubscribe-Post", " List-Unsubscribe=One-Click"});
  }
  return fields;
}

// After the MTA took the message: who sent it (for sluice-bounce), how
// much the account sent and how its mail scanned (for the reputation and
// scan statistics). Keys: doc/redis-schema.md.
void Message::add_redis_writes(EomPlan& plan, const ScanDecision* scans, std::int64_t now) const {
  const Config& config = *snapshot_->config;
  const std::string& prefix = config.redis.key_prefix;
  const std::string& account = envelope_.auth_authen;
  const bool delivered = plan.reply == EomPlan::Reply::kContinue;
  const auto ttl = config.milter.message_record_ttl.count();
  if (delivered && ttl > 0) {
    const std::string key = message_record_key(prefix, tracking_id_);
    std::vector<std::string> hset{"HSET", key, "account", account, "sender", envelope_.mail_from,
                                  "from_domain", from_domain_, "nrcpt", std::to_string(envelope_.recipients),
                                  "ts_ms", std::to_string(now * 1000)};
    if (envelope_.recipients == 1 && !envelope_.recipient_addresses.empty()) {
      hset.push_back("rcpt");
      hset.push_back(envelope_.recipient_addresses.front());
    }
    // sluice-bounce acts only on reports about these recipients.
    std::string rcpts;
    for (const std::string& address : envelope_.recipient_addresses) rcpts += address + "\n";
    hset.push_back("rcpts");
    hset.push_back(std::move(rcpts));
    plan.redis_writes.push_back(std::move(hset));
    plan.redis_writes.push_back({"EXPIRE", key, std::to_string(ttl)});
  }
  if (account.empty()) return;
  if (delivered) {
    const std::string key = reputation_bucket_key(prefix, account, now);
    plan.redis_writes.push_back({"HINCRBY", key, "sent", std::to_string(envelope_.recipients)});
    plan.redis_writes.push_back({"EXPIRE", key, std::to_string(kReputationBucketTtl.count())});
  }
  if (scans != nullptr) {
    const std::string key = scan_stats_key(prefix, account, now / 86'400);
    plan.redis_writes.push_back({"HINCRBY", key, "scanned", "1"});
    if (scans->spam) plan.redis_writes.push_back({"HINCRBY", key, "spam", "1"});
    if (scans->virus) plan.redis_writes.push_back({"HINCRBY", key, "virus", "1"});
    if (scans->failed) plan.redis_writes.push_back({"HINCRBY", key, "failed", "1"});
    if (scans->skipped) plan.redis_writes.push_back({"HINCRBY", key, "skipped", "1"});
    plan.redis_writes.push_back({"EXPIRE", key, std::to_string(kScanStatsTtl.count())});
  }
}

std::string Message::sender_domain() const {
  if (auto sender = parse_mailbox(envelope_.mail_from)) return sender->domain;
  return {};
}

std::string Message::verp_address() const {
  const MilterSettings& settings = snapshot_->config->milter;
  return settings.verp_prefix + "+" + tracking_id_ + "@" + settings.verp_domain;
}

EomPlan Message::finish(std::string_view queue_id, std::int64_t now_unix_s) {
  EomPlan plan;
  const MilterSettings& settings = snapshot_->config->milter;
  const std::string qid = queue_id.empty() ? "NOQUEUE" : log_escape(queue_id, 32);
  if (!outbound_) {
    plan.log_line = qid + ": sluice_id=- from=<" + log_escape(envelope_.mail_from) + "> client=" +
                    log_escape(envelope_.client_address, 64) + " not outbound: passed untouched";
    return plan;
  }

  // Headers a client could forge to pass as ours go, every instance: the
  // tracking ID (someone else's), the scanners' verdicts, and
  // Authentication-Results under our authserv-id. Deleted highest index
  // first per name (indices count the instances of one name).
  const auto is_forgeable = [&](const HeaderField& field) {
    if (ascii_iequals(field.name, settings.tracking_header) || is_scan_header(field.name)) return true;
    if (!settings.authentication_results || !ascii_iequals(field.name, "Authentication-Results")) return false;
    const std::string_view value = field.value;
    const auto first = value.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return false;
    const auto end = value.find_first_of("; \t\r\n", first);
    return ascii_iequals(value.substr(first, end == std::string_view::npos ? end : end - first),
                         snapshot_->authserv_id);
  };
  std::vector<HeaderField> visible;
  visible.reserve(headers_.size());
  std::vector<HeaderChange> removals;
  for (std::size_t i = 0; i < headers_.size(); ++i) {
    const HeaderField& field = headers_[i];
    if (!is_forgeable(field)) {
      visible.push_back(field);
      continue;
    }
    int index = 0;
    for (std::size_t k = 0; k <= i; ++k) {
      if (ascii_iequals(headers_[k].name, field.name)) ++index;
    }
    removals.push_back(HeaderChange{field.name, index, std::nullopt});
  }
  for (auto it = removals.rbegin(); it != removals.rend(); ++it) plan.changes.push_back(std::move(*it));

  // Header rules next, so the signature covers the final header. The rules
  // never see the removed headers; the MTA numbers the instances of a name
  // after the removals, as the rules did.
  std::vector<HeaderField> final_headers;
  std::size_t rule_edits = 0;
  if (snapshot_->rules) {
    HeaderEdits edits = snapshot_->rules->apply(visible, HeaderContext{envelope_.auth_authen, sender_domain()});
    for (const std::string& warning : edits.warnings) log_warn("%s: header rules: %s", qid.c_str(), warning.c_str());
    rule_edits = edits.changes.size() + edits.additions.size();
    for (HeaderChange& change : edits.ordered_for_milter()) plan.changes.push_back(std::move(change));
    plan.additions = std::move(edits.additions);
    final_headers = std::move(edits.result);
  } else {
    final_headers = std::move(visible);
  }
  const HeaderField tracking{settings.tracking_header, " " + tracking_id_};
  plan.additions.push_back(tracking);
  final_headers.push_back(tracking);

  std::optional<ScanDecision> scans;
  if (!verdicts_.empty()) {
    scans = decide_scans(snapshot_->config->scanners, verdicts_);
    for (const HeaderField& field : scans->headers) {
      plan.additions.push_back(field);
      final_headers.push_back(field);
    }
  }
  std::string unsubscribe_note;
  for (HeaderField& field : list_unsubscribe(final_headers, now_unix_s, unsubscribe_note)) {
    plan.additions.push_back(field);
    final_headers.push_back(std::move(field));
  }

  // What stops the message, strictest first: a scanner's reject, a From
  // the login does not own, then the temporary failures.
  std::string refusal;  // "5.7.1 text" or "4.x.x text"
  std::string action;
  bool sign = true;
  if (scans && scans->action == ScanAction::kReject) {
    refusal = scans->reply_text;
  } else if (ownership_ == FromOwnership::kNotOwned) {
    if (settings.on_unauthorised_from == UnauthorisedFromAction::kReject) {
      refusal = "5.7.1 From domain " + from_domain_ + " is not authorised for login " +
                log_escape(envelope_.auth_authen, 64);
    } else {
      sign = false;
    }
  }
  if (refusal.empty()) {
    if (scans && scans->action == ScanAction::kTempfail) {
      refusal = scans->reply_text;
    } else if (ownership_ == FromOwnership::kUnknown && settings.on_redis_error == RedisErrorAction::kTempfail) {
      refusal = "4.3.0 Sender authorisation temporarily unavailable, try again later";
    }
  }

  std::string dkim_result;
  bool key_tempfail = false;
  if (!refusal.empty()) {
    dkim_result = "not-signed";
  } else if (!sign) {
    dkim_result = "unsigned(From domain " + from_domain_ + " not owned by login)";
  } else if (!signing_problem_.empty() && signatures_.empty()) {
    dkim_result = "unsigned(" + signing_problem_ + ")";
  } else if (signatures_.empty()) {
    dkim_result = snapshot_->has_tables ? "unsigned(no signing-table match for " + from_domain_ + ")" : "off";
  } else {
    for (Signature& signature : signatures_) {
      if (!dkim_result.empty()) dkim_result += ",";
      const KeyTableEntry& entry = *signature.key->entry;
      const std::string which = "d=" + entry.domain + " s=" + entry.selector;
      if (!signature.signer) {
        dkim_result += "missing-key(" + which + ")";
        key_tempfail = key_tempfail || settings.on_missing_key == MissingKeyAction::kTempfail;
        continue;
      }
      auto value = signature.signer->finish(final_headers);
      if (!value) {
        dkim_result += "failed(" + which + ": " + value.error().detail + ")";
        continue;
      }
      std::string header_value = *value;
      if (header_value.empty() || header_value.front() != ' ') header_value.insert(0, " ");
      plan.prepend.push_back(HeaderField{"DKIM-Signature", std::move(header_value)});
      dkim_result += std::string("signed(") + which + " a=" +
                     std::string(dkim_algorithm_name(signature.key->key->algorithm())) + ")";
    }
  }
  if (refusal.empty() && key_tempfail) refusal = "4.7.1 DKIM signing key unavailable, try again later";

  if (!refusal.empty()) {
    // Nothing of the message is changed when it is refused.
    const bool permanent = refusal.front() == '5';
    plan.changes.clear();
    plan.additions.clear();
    plan.prepend.clear();
    plan.reply = permanent ? EomPlan::Reply::kReject : EomPlan::Reply::kTempfail;
    plan.reply_text = refusal;
    action = permanent ? "reject" : "tempfail";
  } else {
    if (auto results = authentication_results()) plan.prepend.push_back(std::move(*results));
    if (scans && scans->action == ScanAction::kQuarantine) {
      plan.quarantine_reason = scans->reply_text;
      action = "quarantine";
    }
    if (settings.verp && !settings.verp_domain.empty() && !envelope_.mail_from.empty()) {
      // A null sender stays null: a bounce must never be bounced.
      plan.new_envelope_from = verp_address();
    }
  }
  add_redis_writes(plan, scans ? &*scans : nullptr, now_unix_s);

  plan.log_line = qid + ": sluice_id=" + tracking_id_ + " from=<" + log_escape(envelope_.mail_from) +
                  "> nrcpt=" + std::to_string(envelope_.recipients) +
                  (envelope_.auth_authen.empty() ? "" : " sasl=" + log_escape(envelope_.auth_authen, 64)) +
                  " client=" + log_escape(envelope_.client_address, 64) + " dkim=" + dkim_result +
                  " header_edits=" + std::to_string(rule_edits);
  if (scans) plan.log_line += " scan=" + scans->log;
  if (spf_) plan.log_line += " spf=" + std::string(spf_result_name(spf_->result));
  if (ownership_ == FromOwnership::kNotOwned) plan.log_line += " from_owner=no";
  if (ownership_ == FromOwnership::kUnknown) plan.log_line += " from_owner=unknown(" + ownership_detail_ + ")";
  if (!unsubscribe_note.empty()) plan.log_line += " unsubscribe=" + unsubscribe_note;
  if (plan.new_envelope_from) plan.log_line += " verp=<" + *plan.new_envelope_from + ">";
  if (!action.empty()) plan.log_line += " action=" + action;
  if (!plan.reply_text.empty()) plan.log_line += " reply=\"" + plan.reply_text + "\"";
  return plan;
}

}  // namespace sluice::milter
