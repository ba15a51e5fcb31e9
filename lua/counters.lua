-- counters.lua: a frontend's once-a-second report, so the aggregator can total every node
-- without adding work to any announce.
--
-- KEYS[1] {starling}:requests   HASH  "<endpoint>:<result>" -> requests answered, all nodes
-- KEYS[2] {starling}:frontends  ZSET  node id -> time of its last report (ms)
-- ARGV[1] now_ms   ARGV[2] node id   ARGV[3], ARGV[4], ...: field, increment pairs
--
-- Reply: 1. Nodes silent for a minute are dropped from the set.
--! loaded-by: frontend

for i = 3, #ARGV - 1, 2 do
    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[1]) - 60000)
return 1
