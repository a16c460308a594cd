#include "milter/sender_ownership.h"

#include "common/shared_keys.h"

namespace sluice::milter {

std::vector<std::string> ownership_query(std::string_view key_prefix, std::string_view login,
                                         std::string_view from_address, std::string_view from_domain) {
  return {"SMISMEMBER", senders_key(key_prefix, login),
          "@" + std::string(from_domain), std::string(from_address)};
}

Result<bool> login_owns_from(RedisConn& redis, std::string_view key_prefix, std::string_view login,
                             std::string_view from_address, std::string_view from_domain) {
  const std::vector<std::string> query = ownership_query(key_prefix, login, from_address, from_domain);
  std::vector<std::string_view> argv(query.begin(), query.end());
  auto reply = redis.command(argv);
  if (!reply) return reply.error();
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 2) {
    return make_error(Errc::kProtocol, "SMISMEMBER answered " + reply_describe(r));
  }
  for (std::size_t i = 0; i < r.elements; ++i) {
    auto member = reply_integer(*r.element[i]);
    if (!member) return member.error();
    if (*member == 1) return true;
  }
  return false;
}

}  // namespace sluice::milter
