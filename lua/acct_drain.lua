-- acct_drain.lua: takes a slot's pending accounting (storage/acct.h) as a numbered batch:
-- the pending hash becomes the draining hash (unless an earlier batch is still there, not
-- finished: that one is returned again), so announces go on filling a new pending hash.
--
-- KEYS[1] {<tag>}:acct:pending   KEYS[2] {<tag>}:acct:draining   KEYS[3] {<tag>}:acct:batch
-- Reply: the draining hash (field, value, ...; '#batch' is its number), or {} when there
-- is nothing to account.
--! loaded-by: aggregator
if redis.call('EXISTS', KEYS[2]) == 0 then
    if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
    local batch = redis.call('INCR', KEYS[3])
    redis.call('RENAME', KEYS[1], KEYS[2])
    redis.call('HSET', KEYS[2], '#batch', batch)
end
return redis.call('HGETALL', KEYS[2])
