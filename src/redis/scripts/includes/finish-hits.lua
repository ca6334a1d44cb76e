-- Shared by record-hits.lua and add-hits.lua (pasted in by loadScripts at `--- @include`): what a
-- call does once its hits are counted. Both scripts put the same keys and arguments here:
-- KEYS[2] the connection's last-applied-sequence key, ARGV[2] its number, ARGV[3] its lifetime;
-- KEYS[3..5] the minute, hour and day buckets, ARGV[5..7] their lifetimes.

-- Adds `hits` of `path` to the three buckets.
local function countInBuckets(path, hits)
  for b = 3, 5 do redis.call('ZINCRBY', KEYS[b], hits, path) end
end

-- Sets the buckets' lifetimes (when new), adds the call's hits to the live feed's per-second
-- counter, and records the call's last sequence number: the reply may be lost, and this is what
-- the server reads back to learn whether the call was applied.
local function finishHits(buckets, secondKey, secondTtl, total)
  if buckets then
    for b = 3, 5 do redis.call('PEXPIRE', KEYS[b], ARGV[b + 2], 'NX') end
  end
  redis.call('INCRBY', secondKey, total)
  redis.call('PEXPIRE', secondKey, secondTtl, 'NX')
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
