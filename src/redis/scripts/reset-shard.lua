-- DELETE /stats, for one shard: deletes the shard's hit family in one atomic step, so that every
-- hit is either wholly before the reset (gone from the ranking, its buckets, the event stream, the
-- per-second counter and its connection's sequence ledger alike) or wholly after it (in all of
-- them). record-hits.lua and add-hits.lua write those keys together, atomically, so after this
-- script the ranking, each bucket and the event stream hold exactly the same hits.
-- The caller lists the keys: the ones SCAN found, plus those a hit may have created since the
-- scan began (the buckets and per-second counters of the present, the sequence keys of its own
-- connections). Every key carries the shard's hash tag: one slot, also on Redis Cluster.
--
-- KEYS[1 …]  the keys to delete (the shard's ranking first)
-- Returns    how many of them existed
local deleted = 0
for i = 1, #KEYS, 1000 do
  deleted = deleted + redis.call('UNLINK', unpack(KEYS, i, math.min(i + 999, #KEYS)))
end
return deleted
