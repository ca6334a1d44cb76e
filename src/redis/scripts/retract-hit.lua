-- Takes back one hit that Redis applied after the client had already been answered 503 (its
-- command timed out or its connection died first): from the all-time ranking and from the
-- buckets it counted in, and from the live feed's counter of the second it was counted in.
-- Idempotent per hit: retrying a retraction whose outcome is unknown never takes back twice. (A
-- visitor added to a HyperLogLog cannot be taken out; the event stays in the log.)
--
-- KEYS[1]  the hits sorted set
-- KEYS[2]  the set of sequence numbers already retracted for that connection
-- KEYS[3], KEYS[4], KEYS[5]  the hit's minute, hour and day buckets
-- KEYS[6]  the hits-per-second counter of the hit's second (record-hits.lua's KEYS[7])
-- ARGV[1]  the normalized path
-- ARGV[2]  the hit's sequence number on its connection
-- ARGV[3]  how long the retracted set lives (ms)
-- ARGV[4]  '1' when the hit was counted in the buckets
-- Returns  1 when the hit was taken back now, 0 when it had been already, -1 when there was
--          nothing to take back
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
-- A path the ranking does not hold was never counted by this hit (record-hits.lua refused it at
-- api.maxPaths, -1 in its reply) or has been erased since (DELETE /stats): taking it back would
-- only push the live feed's counter below what was counted.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return -1
end
local last = ARGV[4] == '1' and 5 or 1
for i = 1, last do
  if i ~= 2 then
    local left = tonumber(redis.call('ZINCRBY', KEYS[i], -1, ARGV[1]))
    if left <= 0 then
      redis.call('ZREM', KEYS[i], ARGV[1])
    end
  end
end
-- A counter already expired stays gone: DECRBY would create it at -1, without a lifetime.
if redis.call('EXISTS', KEYS[6]) == 1 then
  redis.call('DECRBY', KEYS[6], 1)
end
return 1
