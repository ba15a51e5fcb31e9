-- purge.lua: the aggregator's visit to one swarm: drop expired peers, count what lives,
-- and delete the swarm when nothing is left (purge_inactive_torrents).
--
-- KEYS[1] {<hex>}:seeders  KEYS[2] {<hex>}:leechers  KEYS[3] {<hex>}:peers
-- ARGV[1] now_ms   ARGV[2] '1' to delete an empty swarm   ARGV[3] most expired peers
-- removed per set in this call   ARGV[4] largest set whose families are counted here
-- ARGV[5] '1' in private mode: count each user's live peers too
--
-- Reply: {seeders, leechers, ipv4, ipv6, downloaded, removed, deleted, more, users}
--   ipv4/ipv6: live peers with such an address (dual-stacked count in both), only for
--   sets of at most ARGV[4] members: the caller counts larger ones with family.lua, in
--   pieces, so that no single call runs long. more = 1 when a set had more than ARGV[3]
--   expired peers: call again. users: {user id, seeding, leeching, ...} (lib/live_users)
--   from the same sets as ipv4/ipv6, only with ARGV[5] and when more = 0 (the caller
--   keeps the last call's).
--! loaded-by: aggregator

--! include prune
--! include families
--! include live_users

local now, chunk, family_max = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local seeders, leechers, peers = KEYS[1], KEYS[2], KEYS[3]
local removed, more = 0, 0

local function purge_set(key)
    local n = prune(key, peers, now, chunk, true) -- private mode's records too
    removed = removed + n
    if n > 0 and n == chunk then more = 1 end -- a whole chunk: there may be more
end
purge_set(seeders)
purge_set(leechers)

local nseeders = redis.call('ZCARD', seeders)
local nleechers = redis.call('ZCARD', leechers)
local v4, v6 = 0, 0
local users = ARGV[5] == '1' and more == 0 and {} or nil
local function families(key, n, role)
    if n == 0 or n > family_max then return end
    local members = redis.call('ZRANGE', key, '0', '-1')
    v4, v6 = count_families(members, v4, v6)
    if users then count_users(members, peers, role, users) end
end
families(seeders, nseeders, 1)
families(leechers, nleechers, 2)

local downloaded = tonumber(redis.call('HGET', peers, 'downloaded') or '0')
local deleted = 0
if ARGV[2] == '1' and nseeders == 0 and nleechers == 0 and more == 0 then
    redis.call('DEL', seeders, leechers, peers)
    deleted = 1
end
return {nseeders, nleechers, v4, v6, downloaded, removed, deleted, more,
        users and flat_tally(users) or {}}
