-- Write-behind mode: adds one flushed group of hits (one path, one minute) everywhere it counts,
-- and records the sending connection's last-applied sequence number, as record-hit.lua does, so
-- a flush whose reply was lost can be resolved exactly: re-sent if Redis did not apply it, never
-- sent twice. Needs Redis >= 7.0 (PEXPIRE … NX).
--
-- KEYS[1]  the hits sorted set (all time)
-- KEYS[2]  this connection's last-applied-sequence key
-- KEYS[3]  the minute bucket    KEYS[4]  the hour bucket    KEYS[5]  the day bucket
-- KEYS[6]  the path's visitors HyperLogLog for the day
-- ARGV[1]  the normalized path
-- ARGV[2]  how many hits
-- ARGV[3]  the group's sequence number on this connection
-- ARGV[4]  how long the sequence key lives (ms)
-- ARGV[5]  '1' to count in the buckets, '0' not to
-- ARGV[6], ARGV[7], ARGV[8]  minute, hour and day bucket lifetimes (ms), set when a bucket is created
-- ARGV[9]  the HyperLogLog's lifetime (ms)
-- ARGV[10…] visitor hashes to add (none when visitors are off)
-- Returns  the path's new all-time hit count
local hits = redis.call('ZINCRBY', KEYS[1], ARGV[2], ARGV[1])
if ARGV[5] == '1' then
  for i = 3, 5 do
    redis.call('ZINCRBY', KEYS[i], ARGV[2], ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[i + 3], 'NX')
  end
end
if #ARGV > 9 then
  redis.call('PFADD', KEYS[6], unpack(ARGV, 10))
  redis.call('PEXPIRE', KEYS[6], ARGV[9], 'NX')
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return hits
