-- Shared by record-hits.lua, add-hits.lua and record-batch.lua (pasted in by loadScripts at `--- @include`):
-- api.maxPaths. A path the ranking does not hold yet is refused while it holds `maxPaths` paths
-- (0: no cap); a known path always counts.
local function pastPathCap(ranking, maxPaths, path)
  return maxPaths > 0 and redis.call('ZCARD', ranking) >= maxPaths and not redis.call('ZSCORE', ranking, path)
end
