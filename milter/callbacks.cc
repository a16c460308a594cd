#include "milter/callbacks.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "common/log.h"
#include "milter/message.h"
#include "milter/runtime.h"
#include "milter/sender_ownership.h"

namespace sluice::milter {
namespace {

// Steps we never need, and steps whose reply the MTA need not wait for: the
// only round trip per message is end of message. Mail that is not outbound
// still streams through (no reply is possible at MAIL to skip it) and is
// accepted unchanged at the end: cheaper than a round trip for every message.
constexpr unsigned long kSkipSteps = SMFIP_NOUNKNOWN | SMFIP_NODATA;
constexpr unsigned long kNoReplySteps = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |
                                        SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY;
// Header values exactly as in the message, leading space included: simple
// canonicalisation depends on it.
constexpr unsigned long kLeadingSpace = SMFIP_HDR_LEADSPC;

struct Connection {
  SnapshotPtr snapshot;
  unsigned long protocol = 0;  // the SMFIP_* flags the MTA agreed to
  std::string client_address;
  std::string helo;
  std::optional<SpfChecker> spf;  // created on first use ([milter] authentication_results)
  std::optional<Message> message;
  // Why this message must be tempfailed at its end: a step that allows no
  // reply (header, body...) failed, so the failure is reported at EOM.
  std::string failure;
  bool failure_is_size = false;  // the header broke a cap: 452 4.3.4
};

Connection* connection_of(SMFICTX* ctx) { return static_cast<Connection*>(smfi_getpriv(ctx)); }

sfsistat step_reply(const Connection* conn, unsigned long no_reply_flag) {
  return conn != nullptr && (conn->protocol & no_reply_flag) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

// No exception may cross into libmilter's C code: anything thrown becomes
// a temporary failure of this message. In a step the MTA expects no reply
// to, a TEMPFAIL would be dropped by libmilter, so the failure is kept on
// the connection and the message is tempfailed at its end instead (never
// signed from half-seen state).
template <class F>
sfsistat guarded(SMFICTX* ctx, const char* step, F&& body) {
  std::string what;
  try {
    return body();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  log_error("milter %s: %s; tempfailing the message", step, what.c_str());
  if (Connection* conn = static_cast<Connection*>(smfi_getpriv(ctx)); conn != nullptr && conn->failure.empty()) {
    conn->failure = std::string("internal error in ") + step;
  }
  return SMFIS_TEMPFAIL;
}

std::string macro(SMFICTX* ctx, const char* name) {
  const char* value = smfi_getsymval(ctx, const_cast<char*>(name));
  return value == nullptr ? std::string() : std::string(value);
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long offered_actions, unsigned long offered_protocol,
                      unsigned long /*f2*/, unsigned long /*f3*/, unsigned long* actions, unsigned long* protocol,
                      unsigned long* p2, unsigned long* p3) {
  return guarded(ctx, "negotiate", [&]() -> sfsistat {
    const SnapshotPtr snapshot = runtime().snapshot();
    unsigned long wanted_actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
    if (snapshot->config->milter.verp) wanted_actions |= SMFIF_CHGFROM;
    for (const ScannerSettings& scanner : snapshot->config->scanners) {
      if (scanner.on_spam == ScanAction::kQuarantine || scanner.on_failure == ScanAction::kQuarantine) {
        wanted_actions |= SMFIF_QUARANTINE;
      }
    }
    if ((offered_actions & wanted_actions) != wanted_actions) {
      log_error("the MTA does not offer the milter actions needed (offered 0x%lx, need 0x%lx)", offered_actions,
                wanted_actions);
      return SMFIS_REJECT;
    }
    auto conn = std::make_unique<Connection>();
    conn->snapshot = snapshot;
    conn->protocol = offered_protocol & (kSkipSteps | kNoReplySteps | kLeadingSpace);
    *actions = wanted_actions;
    *protocol = conn->protocol;
    *p2 = 0;
    *p3 = 0;
    smfi_setpriv(ctx, conn.release());
    return SMFIS_CONTINUE;
  });
}

sfsistat on_connect(SMFICTX* ctx, char* /*hostname*/, _SOCK_ADDR* address) {
  return guarded(ctx, "connect", [&]() -> sfsistat {
    Connection* conn = connection_of(ctx);
    if (conn == nullptr) return SMFIS_TEMPFAIL;
    char text[INET6_ADDRSTRLEN] = "";
    if (address != nullptr && address->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(address)->sin_addr, text, sizeof text);
    } else if (address != nullptr && address->sa_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
    }
    conn->client_address = text;  // empty for local submission (sendmail -bs, pickup)
    return step_reply(conn, SMFIP_NR_CONN);
  });
}

sfsistat on_helo(SMFICTX* ctx, char* helo) {
  return guarded(ctx, "helo", [&]() -> sfsistat {
    Connection* conn = connection_of(ctx);
    if (conn == nullptr) return SMFIS_TEMPFAIL;
    conn->helo = helo != nullptr ? std::string(helo).substr(0, 255) : std::string();
    return step_reply(conn, SMFIP_NR_HELO);
  });
}

// The SPF result of the client for MAIL FROM, for Authentication-Results.
// libspf2 blocks on DNS: fine here, each SMTP connection has its thread.
void check_spf(Connection& conn, Message& message) {
  if (!conn.snapshot->config->milter.authentication_results || conn.client_address.empty()) return;
  if (!conn.spf) {
    auto checker = SpfChecker::create();
    if (!checker) {
      log_warn("SPF checker unavailable: %s", checker.error().detail.c_str());
      return;
    }
    conn.spf.emplace(std::move(checker).value());
  }
  message.set_spf(conn.spf->check(conn.client_address, conn.helo, message.envelope().mail_from));
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
  return guarded(ctx, "envfrom", [&]() -> sfsistat {
    Connection* conn = connection_of(ctx);
    if (conn == nullptr) return SMFIS_TEMPFAIL;
    Envelope envelope;
    envelope.client_address = conn->client_address;
    envelope.helo = conn->helo;
    envelope.auth_authen = macro(ctx, "{auth_authen}");
    std::string sender = argv != nullptr && argv[0] != nullptr ? argv[0] : "";
    if (sender.size() >= 2 && sender.front() == '<' && sender.back() == '>') sender = sender.substr(1, sender.size() - 2);
    envelope.mail_from = sender;
    conn->failure.clear();
    conn->failure_is_size = false;
    conn->message.emplace(conn->snapshot, std::move(envelope), runtime().next_tracking_id());
    if (!conn->message->outbound()) {
      log_debug("from=<%s> client=%s: not authenticated nor internal, accepted untouched",
                log_escape(sender).c_str(), conn->client_address.c_str());
      conn->message.reset();
      // Without a MAIL reply we cannot accept here; the rest of the message
      // passes through with no state kept, and end of message accepts it.
      return (conn->protocol & SMFIP_NR_MAIL) != 0 ? SMFIS_NOREPLY : SMFIS_ACCEPT;
    }
    check_spf(*conn, *conn->message);
    return step_reply(conn, SMFIP_NR_MAIL);
  });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
  return guarded(ctx, "envrcpt", [&]() -> sfsistat {
    Connection* conn = connection_of(ctx);
    if (conn != nullptr && conn->message) {
      std::string_view rcpt = argv != nullptr && argv[0] != nullptr ? argv[0] : "";
      if (rcpt.size() >= 2 && rcpt.front() == '<' && rcpt.back() == '>') rcpt = rcpt.substr(1, rcpt.size() - 2);
      conn->message->add_recipient(rcpt.substr(0, 512));
    }
    return step_reply(conn, SMFIP_NR_RCPT);
  });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
  return guarded(ctx, "header", [&]() -> sfsistat {
    Connection* conn = connection_of(ctx);
    if (conn != nullptr && conn->message && conn->failure.empty()) {
      std::string_view text = value != nullptr ? value : "";
      std::string with_space;
      if ((conn->protocol & SMFIP_HDR_LEADSPC) == 0) {
        // An MTA without leading-space support strips one space; put it
        // back so the value is what the message carries.
        with_space = " " + std::string(text);
        text = with_space;
      }
      if (Status added = conn->message->header(name != nullptr ? name : "", text); !added) {
        conn->failure = added.error().detail;
        conn->failure_is_size = true;
      }
    }
    return step_reply(conn, SMFIP_NR_HDR);
  });
}

sfsistat on_eoh(SMFICTX* ctx) {
  return guarded(ctx, "eoh", [&]() -> sfsistat {
    Connection* conn = connection_of(ctx);
    if (conn != nullptr && conn->message && conn->failure.empty()) {
      Message& message = *conn->message;
      message.end_of_headers();
      if (message.needs_ownership_check()) {
        const Config& config = *conn->snapshot->config;
        auto redis = conn->snapshot->redis->acquire();
        auto owned = login_owns_from(*redis, config.redis.key_prefix, message.envelope().auth_authen,
                                     message.from_address(), message.from_domain());
        if (!owned) {
          message.set_from_ownership(FromOwnership::kUnknown, owned.error().detail);
        } else {
          message.set_from_ownership(*owned ? FromOwnership::kOwned : FromOwnership::kNotOwned);
        }
      }
    }
    return step_reply(conn, SMFIP_NR_EOH);
  });
}

sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t length) {
  return guarded(ctx, "body", [&]() -> sfsistat {
    Connection* conn = connection_of(ctx);
    if (conn != nullptr && conn->message && conn->failure.empty()) {
      conn->message->body(std::string_view(reinterpret_cast<const char*>(chunk), length));
    }
    return step_reply(conn, SMFIP_NR_BODY);
  });
}

// Milter header values fold with a bare LF: Postfix and Sendmail turn each
// LF into the message's CRLF themselves (a CRLF would arrive as CR CR LF).
std::string milter_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') continue;
    out += value[i];
  }
  return out;
}

