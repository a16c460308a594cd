-- feedback_apply.lua: applies one report (a bounce or a complaint for one
-- recipient) exactly once, atomically (bounce/feedback_store.cc). Run with
-- common/lua/suppression_add.lua prepended as the local function
-- suppression_add(KEYS, ARGV), so entries are written exactly as
-- SuppressionStore::add writes them.
--
-- KEYS[1] report marker     {p}report:{sha256}, "1" with a TTL: applied already
-- KEYS[2] soft counter      {p}soft:{account-or-domain}:{recipient}
-- KEYS[3] suppression entry, KEYS[4] its name index, KEYS[5] its expiry index
-- ARGV[1] report_ttl_ms
-- ARGV[2] kind: hard | soft | block | complaint (also the reputation field)
-- ARGV[3] reputation key stem "{p}rep:{account}:" ("" : no account, no bucket);
--         the hour (TIME / 3600) is appended here, from Redis's clock
-- ARGV[4] reputation bucket TTL, seconds
-- ARGV[5] soft_bounce_window_ms
-- ARGV[6] soft_bounce_limit
-- ARGV[7] soft_suppress_for_ms
-- ARGV[8] recipient (lookup key), ARGV[9] tracking id, ARGV[10] note
-- Returns {state, soft_count, suppression}: state "applied" or "duplicate"
-- (nothing written); suppression 0 none, 1 written, 2 a permanent entry
-- was there already (kept as it was). An error reply, with nothing
-- written, when a key has the wrong type.
--
-- All or nothing: Redis does not roll a script back, so every check that
-- could fail a later write (key types) runs before the first write. Past
-- the first write, Redis does not refuse a script's writes for maxmemory.

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local kind = ARGV[2]
local bucket = nil
if ARGV[3] ~= '' then
  bucket = ARGV[3] .. string.format('%d', math.floor(tonumber(t[1]) / 3600))
end

local function check_type(key, want)
  local got = redis.call('TYPE', key)['ok']
  if got ~= 'none' and got ~= want then
    return redis.error_reply('WRONGTYPE feedback_apply: ' .. key .. ' is a ' .. got .. ', not a ' .. want)
  end
  return nil
end
local problem = check_type(KEYS[1], 'string') or check_type(KEYS[2], 'string') or
                check_type(KEYS[3], 'hash') or check_type(KEYS[4], 'zset') or check_type(KEYS[5], 'zset') or
                (bucket and check_type(bucket, 'hash'))
if problem then return problem end
local soft_now = redis.call('GET', KEYS[2])
if soft_now and not tonumber(soft_now) then
  return redis.error_reply('ERR feedback_apply: ' .. KEYS[2] .. ' is not a counter')
end

if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return {'duplicate', 0, 0}
end

if bucket then
  redis.call('HINCRBY', bucket, kind, 1)
  redis.call('EXPIRE', bucket, ARGV[4])
end

local soft = 0
local reason = nil
local expires = '0'
if kind == 'hard' then
  reason = 'hard-bounce'
elseif kind == 'complaint' then
  reason = 'complaint'
elseif kind == 'soft' then
  soft = redis.call('INCR', KEYS[2])
  if soft == 1 or redis.call('PTTL', KEYS[2]) < 0 then
    redis.call('PEXPIRE', KEYS[2], ARGV[5])
  end
  if soft >= tonumber(ARGV[6]) then
    reason = 'soft-bounce'
    expires = string.format('%d', now_ms + tonumber(ARGV[7]))
  end
end

if not reason then return {'applied', soft, 0} end
-- A permanent entry (hard bounce, complaint, unsubscribe, manual) is never
-- replaced: not by an expiring soft-bounce one, nor by a new reason.
local existing = redis.call('HGET', KEYS[3], 'expires_ms')
if existing == '0' then return {'applied', soft, 2} end
local added = suppression_add({KEYS[3], KEYS[4], KEYS[5]},
                              {ARGV[8], reason, '0', expires, ARGV[9], ARGV[10], '0'})
if added[1] == 'expired' then return {'applied', soft, 0} end  -- cannot happen: soft_suppress_for >= 1h
return {'applied', soft, 1}
