-- table_scan.lua: one SSCAN step of a shared table's set, as a script so that on a Redis
-- Cluster it goes to the node serving the set's slot.
--
-- KEYS[1] the SET   ARGV[1] cursor   ARGV[2] COUNT hint
-- Reply: SSCAN's {next cursor, {member, ...}}
--! loaded-by: frontend
return redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
