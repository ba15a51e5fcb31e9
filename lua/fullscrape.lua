-- fullscrape.lua: the aggregator's full-scrape snapshot, only when a pass newer than the
-- caller's has been published (a frontend checks often and fetches once per pass).
--
-- KEYS[1] the stats hash   KEYS[2] the snapshot (a string: the bencoded `files` dictionary)
-- ARGV[1] the stats field naming the last pass (pass_finished_ms)
-- ARGV[2] the pass the caller holds ('' for none)
-- Reply: {pass} when it is the caller's; else {pass, snapshot or false when none}
--! loaded-by: frontend

local pass = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if pass == ARGV[2] then
    return {pass}
end
return {pass, redis.call('GET', KEYS[2])}
