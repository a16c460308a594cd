#include "milter/message.h"
#include "common/ascii.h"

#include <algorithm>
#include <cctype>

#include "common/address.h"
#include "common/cidr.h"
#include "common/log.h"

namespace sluice::milter {
namespace {

// The address in a From field: the last <angle-addr>, else the whole value
// (RFC 5322 3.4). Display names and comments are not needed to find the
// signing domain; an unparsable From leaves the message unsigned.
std::string_view from_address(std::string_view value) {
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

Status Message::header(std::string_view name, std::string_view value) {
  header_bytes_ += name.size() + value.size() + 3;
  if (header_bytes_ > kMaxHeaderBytes || headers_.size() >= kMaxHeaderCount) {
    return make_error(Errc::kTooLong, "message header larger than " + std::to_string(kMaxHeaderBytes / 1024) +
                                          " KiB or " + std::to_string(kMaxHeaderCount) + " fields");
  }
  if (outbound_) headers_.push_back(HeaderField{std::string(name), std::string(value)});
  return {};
}

void Message::end_of_headers() {
  if (!outbound_ || !snapshot_->has_tables) return;
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
  auto mailbox = parse_mailbox(from_address(from->value), MailboxOptions{.allow_null = false});
  if (!mailbox) {
    signing_problem_ = "unparsable From (" + mailbox.error().detail + ")";
    return;
  }
  from_domain_ = mailbox->domain;
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
      options.signed_headers = settings.signed_headers;
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
}

std::string Message::sender_domain() const {
  if (auto sender = parse_mailbox(envelope_.mail_from)) return sender->domain;
  return {};
}

std::string Message::verp_address() const {
  const MilterSettings& settings = snapshot_->config->milter;
  return settings.verp_prefix + "+" + tracking_id_ + "@" + settings.verp_domain;
}

EomPlan Message::finish(std::string_view queue_id) {
  EomPlan plan;
  const MilterSettings& settings = snapshot_->config->milter;
  const std::string qid = queue_id.empty() ? "NOQUEUE" : log_escape(queue_id, 32);
  if (!outbound_) {
    plan.log_line = qid + ": sluice_id=- from=<" + log_escape(envelope_.mail_from) + "> client=" +
                    log_escape(envelope_.client_address, 64) + " not outbound: passed untouched";
    return plan;
  }

  // A tracking header the client sent could be a forgery of someone else's
  // ID: every incoming one goes (highest index first), ours is added below.
  std::vector<HeaderField> visible;
  visible.reserve(headers_.size());
  int stripped = 0;
  for (const HeaderField& field : headers_) {
    if (ascii_iequals(field.name, settings.tracking_header)) {
      ++stripped;
    } else {
      visible.push_back(field);
    }
  }
  for (int index = stripped; index >= 1; --index) {
    plan.changes.push_back(HeaderChange{settings.tracking_header, index, std::nullopt});
  }

  // Header rules next, so the signature covers the final header. The rules
  // never see the tracking headers, so their indices are unaffected.
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

  std::string dkim_result;
  bool tempfail = false;
  if (!signing_problem_.empty() && signatures_.empty()) {
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
        tempfail = tempfail || settings.on_missing_key == MissingKeyAction::kTempfail;
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

  if (tempfail) {
    plan = EomPlan{};
    plan.reply = EomPlan::Reply::kTempfail;
    plan.reply_text = "4.7.1 DKIM signing key unavailable, try again later";
  } else if (settings.verp && !settings.verp_domain.empty() && !envelope_.mail_from.empty()) {
    // A null sender stays null: a bounce must never be bounced.
    plan.new_envelope_from = verp_address();
  }

  plan.log_line = qid + ": sluice_id=" + tracking_id_ + " from=<" + log_escape(envelope_.mail_from) +
                  "> nrcpt=" + std::to_string(envelope_.recipients) +
                  (envelope_.auth_authen.empty() ? "" : " sasl=" + log_escape(envelope_.auth_authen, 64)) +
                  " client=" + log_escape(envelope_.client_address, 64) + " dkim=" + dkim_result +
                  " header_edits=" + std::to_string(rule_edits) +
                  (plan.new_envelope_from ? " verp=<" + *plan.new_envelope_from + ">" : "") +
                  (tempfail ? " action=tempfail" : "");
  return plan;
}

}  // namespace sluice::milter