bool apply(SMFICTX* ctx, const EomPlan& plan, std::string& failure) {
  for (const HeaderChange& change : plan.changes) {
    const std::string value = change.value ? milter_value(*change.value) : std::string();
    if (smfi_chgheader(ctx, const_cast<char*>(change.name.c_str()), change.index,
                       change.value ? const_cast<char*>(value.c_str()) : nullptr) != MI_SUCCESS) {
      failure = "chgheader " + change.name;
      return false;
    }
  }
  for (const HeaderField& field : plan.additions) {
    const std::string value = milter_value(field.value);
    if (smfi_addheader(ctx, const_cast<char*>(field.name.c_str()), const_cast<char*>(value.c_str())) != MI_SUCCESS) {
      failure = "addheader " + field.name;
      return false;
    }
  }
  // Inserting at index 0 pushes earlier insertions down: go last to first
  // so plan.prepend[0] ends up on top.
  for (auto it = plan.prepend.rbegin(); it != plan.prepend.rend(); ++it) {
    const std::string value = milter_value(it->value);
    if (smfi_insheader(ctx, 0, const_cast<char*>(it->name.c_str()), const_cast<char*>(value.c_str())) != MI_SUCCESS) {
      failure = "insheader " + it->name;
      return false;
    }
  }
  if (plan.quarantine_reason &&
      smfi_quarantine(ctx, const_cast<char*>(plan.quarantine_reason->c_str())) != MI_SUCCESS) {
    failure = "quarantine";
    return false;
  }
  if (plan.new_envelope_from) {
    const std::string from = "<" + *plan.new_envelope_from + ">";
    if (smfi_chgfrom(ctx, const_cast<char*>(from.c_str()), nullptr) != MI_SUCCESS) {
      failure = "chgfrom";
      return false;
    }
  }
  return true;
}

