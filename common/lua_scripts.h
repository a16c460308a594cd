// The Lua scripts Sluice runs in Redis, one per file in common/lua/ (each
// opens with its KEYS, ARGV and return). common/lua/embed.sh compiles them
// into the library as raw string literals (lua_scripts.cc in the build
// directory), so programs need no script files at run time.
//
// Each function returns one process-wide RedisScript (created on first use,
// thread-safe, immutable). Only the stores and PolicyCheck, which know the
// key layout (doc/redis-schema.md), call these.
#pragma once

#include "common/redis_script.h"

namespace sluice {

// lua/policy_check.lua: suppression lookup + quota check and charge, per request.
const RedisScript& policy_check_script();
// lua/suppression_add.lua: add or update one suppression entry and its indexes.
const RedisScript& suppression_add_script();
// lua/suppression_prune.lua: drop expired entries from a list's indexes.
const RedisScript& suppression_prune_script();

}  // namespace sluice
