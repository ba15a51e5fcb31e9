-- table_scan.lua: one SSCAN or HSCAN step of a shared table, as a script so that on a Redis
-- Cluster it goes to the node serving the table's slot.
--
-- KEYS[1] the SET or HASH   ARGV[1] cursor   ARGV[2] COUNT hint   ARGV[3] 'set' or 'hash'
-- Reply: the scan's {next cursor, {member, ...}} (a hash's: {field, value, ...})
--! loaded-by: frontend
return redis.call(ARGV[3] == 'hash' and 'HSCAN' or 'SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
