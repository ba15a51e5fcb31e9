-- lock_renew.lua: extend the aggregator's leader lock, only if it is still ours.
-- KEYS[1] {starling}:aggregator:lock   ARGV[1] our id   ARGV[2] ttl_ms
-- Reply: 1 renewed, 0 not ours (expired, or another leader took it)
--! loaded-by: aggregator
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
