-- Counts a batch of hits (the ones that arrived in one turn of the server's event loop, all in the
-- same second), each everywhere it counts, in one atomic call: the all-time ranking, the
-- minute/hour/day buckets, the day's visitors HyperLogLog of the path and the event stream (each
-- optional); and adds the batch to its second's counter, which the live feed (GET /stats/stream)
-- samples. One call per batch instead of one per hit is what keeps Redis's and the client's
-- CPU per hit low; atomicity means a batch is applied whole or not at all. The hits of one path
-- are counted together, by one ZINCRBY by k (in the ranking and in each bucket) and one PFADD,
-- and each hit is still answered with its own running total: T-k+1 … T.
-- It also records, for the sending connection, the sequence number of the batch's last hit: if the
-- connection dies or a call times out before its reply arrives, the server reads it back to learn
-- exactly which of its unanswered hits Redis applied (one connection's commands apply in order, so
-- they are the ones numbered up to it). Needs Redis >= 7.0 (PEXPIRE … NX).
--
-- KEYS[1]  the hits sorted set (all time)
-- KEYS[2]  this connection's last-applied-sequence key
-- KEYS[3]  the minute bucket    KEYS[4]  the hour bucket    KEYS[5]  the day bucket
-- KEYS[6]  the event stream
-- KEYS[7]  the hits-per-second counter of the batch's second (all its hits fall in one second)
-- KEYS[7+i] the visitors HyperLogLog of hit i's path for the day (only when ARGV[8] is not '')
-- ARGV[1]  n, how many hits
-- ARGV[2]  the sequence number of the last hit of the batch on this connection
-- ARGV[3]  how long the sequence key lives (ms)
-- ARGV[4]  '1' to count in the buckets, '0' not to
-- ARGV[5], ARGV[6], ARGV[7]  minute, hour and day bucket lifetimes (ms), set when a bucket is created
-- ARGV[8]  the HyperLogLogs' lifetime (ms), or '' when visitors are not counted
-- ARGV[9]  the stream's approximate maximum length, or '0' for no event log
-- ARGV[10] the per-second counter's lifetime (ms), set when it is created
-- ARGV[11] the most distinct paths KEYS[1] may hold, or '0' for no cap: a hit of a path not in it
--          while it holds that many is refused (counted nowhere, -1 in the reply). Checked here, in
--          the one atomic call, so the cap is exact however many hits race for the last places.
-- ARGV[12+f(i-1) …] hit i, f fields. With the event log (f = 7): path, visitor hash, time (ms since
--          the epoch), method, referrer, user agent, and the path as the event keeps it when cut to
--          events.maxPathBytes ('' when it is the whole path). Without (f = 2): path, visitor hash.
-- Returns  each hit's path's new all-time count, as ZINCRBY reports it, or -1 if refused, in order
--- @include "finish-hits"
--- @include "add-event"
--- @include "path-cap"
local n = tonumber(ARGV[1])
local buckets = ARGV[4] == '1'
local visitors = ARGV[8] ~= ''
local events = ARGV[9] ~= '0'
local maxPaths = tonumber(ARGV[11])
local f = events and 7 or 2

-- The batch's paths in order of first appearance, each with its number of hits k.
local order, of = {}, {}
for i = 1, n do
  local path = ARGV[12 + (i - 1) * f]
  local entry = of[path]
  if entry then
    entry.k = entry.k + 1
  else
    of[path] = { k = 1, seen = 0, key = KEYS[7 + i], visitors = {} }
    order[#order + 1] = path
  end
end

-- Each path counted once, by k. A new path past the cap is refused with all its hits (-1).
local counted = 0
for _, path in ipairs(order) do
  local entry = of[path]
  if pastPathCap(KEYS[1], maxPaths, path) then
    entry.total = -1
  else
    entry.total = tonumber(redis.call('ZINCRBY', KEYS[1], entry.k, path))
    counted = counted + entry.k
    if buckets then countInBuckets(path, entry.k) end
  end
end

-- Each hit in order: its own running total, its visitor, its event.
local counts = {}
for i = 1, n do
  local at = 12 + (i - 1) * f
  local entry = of[ARGV[at]]
  if entry.total < 0 then
    counts[i] = -1
  else
    entry.seen = entry.seen + 1
    counts[i] = entry.total - entry.k + entry.seen
    if visitors and ARGV[at + 1] ~= '' then entry.visitors[#entry.visitors + 1] = ARGV[at + 1] end
    if events then
      local fields = { 't', ARGV[at + 2], 'method', ARGV[at + 3], 'path', ARGV[at + 6] ~= '' and ARGV[at + 6] or ARGV[at], 'status', '200',
                       'referrer', ARGV[at + 4], 'ua', ARGV[at + 5], 'visitor', ARGV[at + 1] }
      addEvent(KEYS[6], ARGV[9], ARGV[at + 2], fields)
    end
  end
end

if visitors then
  for _, path in ipairs(order) do
    local entry = of[path]
    if #entry.visitors > 0 then
      redis.call('PFADD', entry.key, unpack(entry.visitors))
      redis.call('PEXPIRE', entry.key, ARGV[8], 'NX')
    end
  end
end
finishHits(buckets, KEYS[7], ARGV[10], counted)
return counts
