-- table_change.lua: changes a shared table (storage/tables.h) and logs each change to the
-- stream every frontend follows, in one atomic call.
--
-- KEYS[1] the table's SET or HASH   KEYS[2] {starling}:tables:changes STREAM
-- KEYS[3] {starling}:tables:seq STRING: the latest change's number
-- ARGV[1] the table's name   ARGV[2] the operation   ARGV[3..] its arguments:
--   sadd / srem member...                 (sets)
--   hset field value ...   hdel field...  (hashes)
--   hpatch field value ...: for a field present, each space-separated word of value
--                           replaces the stored one; '-' keeps it
--   hrename old new ...:    the value moves from old to new (nothing when old is absent)
--   hdelif field value ...: the field goes only while it still holds that value
--
-- The stream logs only 'add' (with the value, for hashes) and 'del'. What changes nothing
-- (added twice, removed when absent, the same value) logs nothing. Each change gets the
-- next number: a frontend that finds one missing (the stream trimmed past it) loads the
-- tables again.
-- Reply: how many members changed the table.
--! loaded-by: frontend
local changed = 0
local name, op = ARGV[1], ARGV[2]

local function log(o, k, v)
    local seq = redis.call('INCR', KEYS[3])
    if v then
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', tostring(@TABLE_CHANGES_MAXLEN@), '*', 'n', seq,
                   't', name, 'o', o, 'k', k, 'v', v)
    else
        redis.call('XADD', KEYS[2], 'MAXLEN', '~', tostring(@TABLE_CHANGES_MAXLEN@), '*', 'n', seq,
                   't', name, 'o', o, 'k', k)
    end
    changed = changed + 1
end

local function put(field, value)
    if redis.call('HGET', KEYS[1], field) ~= value then
        redis.call('HSET', KEYS[1], field, value)
        log('add', field, value)
    end
end

local function words(s)
    local w = {}
    for x in string.gmatch(s, '%S+') do w[#w + 1] = x end
    return w
end

if op == 'sadd' or op == 'srem' then
    for i = 3, #ARGV do
        if redis.call(op == 'sadd' and 'SADD' or 'SREM', KEYS[1], ARGV[i]) == 1 then
            log(op == 'sadd' and 'add' or 'del', ARGV[i])
        end
    end
elseif op == 'hdel' then
    for i = 3, #ARGV do
        if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then log('del', ARGV[i]) end
    end
else
    for i = 3, #ARGV - 1, 2 do
        local a, b = ARGV[i], ARGV[i + 1]
        if op == 'hset' then
            put(a, b)
        elseif op == 'hpatch' then
            local old = redis.call('HGET', KEYS[1], a)
            if old then
                local w, p = words(old), words(b)
                for j = 1, #p do
                    if p[j] ~= '-' then w[j] = p[j] end
                end
                put(a, table.concat(w, ' '))
            end
        elseif op == 'hdelif' then
            if redis.call('HGET', KEYS[1], a) == b then
                redis.call('HDEL', KEYS[1], a)
                log('del', a)
            end
        elseif op == 'hrename' then
            local old = redis.call('HGET', KEYS[1], a)
            if old and a ~= b then
                redis.call('HDEL', KEYS[1], a)
                log('del', a)
                put(b, old)
            end
        else
            return redis.error_reply('ERR unknown table operation')
        end
    end
end
return changed
