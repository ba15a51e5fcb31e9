-- counters.lua: a frontend's once-a-second report of its request totals, so the aggregator
-- can publish every node's without adding work to any announce.
--
-- KEYS[1] {starling}:requests         HASH "<endpoint>:<result>" -> total of all frontends
-- KEYS[2] {starling}:frontends        ZSET node id -> time of its last report (ms)
-- KEYS[3] {starling}:requests:<node>  HASH "<endpoint>:<result>" -> this node's total, as
--                                     last applied
-- ARGV[1] now_ms   ARGV[2] node id   ARGV[3] '1' when a report of this node was applied
-- before   ARGV[4], ARGV[5], ...: field, total pairs: the node's totals since it started
--
-- Idempotent: a field adds to KEYS[1] only what its total gained over the one last applied,
-- so a report applied twice (resent after a timeout it survived) or late (after a newer
-- one) changes nothing. Nodes silent for COUNTERS_RETIRE_MS are forgotten, at most
-- COUNTERS_RETIRE_BATCH per call: their hash and set entry go, their counts stay in KEYS[1].
-- Their hashes are named from KEYS[3]'s prefix: not declared, but in the same slot.
--
-- Reply: 1 applied. 0 refused: ARGV[3] is '1' but KEYS[3] is gone (the node was retired, or
-- Redis lost its data), so its totals may be in KEYS[1] already; the caller goes on under a
-- new id, counting from its current totals.
--! loaded-by: frontend

if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then
    return 0
end

local fields, totals = {}, {}
for i = 4, #ARGV - 1, 2 do
    fields[#fields + 1] = ARGV[i]
    totals[#totals + 1] = ARGV[i + 1]
end
if #fields > 0 then
    local last = redis.call('HMGET', KEYS[3], unpack(fields))
    local changed = {}
    for j = 1, #fields do
        local now, before = tonumber(totals[j]) or 0, tonumber(last[j]) or 0
        if now > before then
            redis.call('HINCRBY', KEYS[1], fields[j], string.format('%d', now - before))
        end
        -- Every field is written once, so the hash exists from the node's first report.
        if now > before or not last[j] then
            changed[#changed + 1] = fields[j]
            changed[#changed + 1] = totals[j]
        end
    end
    if #changed > 0 then
        redis.call('HSET', KEYS[3], unpack(changed))
    end
end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])

local prefix = string.sub(KEYS[3], 1, #KEYS[3] - #ARGV[2])
local silent = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf',
    tonumber(ARGV[1]) - @COUNTERS_RETIRE_MS@, 'LIMIT', 0, @COUNTERS_RETIRE_BATCH@)
for i = 1, #silent do
    redis.call('DEL', prefix .. silent[i])
    redis.call('ZREM', KEYS[2], silent[i])
end
return 1