// The message's Redis records, one round trip once the MTA has its answer.
// Losing them costs statistics and bounce mapping, never the message.
void write_records(Connection& conn, const EomPlan& plan) {
  if (plan.redis_writes.empty()) return;
  auto redis = conn.snapshot->redis->acquire();
  auto replies = redis->pipeline(plan.redis_writes);
  if (!replies) {
    if (conn.snapshot->redis->should_warn()) {
      log_warn("message records not written (%s): %s; next warning in a minute at the earliest",
               redis->endpoint().c_str(), replies.error().detail.c_str());
    }
    return;
  }
  for (const RedisReplyPtr& reply : *replies) {
    if (const std::string_view error = reply_error(*reply); !error.empty()) {
      log_warn("message records: Redis answered %s", log_escape(error, 120).c_str());
      return;
    }
  }
}

sfsistat on_eom(SMFICTX* ctx) {
  return guarded(ctx, "eom", [&]() -> sfsistat {
    Connection* conn = connection_of(ctx);
    if (conn == nullptr || !conn->message) return SMFIS_CONTINUE;
    const std::string queue_id = macro(ctx, "i");
    if (!conn->failure.empty()) {
      log_warn("%s: %s; tempfailing", queue_id.empty() ? "NOQUEUE" : queue_id.c_str(), conn->failure.c_str());
      if (conn->failure_is_size) {
        smfi_setreply(ctx, const_cast<char*>("452"), const_cast<char*>("4.3.4"),
                      const_cast<char*>("Message header too large to process"));
      } else {
        smfi_setreply(ctx, const_cast<char*>("451"), const_cast<char*>("4.3.0"),
                      const_cast<char*>("Temporary failure in the signing service, try again later"));
      }
      conn->message.reset();
      return SMFIS_TEMPFAIL;
    }
    conn->message->run_scans(queue_id);
    const EomPlan plan = conn->message->finish(queue_id, static_cast<std::int64_t>(std::time(nullptr)));
    conn->message.reset();
    if (plan.reply != EomPlan::Reply::kContinue) {
      const bool reject = plan.reply == EomPlan::Reply::kReject;
      (reject ? log_info : log_warn)("%s", plan.log_line.c_str());
      const std::string enhanced = plan.reply_text.substr(0, plan.reply_text.find(' '));
      std::string text;  // libmilter formats the text: a '%' must be doubled
      for (char ch : plan.reply_text.substr(plan.reply_text.find(' ') + 1)) text += ch == '%' ? "%%" : std::string(1, ch);
      smfi_setreply(ctx, const_cast<char*>(reject ? "550" : "451"), const_cast<char*>(enhanced.c_str()),
                    const_cast<char*>(text.c_str()));
      write_records(*conn, plan);
      return reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
    }
    std::string failure;
    if (!apply(ctx, plan, failure)) {
      // Half-applied edits or a missing signature must not leave the relay.
      log_error("%s; the MTA refused %s: tempfailing", plan.log_line.c_str(), failure.c_str());
      return SMFIS_TEMPFAIL;
    }
    write_records(*conn, plan);
    log_info("%s", plan.log_line.c_str());
    return SMFIS_CONTINUE;
  });
}

