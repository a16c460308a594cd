// Does a SASL login own a From address? The answer is in Redis, in the set
// {prefix}senders:{login} that `sluicectl sender allow` fills (shared with
// sluice-policyd's envelope sender check): a member "@domain" owns every
// address at that domain, a member "local@domain" that one address.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/redis_conn.h"
#include "common/result.h"

namespace sluice::milter {

// The command that asks: SMISMEMBER key @domain address.
std::vector<std::string> ownership_query(std::string_view key_prefix, std::string_view login,
                                         std::string_view from_address, std::string_view from_domain);

// True when either member is in the set; an Error when Redis cannot say.
Result<bool> login_owns_from(RedisConn& redis, std::string_view key_prefix, std::string_view login,
                             std::string_view from_address, std::string_view from_domain);

}  // namespace sluice::milter
