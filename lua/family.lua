-- family.lua: address families of a slice of one swarm set (for sets too large to count
-- in one call of purge.lua), and in private mode its users' live peers.
--
-- KEYS[1] {<hex>}:seeders or {<hex>}:leechers   KEYS[2] {<hex>}:peers
-- ARGV[1] start rank   ARGV[2] stop rank
-- ARGV[3] private mode: '1' the set is the seeders, '2' the leechers; '' otherwise
-- Reply: {ipv4, ipv6, users} among members start..stop (dual-stacked count in both);
-- users: {user id, seeding, leeching, ...} (lib/live_users), empty unless ARGV[3]
--! loaded-by: aggregator

--! include families
--! include live_users

local members = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
local v4, v6 = count_families(members, 0, 0)
local users = {}
if ARGV[3] ~= '' then count_users(members, KEYS[2], tonumber(ARGV[3]), users) end
return {v4, v6, flat_tally(users)}