sfsistat on_abort(SMFICTX* ctx) {
  return guarded(ctx, "abort", [&]() -> sfsistat {
    if (Connection* conn = connection_of(ctx)) conn->message.reset();
    return SMFIS_CONTINUE;
  });
}

sfsistat on_close(SMFICTX* ctx) {
  // close always comes, abort or not: the connection's state dies here.
  std::unique_ptr<Connection> conn{connection_of(ctx)};
  smfi_setpriv(ctx, nullptr);
  return SMFIS_CONTINUE;
}

}  // namespace

smfiDesc milter_description() {
  smfiDesc desc{};
  desc.xxfi_name = const_cast<char*>("sluice-milter");
  desc.xxfi_version = SMFI_VERSION;
  // What we may ever use; each connection negotiates only what its
  // configuration needs (CHGFROM only with verp = yes, QUARANTINE only when a
// scanner may quarantine).
  desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGFROM | SMFIF_QUARANTINE;
  desc.xxfi_connect = on_connect;
  desc.xxfi_helo = on_helo;
  desc.xxfi_envfrom = on_envfrom;
  desc.xxfi_envrcpt = on_envrcpt;
  desc.xxfi_header = on_header;
  desc.xxfi_eoh = on_eoh;
  desc.xxfi_body = on_body;
  desc.xxfi_eom = on_eom;
  desc.xxfi_abort = on_abort;
  desc.xxfi_close = on_close;
  desc.xxfi_negotiate = on_negotiate;
  return desc;
}

}  // namespace sluice::milter
