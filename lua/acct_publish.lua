-- acct_publish.lua: the redis-stream driver's delivery of one slot's batch (storage/acct.h),
-- exactly once: the batch's entries are added to the deltas stream and the batch is marked
-- applied in the same call; a batch marked already adds nothing.
--
-- KEYS[1] {starling}:acct:deltas STREAM   KEYS[2] {starling}:acct:applied HASH slot -> batch
-- ARGV[1] slot   ARGV[2] batch number   ARGV[3..] entries, each: k, then k field/value args
-- Reply: entries added, or -1 when the batch was applied before.
--! loaded-by: aggregator
local applied = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if applied >= tonumber(ARGV[2]) then return -1 end
local i, n = 3, 0
while i <= #ARGV do
    local k = tonumber(ARGV[i])
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', tostring(@ACCT_DELTAS_MAXLEN@), '*',
               unpack(ARGV, i + 1, i + k))
    i = i + k + 1
    n = n + 1
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return n
