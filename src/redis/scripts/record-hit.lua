-- Counts one hit and records, for the sending connection, the sequence number of the last hit
-- applied. If the connection dies or a command times out before its reply arrives, the server
-- reads that number back to learn exactly which of its unanswered hits Redis applied: commands of
-- one connection are applied in order, so they are the ones numbered up to it.
--
-- KEYS[1]  the hits sorted set
-- KEYS[2]  this connection's last-applied-sequence key
-- ARGV[1]  the normalized path
-- ARGV[2]  the hit's sequence number on this connection (1, 2, 3, …)
-- ARGV[3]  how long the sequence key lives (ms)
-- Returns  the path's new hit count, as ZINCRBY reports it
local hits = redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return hits
