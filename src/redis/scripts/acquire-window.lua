-- Admits a custom window's cached unions under the global budget (analytics.maxCachedWindows):
-- each distinct window costs Redis a copy of its ranking (one ZUNIONSTORE per shard), so at most
-- `max` distinct custom windows are registered at once. Registrations end on their own after the
-- cache lifetime; a window already registered is shared (and its registration renewed), whoever
-- asks. Times are Redis's own (TIME), the clock the unions' PEXPIREAT is set on, so a union never
-- outlives its registration and the unions alive never outnumber the registrations.
--
-- KEYS[1]  the registry: a sorted set, member = window id, score = when its registration ends (ms)
-- ARGV[1]  the window's id
-- ARGV[2]  how long a registration lasts (ms): analytics.windowCacheSeconds and the read grace
-- ARGV[3]  the budget: how many windows may be registered at once
-- Returns  { 1, ends at (ms) } when admitted (the unions are to expire then),
--          { 0, ms until the earliest registration ends } when the budget is spent
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ends = now + tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local registered = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not registered and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local earliest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return { 0, tonumber(earliest[2]) - now }
end
redis.call('ZADD', KEYS[1], ends, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return { 1, ends }
