-- Takes back one hit that Redis applied after the client had already been answered 503 (its
-- command timed out or its connection died first). Idempotent per hit: retrying a retraction
-- whose outcome is unknown never takes back twice.
--
-- KEYS[1]  the hits sorted set
-- KEYS[2]  the set of sequence numbers already retracted for that connection
-- ARGV[1]  the normalized path
-- ARGV[2]  the hit's sequence number on its connection
-- ARGV[3]  how long the retracted set lives (ms)
-- Returns  1 when the hit was taken back now, 0 when it had been already
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local left = tonumber(redis.call('ZINCRBY', KEYS[1], -1, ARGV[1]))
if left <= 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
