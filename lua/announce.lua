-- announce.lua: one announce, one swarm, one round trip.
--
-- KEYS[1] {<hex>}:seeders   ZSET  member = peer_id(20) .. endpoints, score = expiry (ms)
-- KEYS[2] {<hex>}:leechers  ZSET  same layout
-- KEYS[3] {<hex>}:peers     HASH  peer_id -> role ('S'|'L') .. endpoints;
--                                 field "downloaded" -> completed count
-- endpoints = ipv4(4)+port(2) | ipv6(16)+port(2) | both (v4 first): 6, 18 or 24 bytes.
--
-- ARGV[1] now_ms       ARGV[2] peer_ttl_ms   ARGV[3] peer_id (20 bytes)
-- ARGV[4] endpoints    ARGV[5] '1' seeding   ARGV[6] event: '0' none, '1' started,
--                                                   '2' completed, '3' stopped
-- ARGV[7] numwant      ARGV[8] family filter: '0' any, '4' IPv4 only, '6' IPv6 only
-- ARGV[9] '1' when idle swarms expire (purge_inactive_torrents)
--
-- Reply: {seeders, leechers, member, member, ...} with at most numwant members, never
-- the announcer's own, counted after this announce was applied.

local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local peer_id = ARGV[3]
local endpoints = ARGV[4]
local seeding = ARGV[5] == '1'
local event = ARGV[6]
local numwant = tonumber(ARGV[7])
local family = ARGV[8]
local seeders, leechers, peers = KEYS[1], KEYS[2], KEYS[3]

-- Drop expired peers (bounded per call so one announce never stalls Redis) and their
-- records in the hash, so an active swarm's hash cannot grow with departed peers.
local function prune(key)
    local gone = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, 512)
    if #gone > 0 then
        redis.call('ZREM', key, unpack(gone))
        local ids = {}
        for i = 1, #gone do ids[i] = string.sub(gone[i], 1, 20) end
        redis.call('HDEL', peers, unpack(ids))
    end
end
prune(seeders)
prune(leechers)

local old = redis.call('HGET', peers, peer_id)
if old then
    -- The peer's previous entry goes unless it is exactly the one written below.
    local role = seeding and 'S' or 'L'
    if event == '3' or old ~= role .. endpoints then
        local old_set = string.sub(old, 1, 1) == 'S' and seeders or leechers
        redis.call('ZREM', old_set, peer_id .. string.sub(old, 2))
    end
end

if event == '3' then
    if old then redis.call('HDEL', peers, peer_id) end
else
    local set = seeding and seeders or leechers
    local record = (seeding and 'S' or 'L') .. endpoints
    if old ~= record then redis.call('HSET', peers, peer_id, record) end
    redis.call('ZADD', set, now + ttl, peer_id .. endpoints)
    -- A completed event counts once: not again from a peer already known as a seeder.
    if event == '2' and (not old or string.sub(old, 1, 1) ~= 'S') then
        redis.call('HINCRBY', peers, 'downloaded', 1)
    end
    if ARGV[9] == '1' then
        -- Every member of `set` expires by now + ttl, so the key may too; the hash lives
        -- as long as its longest-lived peer. An idle swarm thus vanishes by itself.
        redis.call('PEXPIRE', set, ttl)
        redis.call('PEXPIRE', peers, ttl)
    end
end

local nseeders = redis.call('ZCARD', seeders)
local nleechers = redis.call('ZCARD', leechers)
local reply = {nseeders, nleechers}
if event == '3' or numwant <= 0 then return reply end

local me = peer_id .. endpoints
-- #endpoints: 6 IPv4 only, 18 IPv6 only, 24 both.
local function wanted(m)
    if m == me then return false end
    if family == '4' then return #m ~= 38 end
    if family == '6' then return #m ~= 26 end
    return true
end

-- Samples up to `want` members of `key` (holding `card`) into reply. With a family filter
-- a larger sample is drawn, as some of it will not match.
local function take(key, card, want)
    if want <= 0 or card == 0 then return end
    local n = want + 1
    if family ~= '0' then n = want * 3 + 1 end
    local sample = redis.call('ZRANDMEMBER', key, n)
    for i = 1, #sample do
        if want == 0 then return end
        local m = sample[i]
        if wanted(m) then
            reply[#reply + 1] = m
            want = want - 1
        end
    end
end

if seeding then
    -- A seeder only needs leechers.
    take(leechers, nleechers, numwant)
else
    take(seeders, nseeders, numwant)
    take(leechers, nleechers, numwant - (#reply - 2))
end
return reply
