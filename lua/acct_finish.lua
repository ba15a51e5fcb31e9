-- acct_finish.lua: a slot's batch was handed to the driver: its draining hash goes.
--
-- KEYS[1] {<tag>}:acct:draining   ARGV[1] the batch's number
-- Reply: 1 when it went, 0 when the draining hash holds another batch (or none).
--! loaded-by: aggregator
if redis.call('HGET', KEYS[1], '#batch') == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
end
return 0
