-- publish.lua: a pass's results, written only while the leader lock is still the
-- writer's, in one atomic call: a leader whose lock expired (a step outlasted lock_ttl)
-- and went to another replica cannot overwrite what that one publishes.
--
-- KEYS[1] {starling}:aggregator:lock   KEYS[2] {starling}:stats   KEYS[3] {starling}:fullscrape
-- KEYS[4] {starling}:aggregator:passes (one hash tag: one slot on a cluster)
-- Private mode: KEYS[5] {starling}:private:live:next:<writer>, the users' live peers this
-- pass counted (storage/live_users.h)   KEYS[6] {starling}:private:live, where they go
-- ARGV[1] the writer's id (the lock's value)   ARGV[2] the bencoded full-scrape snapshot
-- ARGV[3] the pass's history entry   ARGV[4] how many history entries to keep
-- ARGV[5], ARGV[6], ...: field, value pairs of the stats hash
--
-- Reply: 1 published; 0 nothing written, the lock is not the writer's
--! loaded-by: aggregator

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
if #ARGV > 5 then
    redis.call('HSET', KEYS[2], unpack(ARGV, 5))
end
redis.call('SET', KEYS[3], ARGV[2])
if KEYS[6] then
    if redis.call('EXISTS', KEYS[5]) == 1 then
        redis.call('RENAME', KEYS[5], KEYS[6])
        redis.call('PERSIST', KEYS[6]) -- the next key's TTL was for a writer that fails
    else
        redis.call('DEL', KEYS[6]) -- no user has a live peer
    end
end
redis.call('LPUSH', KEYS[4], ARGV[3])
redis.call('LTRIM', KEYS[4], '0', tostring(tonumber(ARGV[4]) - 1))
return 1
