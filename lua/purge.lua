-- purge.lua: the aggregator's visit to one swarm: drop expired peers, count what lives,
-- and delete the swarm when nothing is left (purge_inactive_torrents).
--
-- KEYS[1] {<hex>}:seeders  KEYS[2] {<hex>}:leechers  KEYS[3] {<hex>}:peers
-- ARGV[1] now_ms   ARGV[2] '1' to delete an empty swarm   ARGV[3] most expired peers
-- removed per set in this call   ARGV[4] largest set whose families are counted here
--
-- Reply: {seeders, leechers, ipv4, ipv6, downloaded, removed, deleted, more}
--   ipv4/ipv6: live peers with such an address (dual-stacked count in both), only for
--   sets of at most ARGV[4] members: the caller counts larger ones with family.lua, in
--   pieces, so that no single call runs long. more = 1 when a set had more than ARGV[3]
--   expired peers: call again.
--! loaded-by: aggregator

local now, chunk, family_max = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local seeders, leechers, peers = KEYS[1], KEYS[2], KEYS[3]
local removed, more = 0, 0

local function prune(key)
    local gone = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', '0', chunk)
    if #gone == 0 then return end
    redis.call('ZREM', key, unpack(gone))
    local ids = {}
    for i = 1, #gone do ids[i] = string.sub(gone[i], 1, 20) end
    redis.call('HDEL', peers, unpack(ids))
    removed = removed + #gone
    if #gone == chunk then more = 1 end
end
prune(seeders)
prune(leechers)

local nseeders = redis.call('ZCARD', seeders)
local nleechers = redis.call('ZCARD', leechers)
local v4, v6 = 0, 0
local function families(key, n)
    if n == 0 or n > family_max then return end
    local members = redis.call('ZRANGE', key, '0', '-1')
    for i = 1, #members do
        local len = #members[i] -- 26 IPv4, 38 IPv6, 44 both
        if len ~= 38 then v4 = v4 + 1 end
        if len ~= 26 then v6 = v6 + 1 end
    end
end
families(seeders, nseeders)
families(leechers, nleechers)

local downloaded = tonumber(redis.call('HGET', peers, 'downloaded') or '0')
local deleted = 0
if ARGV[2] == '1' and nseeders == 0 and nleechers == 0 and more == 0 then
    redis.call('DEL', seeders, leechers, peers)
    deleted = 1
end
return {nseeders, nleechers, v4, v6, downloaded, removed, deleted, more}
