-- lock_release.lua: give up the aggregator's leader lock, only if it is still ours.
-- KEYS[1] {starling}:aggregator:lock   ARGV[1] our id
-- Reply: 1 released, 0 not ours
--! loaded-by: aggregator
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
