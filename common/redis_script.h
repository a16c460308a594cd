// RedisScript: a Lua script run by SHA (EVALSHA), loaded on demand.
//
// Owns: the script's name (for logs), source and SHA1. The SHA1 is computed
// locally (OpenSSL EVP), lowercase hex, so it is known without a round trip
// and equals what SCRIPT LOAD answers.
//
// Guarantees: eval() sends EVALSHA; on a NOSCRIPT error reply (Redis
// restarted, failed over, or SCRIPT FLUSH) it sends SCRIPT LOAD, checks the
// SHA Redis returns, and sends EVALSHA once more: never more than three round
// trips, never a retry of a script that ran. Every other error reply (the
// script's redis.error_reply, WRONGTYPE, OOM, a compile error from SCRIPT
// LOAD) is returned as the reply for the caller to judge. Transport failures
// are RedisConn's Errors. Immutable after construction: safe to share between
// threads (each thread with its own RedisConn).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/redis_conn.h"
#include "common/result.h"

namespace sluice {

class RedisScript {
 public:
  RedisScript(std::string name, std::string source);

  const std::string& name() const { return name_; }
  const std::string& sha1() const { return sha1_; }
  const std::string& source() const { return source_; }

  // EVALSHA sha1 numkeys keys... args..., loading the script on NOSCRIPT.
  Result<RedisReplyPtr> eval(RedisConn& conn, std::span<const std::string> keys,
                             std::span<const std::string> args) const;
  // SCRIPT LOAD at start-up, so the first eval needs one round trip. An error
  // reply (compile error) is kInternal: the scripts ship with Sluice.
  Status load(RedisConn& conn) const;

 private:
  Result<RedisReplyPtr> load_reply(RedisConn& conn) const;

  std::string name_;
  std::string source_;
  std::string sha1_;
};

// Lowercase hex SHA1 of `data`, as Redis names scripts.
std::string sha1_hex(std::string_view data);

}  // namespace sluice
