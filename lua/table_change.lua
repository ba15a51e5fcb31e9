-- table_change.lua: adds members to a shared table (storage/tables.h) or removes them, and
-- logs each change to the stream every frontend follows, in one atomic call.
--
-- KEYS[1] the table's SET   KEYS[2] {starling}:tables:changes STREAM
-- KEYS[3] {starling}:tables:seq STRING: the latest change's number
-- ARGV[1] the table's name   ARGV[2] 'add' or 'del'   ARGV[3..] members
--
-- A member that changes nothing (added twice, removed when absent) logs nothing. Each
-- change gets the next number: a frontend that finds one missing (the stream trimmed past
-- it) loads the tables again.
-- Reply: how many members changed the set.
--! loaded-by: frontend
local changed = 0
local add = ARGV[2] == 'add'
for i = 3, #ARGV do
    local n
    if add then
        n = redis.call('SADD', KEYS[1], ARGV[i])
    else
        n = redis.call('SREM', KEYS[1], ARGV[i])
    end
    if n == 1 then
        local seq = redis.call('INCR', KEYS[3])
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', tostring(@TABLE_CHANGES_MAXLEN@), '*', 'n', seq,
                   't', ARGV[1], 'o', ARGV[2], 'k', ARGV[i])
        changed = changed + 1
    end
end
return changed
