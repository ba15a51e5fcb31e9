-- family.lua: address families of a slice of one swarm set (for sets too large to count
-- in one call of purge.lua).
--
-- KEYS[1] {<hex>}:seeders or {<hex>}:leechers   ARGV[1] start rank   ARGV[2] stop rank
-- Reply: {ipv4, ipv6} among members start..stop (dual-stacked count in both)
--! loaded-by: aggregator

local members = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
local v4, v6 = 0, 0
for i = 1, #members do
    local len = #members[i] -- 26 IPv4, 38 IPv6, 44 both
    if len ~= 38 then v4 = v4 + 1 end
    if len ~= 26 then v6 = v6 + 1 end
end
return {v4, v6}
