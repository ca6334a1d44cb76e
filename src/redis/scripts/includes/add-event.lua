-- Shared by record-hits.lua and record-batch.lua (pasted in by loadScripts at `--- @include`):
-- appending one hit to the event stream.

-- XADD of `fields` to `stream`, capped near `maxLength`, with an entry id that follows the hit's
-- own time in ms when it can; a time behind the stream's last id (another replica's clock skew, a
-- hit from the past) falls back to Redis's time rather than failing the hit: the event keeps its
-- own time in its `t` field either way.
local function addEvent(stream, maxLength, timeMs, fields)
  local added = redis.pcall('XADD', stream, 'MAXLEN', '~', maxLength, timeMs .. '-*', unpack(fields))
  if type(added) == 'table' and added.err then
    redis.call('XADD', stream, 'MAXLEN', '~', maxLength, '*', unpack(fields))
  end
end
