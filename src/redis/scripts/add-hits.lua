-- Write-behind mode: adds flushed groups of hits (each: one path's hits in one minute; all groups of
-- a call in the same minute) everywhere they count, in one atomic call, and records the sending
-- connection's last-applied sequence number, as record-hits.lua does, so a flush whose reply was
-- lost can be resolved exactly: re-sent if Redis did not apply it, never sent twice. The call's hits
-- also go to the live feed's counter of the second they are flushed in (GET /stats/stream).
-- Needs Redis >= 7.0 (PEXPIRE … NX).
--
-- KEYS[1]  the hits sorted set (all time)
-- KEYS[2]  this connection's last-applied-sequence key
-- KEYS[3]  the minute bucket    KEYS[4]  the hour bucket    KEYS[5]  the day bucket
-- KEYS[6]  the hits-per-second counter of the second of the flush
-- KEYS[6+i] the visitors HyperLogLog of group i's path for the day (only when ARGV[8] is not '')
-- ARGV[1]  n, how many groups
-- ARGV[2]  the sequence number of the last group of the call on this connection
-- ARGV[3]  how long the sequence key lives (ms)
-- ARGV[4]  '1' to count in the buckets, '0' not to
-- ARGV[5], ARGV[6], ARGV[7]  minute, hour and day bucket lifetimes (ms), set when a bucket is created
-- ARGV[8]  the HyperLogLogs' lifetime (ms), or '' when visitors are not counted
-- ARGV[9]  the per-second counter's lifetime (ms), set when it is created
-- ARGV[10] the most distinct paths KEYS[1] may hold, or '0' for no cap (api.maxPaths)
-- ARGV[11] the member that counts the hits of new paths past that cap. The hits were acknowledged
--          before they reached Redis, so they cannot be refused as record-hits.lua refuses them:
--          they are counted, but under this one member, and KEYS[1] holds at most ARGV[10] + 1.
-- ARGV[12 …] group after group: path, hits, k, then k visitor hashes
-- Returns  each group's path's new all-time count, or -1 for a group counted under ARGV[11], in order
--- @include "finish-hits"
--- @include "path-cap"
local n = tonumber(ARGV[1])
local buckets = ARGV[4] == '1'
local visitors = ARGV[8] ~= ''
local maxPaths = tonumber(ARGV[10])
local counts = {}
local total = 0
local at = 12
for i = 1, n do
  local path, hits, k = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  local past = pastPathCap(KEYS[1], maxPaths, path)
  if past then path = ARGV[11] end
  counts[i] = redis.call('ZINCRBY', KEYS[1], hits, path)
  if past then counts[i] = -1 end
  if buckets then countInBuckets(path, hits) end
  -- Past the cap no visitors key is made for the path: that would grow without bound too.
  if visitors and k > 0 and not past then
    redis.call('PFADD', KEYS[6 + i], unpack(ARGV, at + 3, at + 2 + k))
    redis.call('PEXPIRE', KEYS[6 + i], ARGV[8], 'NX')
  end
  total = total + tonumber(hits)
  at = at + 3 + k
end
finishHits(buckets, KEYS[6], ARGV[9], total)
return counts
