-- totals.lua: what the aggregator's last pass published, for a private site's report
-- (GET /<report_password>/report): the tracker-wide totals (get=stats) or a user's live
-- peers (get=user).
--
-- KEYS[1] {starling}:stats or {starling}:private:live HASH   ARGV[1..n] fields
-- Reply: their values, in order (false for one not published yet)
--! loaded-by: frontend
return redis.call('HMGET', KEYS[1], unpack(ARGV))
