-- suppression_prune.lua: drops expired entries from a suppression list's
-- indexes (the entries themselves expire on their own, by PEXPIREAT), so that
-- listing and counting never show them (common/suppression_store.cc).
--
-- KEYS[1] name index      sorted set of recipients, score 0
-- KEYS[2] expiry index    sorted set of recipients, score = expires_ms
-- ARGV[1] at most this many members are removed per call
-- Returns the number removed; the caller calls again while it equals ARGV[1].

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now_ms), 'LIMIT', 0, tonumber(ARGV[1]))
if #gone == 0 then return 0 end
redis.call('ZREM', KEYS[1], unpack(gone))
redis.call('ZREM', KEYS[2], unpack(gone))
return #gone
