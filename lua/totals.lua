-- totals.lua: the tracker-wide totals the aggregator's last pass published, for a private
-- site's report (GET /<report_password>/report?get=stats).
--
-- KEYS[1] {starling}:stats HASH   ARGV[1..n] fields
-- Reply: their values, in order (false for one not published yet)
--! loaded-by: frontend
return redis.call('HMGET', KEYS[1], unpack(ARGV))
