-- Takes one of the `limit` slots for running load-test jobs, shared by every replica.
-- Leases that were not renewed in time (a replica that died mid-job) are freed first.
--
-- KEYS[1]  sorted set of running jobs: member = job id, score = lease expiry (ms since epoch)
-- ARGV[1]  now (ms since epoch)
-- ARGV[2]  limit: how many jobs may run at once
-- ARGV[3]  id of the job that wants a slot
-- ARGV[4]  lease expiry for that job (ms since epoch)
-- Returns  1 when the slot was taken, 0 when all slots are busy.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
return 1
