-- policy_check.lua: the one atomic decision sluice-policyd makes per policy
-- request (RCPT or END-OF-MESSAGE), in one round trip: the account's sender
-- authorisation and pause, suppression lookup, quota check-all-then-commit-all,
-- and the idempotency record of a charge.
-- Built by common/policy_check.cc (PolicyCheck::build), which alone knows
-- this layout; the key names are documented in doc/redis-schema.md.
--
-- KEYS (ARGV[2] + ARGV[9] + ARGV[10] + ARGV[5] + ARGV[6] of them, in this order):
--   idempotency hash of the message (0 or 1 key)      field ARGV[3] -> answer
--   pause string of the SASL login (0 or 1 key)       its text: why the account is paused
--   senders set of the SASL login (0 or 1 key)        members: lookup keys, "@domain", "<>"
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
--   [9] number of pause keys (0 or 1)
--   [10] number of senders keys (0 or 1)
--   [11] a login without a senders set: "reject" or "accept"
--   [12] M, number of senders-set members that authorise the sender (0 when no senders key)
--   then M members (the sender's lookup key, "@" .. its domain; or "<>" alone),
--   then S scope labels ("global", "sasl_username alice", "sender_domain example.com"),
--   then C groups of 11: rule name, metric, window in seconds, configured limit,
--     action ("defer"|"reject"), override key index (1..O), override field
--     ("<metric>/<window_s>"), amount, charge (0|1), counter key stem
--     ("<prefix>q:<rule>:<metric>:<window_s>:"), quota key string.
--   A counter's key is stem .. window index .. ":" .. key string, where the window
--   index is floor(now_ms / window_ms) from Redis TIME: these keys depend on the
--   time, so they cannot be declared in KEYS (Sluice runs on one primary, no Cluster).
-- Account checks come first and refuse without charging: the sender must be
-- one of the M members of the senders set (a login without a set: ARGV[11]),
-- then the account must not be paused.
-- Check: a counter fails when used + amount > limit (an override replaces the
-- configured limit). Commit: when every counter passed, each counter with
-- charge = 1 and amount > 0 is increased by amount; a counter created by the
-- commit expires at its window end + slack (an existing one already does).
-- Idempotency: only an answer that charged something is recorded (HSETNX, so
-- a resend that gets this far finds the record and charges nothing). Any
-- other answer charged nothing, so a resend is simply decided again; a
-- refusal first looks for a record, since a resend of a charged request may
-- be refused now (the quota used up meanwhile) but must get its first answer.
-- Returns (numbers are integers):
--   {"allow", replayed}
--   {"unauthorised", replayed, "not-listed" | "no-set"}
--   {"paused", replayed, reason}
--   {"suppressed", replayed, scope label, reason, since_ms, expires_ms}
--   {"over", replayed, rule, metric, window_s, limit, used, reset_at_ms, action}
-- replayed is 1 when the answer is the one recorded for the same idempotency
-- field (nothing is charged then), else 0.
--
-- Cost (the hot path; each redis.call costs far more than the command itself):
-- for an authenticated request GET of the pause key and, with sender
-- authorisation, one or two SISMEMBER (EXISTS too before refusing); then TIME; one EXISTS over every suppression and override key (the usual answer
-- is 0: nothing more to read); one MGET of every counter; and, when admitted
-- and charging, HSETNX + PEXPIRE of the record and one INCRBY (or SET PX for
-- a new counter) per charged counter.

local n_idem = tonumber(ARGV[2])
local n_sup = tonumber(ARGV[5])
local n_ovr = tonumber(ARGV[6])
local n_ctr = tonumber(ARGV[7])
local n_pause = tonumber(ARGV[9])
local n_snd = tonumber(ARGV[10])
local n_members = tonumber(ARGV[12])
local kGroup = 11
-- KEYS before the suppression entries; ARGV before the scope labels.
local k0 = n_idem + n_pause + n_snd
local a0 = 12 + n_members
-- The record of a charged answer (always an admission), as JSON with every
-- element a string, the form earlier versions also wrote and read.
local kAllowRecord = '["allow","0"]'

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

-- The recorded answer to this very request, or nil. Only refusals ask: an
-- admission finds the record through HSETNX.
local function recorded()
  if n_idem == 0 then return nil end
  local seen = redis.call('HGET', KEYS[1], ARGV[3])
  if seen then return replay(seen) end
  return nil
end

-- The account: may this login use this sender, and is it paused? Both
-- refuse before anything is read for the quotas, and charge nothing.
if n_snd == 1 then
  local set = KEYS[n_idem + n_pause + 1]
  local listed = false
  for m = 1, n_members do
    if redis.call('SISMEMBER', set, ARGV[12 + m]) == 1 then
      listed = true
      break
    end
  end
  if not listed then
    if redis.call('EXISTS', set) == 1 then
      return recorded() or {'unauthorised', 0, 'not-listed'}
    end
    if ARGV[11] ~= 'accept' then return recorded() or {'unauthorised', 0, 'no-set'} end
  end
end
if n_pause == 1 then
  local why = redis.call('GET', KEYS[n_idem + 1])
  if why then return recorded() or {'paused', 0, why} end
end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- How many suppression entries and override hashes exist (one key lookup
-- each, one call); usually none, and then none of them is read.
local present = 0
if n_sup + n_ovr > 0 then
  present = redis.call('EXISTS', unpack(KEYS, k0 + 1, k0 + n_sup + n_ovr))
end

-- Suppression: the first live entry wins. `seen` counts entries found, so
-- the reads stop once every existing key is accounted for.
local seen = 0
for i = 1, n_sup do
  if seen >= present then break end
  local f = redis.call('HMGET', KEYS[k0 + i], 'reason', 'since_ms', 'expires_ms')
  if f[1] or f[2] or f[3] then seen = seen + 1 end
  if f[1] then
    local expires = tonumber(f[3]) or 0
    if expires == 0 or expires > now_ms then
      return recorded() or {'suppressed', 0, ARGV[a0 + i], f[1], tonumber(f[2]) or 0, expires}
    end
  end
end

-- Overrides, only when some override hash exists: per key string, field -> limit.
local overrides = nil
if present > seen and n_ovr > 0 then
  overrides = {}
  for o = 1, n_ovr do
    local flat = redis.call('HGETALL', KEYS[k0 + n_sup + o])
    local m = {}
    for j = 1, #flat, 2 do m[flat[j]] = flat[j + 1] end
    overrides[o] = m
  end
end

if n_ctr == 0 then return {'allow', 0} end

-- Quotas: read every counter at once, check every one, then commit every charge.
local base = a0 + n_sup
local keys = {}
local ends = {}
for c = 1, n_ctr do
  local g = base + (c - 1) * kGroup
  local window_ms = tonumber(ARGV[g + 3]) * 1000
  local index = math.floor(now_ms / window_ms)
  ends[c] = (index + 1) * window_ms
  -- index < 2^53 is an integer-valued number: concatenation prints its digits.
  keys[c] = ARGV[g + 10] .. index .. ':' .. ARGV[g + 11]
end
local used = redis.call('MGET', unpack(keys))

local charges = false
for c = 1, n_ctr do
  local g = base + (c - 1) * kGroup
  local limit = tonumber(ARGV[g + 4])
  if overrides then
    local v = overrides[tonumber(ARGV[g + 6])][ARGV[g + 7]]
    if v then
      local n = tonumber(v)
      if n and n >= 0 then limit = math.floor(n) end
    end
  end
  local u = tonumber(used[c]) or 0
  local amount = tonumber(ARGV[g + 8])
  if u + amount > limit then
    return recorded() or {'over', 0, ARGV[g + 1], ARGV[g + 2], tonumber(ARGV[g + 3]), limit, u, ends[c], ARGV[g + 5]}
  end
  if ARGV[g + 9] == '1' and amount > 0 then charges = true end
end

-- Admitted. An admission that charges nothing needs no record: deciding a
-- resend again charges nothing either.
if not charges then return {'allow', 0} end
if n_idem == 1 then
  if redis.call('HSETNX', KEYS[1], ARGV[3], kAllowRecord) == 0 then
    return replay(redis.call('HGET', KEYS[1], ARGV[3]))
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local slack = tonumber(ARGV[8])
local created = {}
for c = 1, n_ctr do
  local g = base + (c - 1) * kGroup
  if ARGV[g + 9] == '1' and ARGV[g + 8] ~= '0' then
    local key = keys[c]
    if used[c] or created[key] then
      redis.call('INCRBY', key, ARGV[g + 8])
    else
      -- A new counter: value and expiry in one call (PX from the same TIME).
      redis.call('SET', key, ARGV[g + 8], 'PX', string.format('%d', ends[c] + slack - now_ms))
      created[key] = true
    end
  end
end
return {'allow', 0}
