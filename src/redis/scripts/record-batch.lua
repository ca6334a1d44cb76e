-- Counts the hits of one POST /hits batch that fall in one shard, together with the batch's record
-- (its Idempotency-Key), in one atomic call: the batch is either counted whole and recorded, or not
-- at all. A record already there means the batch was counted before (a retry whose first reply was
-- lost, or a concurrent copy of it): nothing is counted again, and the record's answer is returned.
-- A record whose fingerprint differs means the key was used for another batch: nothing is counted.
-- Each hit counts everywhere a hit of /api/* does: the all-time ranking (under the same path cap),
-- the minute/hour/day buckets of its own time, its day's visitors HyperLogLog, the event stream;
-- and the call's hits go to the live feed's counter of the second they are counted in.
-- Unlike record-hits.lua, whose hits share one second (and so one set of bucket keys, which the
-- finish-hits include works with), a batch's hits carry their own times: each hit names its bucket
-- and visitors keys by index, and the record is the batch's answer, written last: so not that
-- include, only the event one.
-- Needs Redis >= 7.0 (PEXPIRE … NX).
--
-- KEYS[1]  the hits sorted set (all time)
-- KEYS[2]  the batch's record (keys.batch(Idempotency-Key))
-- KEYS[3]  the event stream
-- KEYS[4]  the hits-per-second counter of the second the batch is counted in
-- KEYS[4+j] (j = 1 … m) the bucket and visitors keys the hits count in, each once
-- ARGV[1]  n, how many hits
-- ARGV[2]  the fingerprint of the batch's body
-- ARGV[3]  how long the record lives (ms)
-- ARGV[4]  the per-second counter's lifetime (ms), set when it is created
-- ARGV[5]  the most distinct paths KEYS[1] may hold, or '0' for no cap: a hit of a path not in it
--          while it holds that many is refused (counted nowhere, dropped as path_cap)
-- ARGV[6]  the stream's approximate maximum length, or '0' for no event log
-- ARGV[7]  the method the event log records
-- ARGV[8]  hits of the batch dropped before this call, as `index:reason,…` ('' for none): kept in
--          the record, so that a retry is answered as the first attempt was
-- ARGV[8+j] (j = 1 … m) the lifetime (ms) of KEYS[4+j], set when it is created
-- ARGV[9+m+11(i-1) …] hit i, 11 fields: its index in the request, path, visitor hash ('' for
--          none), time (ms since the epoch), referrer, user agent, the path as the event keeps it
--          ('' when it is the whole path), then the j of its minute, hour and day buckets and of its
--          visitors HyperLogLog, each 0 when it does not count there
-- Returns  { 'counted' | 'duplicate', hits counted, drops as `index:reason,…` }, or { 'conflict' }
-- The record: `<fingerprint>\n<hits counted>\n<drops>`.

--- @include "add-event"
--- @include "path-cap"
local record = redis.call('GET', KEYS[2])
if record then
  local fingerprint, counted, drops = string.match(record, '^([^\n]*)\n(%d+)\n(.*)$')
  if fingerprint ~= ARGV[2] then return { 'conflict' } end
  return { 'duplicate', tonumber(counted), drops }
end

local n = tonumber(ARGV[1])
local m = #KEYS - 4
local maxPaths = tonumber(ARGV[5])
local events = ARGV[6] ~= '0'
local first = 9 + m
local f = 11

-- The batch's paths in order of first appearance, each with its number of hits k.
local order, of = {}, {}
for i = 1, n do
  local path = ARGV[first + (i - 1) * f + 1]
  local entry = of[path]
  if entry then
    entry.k = entry.k + 1
  else
    of[path] = { k = 1 }
    order[#order + 1] = path
  end
end

-- Each path counted once in the ranking, by k. A new path past the cap is refused with all its hits.
local counted = 0
for _, path in ipairs(order) do
  local entry = of[path]
  if pastPathCap(KEYS[1], maxPaths, path) then
    entry.refused = true
  else
    redis.call('ZINCRBY', KEYS[1], entry.k, path)
    counted = counted + entry.k
  end
end

-- Each hit in order: its buckets (summed per key and path), its visitor, its event.
local drops = {}
if ARGV[8] ~= '' then drops[1] = ARGV[8] end
local sums, sumOrder = {}, {}
local visitorsOf, touched, touchedOrder = {}, {}, {}
local function touch(j)
  if not touched[j] then
    touched[j] = true
    touchedOrder[#touchedOrder + 1] = j
  end
end
for i = 1, n do
  local at = first + (i - 1) * f
  local path = ARGV[at + 1]
  if of[path].refused then
    drops[#drops + 1] = ARGV[at] .. ':path_cap'
  else
    for slot = 7, 9 do
      local j = tonumber(ARGV[at + slot])
      if j > 0 then
        local id = j .. '\n' .. path
        if sums[id] then
          sums[id].k = sums[id].k + 1
        else
          sums[id] = { j = j, path = path, k = 1 }
          sumOrder[#sumOrder + 1] = id
        end
      end
    end
    local v = tonumber(ARGV[at + 10])
    if v > 0 and ARGV[at + 2] ~= '' then
      local list = visitorsOf[v]
      if not list then
        list = {}
        visitorsOf[v] = list
        touch(v)
      end
      list[#list + 1] = ARGV[at + 2]
    end
    if events then
      local fields = { 't', ARGV[at + 3], 'method', ARGV[7], 'path', ARGV[at + 6] ~= '' and ARGV[at + 6] or path, 'status', '200',
                       'referrer', ARGV[at + 4], 'ua', ARGV[at + 5], 'visitor', ARGV[at + 2] }
      addEvent(KEYS[3], ARGV[6], ARGV[at + 3], fields)
    end
  end
end

for _, id in ipairs(sumOrder) do
  local sum = sums[id]
  redis.call('ZINCRBY', KEYS[4 + sum.j], sum.k, sum.path)
  touch(sum.j)
end
for _, j in ipairs(touchedOrder) do
  local list = visitorsOf[j]
  if list then redis.call('PFADD', KEYS[4 + j], unpack(list)) end
  redis.call('PEXPIRE', KEYS[4 + j], ARGV[8 + j], 'NX')
end
if counted > 0 then
  redis.call('INCRBY', KEYS[4], counted)
  redis.call('PEXPIRE', KEYS[4], ARGV[4], 'NX')
end

local dropped = table.concat(drops, ',')
redis.call('SET', KEYS[2], ARGV[2] .. '\n' .. counted .. '\n' .. dropped, 'PX', ARGV[3])
return { 'counted', counted, dropped }
