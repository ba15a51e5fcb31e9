-- family.lua: address families of a slice of one swarm set (for sets too large to count
-- in one call of purge.lua).
--
-- KEYS[1] {<hex>}:seeders or {<hex>}:leechers   ARGV[1] start rank   ARGV[2] stop rank
-- Reply: {ipv4, ipv6} among members start..stop (dual-stacked count in both)
--! loaded-by: aggregator

--! include families

local v4, v6 = count_families(redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2]), 0, 0)
return {v4, v6}
