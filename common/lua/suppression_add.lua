-- suppression_add.lua: adds or updates one suppression entry and keeps the
-- list's two indexes in step with it, atomically (common/suppression_store.cc).
--
-- KEYS[1] entry hash      fields reason, since_ms, expires_ms, tracking_id, note
-- KEYS[2] name index      sorted set, every member at score 0 (ordered by name, for export)
-- KEYS[3] expiry index    sorted set, score = expires_ms, only entries that expire
-- ARGV[1] recipient (lookup key; the member of both indexes)
-- ARGV[2] reason
-- ARGV[3] since_ms, "0" for now (Redis TIME)
-- ARGV[4] expires_ms, "0" for never
-- ARGV[5] tracking_id (may be empty)
-- ARGV[6] note (may be empty)
-- ARGV[7] "1": since_ms replaces the since of an existing entry; "0": an
--         existing entry keeps its original since (every other field is replaced)
-- Returns {created (1|0), since_ms}, or {"expired"} when expires_ms is not in
-- the future (nothing is written then).

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = tonumber(ARGV[4])
if expires ~= 0 and expires <= now_ms then return {'expired'} end

local old_since = redis.call('HGET', KEYS[1], 'since_ms')
local since = tonumber(ARGV[3])
if since == 0 then since = now_ms end
if old_since and ARGV[7] ~= '1' then since = tonumber(old_since) end

redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'reason', ARGV[2], 'since_ms', string.format('%d', since),
           'expires_ms', ARGV[4], 'tracking_id', ARGV[5], 'note', ARGV[6])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if expires == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
end
if old_since then return {0, since} end
return {1, since}
