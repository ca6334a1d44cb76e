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
-- ARGV[10 …] group after group: path, hits, k, then k visitor hashes
-- Returns  each group's path's new all-time count, in order
local n = tonumber(ARGV[1])
local buckets = ARGV[4] == '1'
local visitors = ARGV[8] ~= ''
local counts = {}
local total = 0
local at = 10
for i = 1, n do
  local path, hits, k = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  counts[i] = redis.call('ZINCRBY', KEYS[1], hits, path)
  if buckets then
    for b = 3, 5 do redis.call('ZINCRBY', KEYS[b], hits, path) end
  end
  if visitors and k > 0 then
    redis.call('PFADD', KEYS[6 + i], unpack(ARGV, at + 3, at + 2 + k))
    redis.call('PEXPIRE', KEYS[6 + i], ARGV[8], 'NX')
  end
  total = total + tonumber(hits)
  at = at + 3 + k
end
if buckets then
  for b = 3, 5 do redis.call('PEXPIRE', KEYS[b], ARGV[b + 2], 'NX') end
end
redis.call('INCRBY', KEYS[6], total)
redis.call('PEXPIRE', KEYS[6], ARGV[9], 'NX')
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return counts
