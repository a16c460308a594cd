-- policy_check.lua: the one atomic decision sluice-policyd makes per policy
-- request (RCPT or END-OF-MESSAGE), in one round trip: replay of an earlier
-- answer, suppression lookup, then quota check-all-then-commit-all.
-- Built by common/policy_check.cc (PolicyCheck::build), which alone knows
-- this layout; the key names are documented in doc/redis-schema.md.
--
-- KEYS (ARGV[2] + ARGV[5] + ARGV[6] of them, in this order):
--   idempotency hash of the message (0 or 1 key)      field ARGV[3] -> answer
--   S suppression entry hashes, in lookup order          fields reason, since_ms, expires_ms
--   O quota override hashes, one per quota key string    field "<metric>/<window_s>" -> limit
-- ARGV:
--   [1] stage, "rcpt" or "eom" (for logs and MONITOR only)
--   [2] number of idempotency keys (0 or 1)
--   [3] idempotency field ("rcpt:<recipient>" or "eom:")
--   [4] idempotency record TTL in ms
--   [5] S, number of suppression keys
--   [6] O, number of override keys
--   [7] C, number of quota counters
--   [8] counter slack in ms: counters live until their window ends plus this
--   then S scope labels ("global", "sasl_username alice", "sender_domain example.com"),
--   then C groups of 10: rule name, metric, window in seconds, configured limit,
--     action ("defer"|"reject"), override key index (1..O), amount, charge (0|1),
--     counter key stem ("<prefix>q:<rule>:<metric>:<window_s>:"), quota key string.
--   A counter's key is stem .. window index .. ":" .. key string, where the window
--   index is floor(now_ms / window_ms) from Redis TIME: these keys depend on the
--   time, so they cannot be declared in KEYS (Sluice runs on one primary, no Cluster).
-- Check: a counter fails when used + amount > limit (an override replaces the
-- configured limit). Commit: when every counter passed, each counter with
-- charge = 1 is increased by amount and expires at its window end + slack.
-- Returns (numbers are integers):
--   {"allow", replayed}
--   {"suppressed", replayed, scope label, reason, since_ms, expires_ms}
--   {"over", replayed, rule, metric, window_s, limit, used, reset_at_ms, action}
-- replayed is 1 when the answer is the one recorded for the same idempotency
-- field (nothing is charged then), else 0.

local n_idem = tonumber(ARGV[2])
local idem_field = ARGV[3]
local n_sup = tonumber(ARGV[5])
local n_ctr = tonumber(ARGV[7])
local slack = tonumber(ARGV[8])
local kGroup = 10

-- The stored form of an answer: every element as a string (cjson would round
-- numbers to 14 digits).
local function record(answer)
  local out = {}
  for i, v in ipairs(answer) do
    if type(v) == 'number' then out[i] = string.format('%d', v) else out[i] = v end
  end
  return cjson.encode(out)
end

local function replay(text)
  local stored = cjson.decode(text)
  local status = stored[1]
  local answer = {status, 1}
  local numeric = {}
  if status == 'suppressed' then
    numeric = {[5] = true, [6] = true}
  elseif status == 'over' then
    numeric = {[5] = true, [6] = true, [7] = true, [8] = true}
  end
  for i = 3, #stored do
    if numeric[i] then answer[i] = tonumber(stored[i]) else answer[i] = stored[i] end
  end
  return answer
end

if n_idem == 1 then
  local seen = redis.call('HGET', KEYS[1], idem_field)
  if seen then return replay(seen) end
end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local answer = nil

-- Suppression: the first live entry wins.
for i = 1, n_sup do
  local f = redis.call('HMGET', KEYS[n_idem + i], 'reason', 'since_ms', 'expires_ms')
  if f[1] then
    local expires = tonumber(f[3]) or 0
    if expires == 0 or expires > now_ms then
      answer = {'suppressed', 0, ARGV[8 + i], f[1], tonumber(f[2]) or 0, expires}
      break
    end
  end
end

-- Quotas: check every counter, then commit every charge.
if not answer then
  local base = 8 + n_sup
  local keys = {}
  local ends = {}
  for c = 1, n_ctr do
    local g = base + (c - 1) * kGroup
    local rule, metric, window_s = ARGV[g + 1], ARGV[g + 2], ARGV[g + 3]
    local limit = tonumber(ARGV[g + 4])
    local window_ms = tonumber(window_s) * 1000
    local index = math.floor(now_ms / window_ms)
    local window_end = (index + 1) * window_ms
    local key = ARGV[g + 9] .. string.format('%d', index) .. ':' .. ARGV[g + 10]
    local override = redis.call('HGET', KEYS[n_idem + n_sup + tonumber(ARGV[g + 6])], metric .. '/' .. window_s)
    if override then
      local n = tonumber(override)
      if n and n >= 0 then limit = math.floor(n) end
    end
    local used = tonumber(redis.call('GET', key) or '0') or 0
    if used + tonumber(ARGV[g + 7]) > limit then
      answer = {'over', 0, rule, metric, tonumber(window_s), limit, used, window_end, ARGV[g + 5]}
      break
    end
    keys[c] = key
    ends[c] = window_end
  end
  if not answer then
    for c = 1, n_ctr do
      local g = base + (c - 1) * kGroup
      if ARGV[g + 8] == '1' and tonumber(ARGV[g + 7]) > 0 then
        redis.call('INCRBY', keys[c], ARGV[g + 7])
        redis.call('PEXPIREAT', keys[c], string.format('%d', ends[c] + slack))
      end
    end
    answer = {'allow', 0}
  end
end

if n_idem == 1 then
  redis.call('HSET', KEYS[1], idem_field, record(answer))
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return answer
