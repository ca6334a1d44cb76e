-- Counts one hit, everywhere it counts, in one atomic round trip: the all-time ranking, the
-- minute/hour/day buckets, the day's visitors HyperLogLog and the event stream (each optional).
-- It also records, for the sending connection, the sequence number of the last hit applied: if
-- the connection dies or a command times out before its reply arrives, the server reads it back
-- to learn exactly which of its unanswered hits Redis applied (one connection's commands apply
-- in order, so they are the ones numbered up to it). Needs Redis >= 7.0 (PEXPIRE … NX).
--
-- KEYS[1]  the hits sorted set (all time)
-- KEYS[2]  this connection's last-applied-sequence key
-- KEYS[3]  the minute bucket    KEYS[4]  the hour bucket    KEYS[5]  the day bucket
-- KEYS[6]  the path's visitors HyperLogLog for the day
-- KEYS[7]  the event stream
-- ARGV[1]  the normalized path
-- ARGV[2]  the hit's sequence number on this connection (1, 2, 3, …)
-- ARGV[3]  how long the sequence key lives (ms)
-- ARGV[4]  '1' to count in the buckets, '0' not to
-- ARGV[5], ARGV[6], ARGV[7]  minute, hour and day bucket lifetimes (ms), set when a bucket is created
-- ARGV[8]  the visitor hash, or '' to skip the HyperLogLog
-- ARGV[9]  the HyperLogLog's lifetime (ms)
-- ARGV[10] the stream's approximate maximum length, or '0' for no event log
-- ARGV[11] the hit's time (ms since the epoch), ARGV[12] method, ARGV[13] referrer, ARGV[14] user agent
-- Returns  the path's new all-time hit count, as ZINCRBY reports it
local hits = redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])
if ARGV[4] == '1' then
  for i = 3, 5 do
    redis.call('ZINCRBY', KEYS[i], 1, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[i + 2], 'NX')
  end
end
if ARGV[8] ~= '' then
  redis.call('PFADD', KEYS[6], ARGV[8])
  redis.call('PEXPIRE', KEYS[6], ARGV[9], 'NX')
end
if ARGV[10] ~= '0' then
  local fields = { 't', ARGV[11], 'method', ARGV[12], 'path', ARGV[1], 'status', '200',
                   'referrer', ARGV[13], 'ua', ARGV[14], 'visitor', ARGV[8] }
  -- Entry ids follow the hit's own clock when they can; a clock behind the stream's last id
  -- (another replica's skew) falls back to Redis's time rather than failing the hit.
  local added = redis.pcall('XADD', KEYS[7], 'MAXLEN', '~', ARGV[10], ARGV[11] .. '-*', unpack(fields))
  if type(added) == 'table' and added.err then
    redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[10], '*', unpack(fields))
  end
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return hits
