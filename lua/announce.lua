-- announce.lua: one announce, one swarm, one round trip.
--
-- KEYS[1] {<hex>}:seeders   ZSET  member = peer_id .. endpoints, score = expiry (ms)
-- KEYS[2] {<hex>}:leechers  ZSET  same layout
-- KEYS[3] {<hex>}:peers     HASH  peer_id -> role .. endpoints (its member, to replace it
--                                 when the peer moves); "downloaded" -> count. role: 'S'
--                                 seeder, 'L' leecher, 'C' leecher whose completed event
--                                 was counted
-- endpoints = compact IPv4 | compact IPv6 | both, IPv4 first (storage/keys.h: members).
--
-- ARGV[1] now_ms       ARGV[2] expiry_ms (now + peer ttl)   ARGV[3] key_ttl_ms (2 x peer ttl)
-- ARGV[4] peer_id      ARGV[5] endpoints   ARGV[6] '1' seeding
-- ARGV[7] event: '0' none, '1' started, '2' completed, '3' stopped
-- ARGV[8] numwant      ARGV[9] family filter: '0' any, '4' IPv4 only, '6' IPv6 only
-- ARGV[10] '1' when idle swarms expire (purge_inactive_torrents)
-- ARGV[11] a random non-negative integer (scripts must be deterministic: the caller rolls)
-- ARGV[12] '' for an announce, or for a frontend's peer cache fill (frontend/peer_cache.h)
--          '(' .. horizon_ms: windows of members still live at the horizon
-- Private mode's accounting (storage/acct.h), only then:
-- KEYS[4] {<slot tag>}:acct:pending HASH in this swarm's slot: what the aggregator drains
-- ARGV[13..21] user id, torrent id, freetorrent, token, uploaded, downloaded, left, visible,
--           user agent (lua/lib/account.lua)
--
-- Reply: {seeders, leechers, member, member, ...} with at most numwant members, never
-- the announcer's own: live peers (expiry > now), counted after this announce was applied.
-- A fill's: {seeders, leechers, hs, hl, k, member, ...}: hs seeders and hl leechers are live
-- past the horizon; k = min(hs, numwant) of those seeders follow, then min(hl, numwant) of
-- those leechers, any family, the announcer's own included (the cache serves them to others).
--
-- Calls on a re-announce (the common case): ZADD, 2 ZCOUNT, PTTL and the ZRANGE windows of
-- the reply. The rest is rare: the hash on a new member or a completed event, pruning on
-- a new member or a random 8/n of the announces, three PEXPIREs about twice per peer ttl.
--
-- Numbers go to redis.call() as the strings they came in: a Lua number would be
-- formatted with snprintf on every call.
--! loaded-by: frontend

--! include prune
--! include account

local now = ARGV[1]
local peer_id = ARGV[4]
local endpoints = ARGV[5]
local seeding = ARGV[6] == '1'
local event = ARGV[7]
local numwant = tonumber(ARGV[8])
local family = ARGV[9]
local seeders, leechers, peers = KEYS[1], KEYS[2], KEYS[3]

local me = peer_id .. endpoints
local written = nil -- the set this announce added to or refreshed
local added = false -- whether its member is new there
local snatched = false -- whether a completed event was counted
local private = KEYS[4] ~= nil

-- The set holding the member a hash record describes: 'S' seeders, 'L' and 'C' leechers.
local function set_of(record)
    return string.sub(record, 1, 1) == 'S' and seeders or leechers
end

if event == '3' then
    local old = redis.call('HGET', peers, peer_id)
    if old then
        redis.call('ZREM', set_of(old), peer_id .. string.sub(old, 2))
        redis.call('HDEL', peers, peer_id)
    end
else
    written = seeding and seeders or leechers
    -- A re-announce from the same place in the same role only refreshes the score; the
    -- hash is read only when the member is new (new peer, new address, new role) or for
    -- a completed event.
    added = redis.call('ZADD', written, ARGV[2], me) == 1
    if added or event == '2' then
        local old = redis.call('HGET', peers, peer_id)
        local old_role = old and string.sub(old, 1, 1)
        -- completed counts once per download: not from a peer known as a seeder, nor from
        -- a leecher whose completion was counted already ('C': it said completed with
        -- left > 0). A seeder that leeches again ('L') starts a new download.
        if event == '2' and old_role ~= 'S' and old_role ~= 'C' then
            redis.call('HINCRBY', peers, 'downloaded', 1)
            snatched = true
        end
        local role = seeding and 'S' or ((event == '2' or old_role == 'C') and 'C' or 'L')
        local record = role .. endpoints
        if old ~= record then
            -- The member of the previous announce goes, unless it is the one just written.
            if old and (set_of(old) ~= written or string.sub(old, 2) ~= endpoints) then
                redis.call('ZREM', set_of(old), peer_id .. string.sub(old, 2))
            end
            redis.call('HSET', peers, peer_id, record)
        end
    end
end

if private then
    account(peers, KEYS[4], peer_id, endpoints, now, event, snatched,
            {ARGV[13], ARGV[14], ARGV[15], ARGV[16], ARGV[17], ARGV[18], ARGV[19], ARGV[20],
             ARGV[21]})
end

-- Live peers only: expired ones sort first (the score is the expiry) and may still be
-- there, as they are not pruned on every announce.
local live = '(' .. now
local nseeders = redis.call('ZCOUNT', seeders, live, '+inf')
local nleechers = redis.call('ZCOUNT', leechers, live, '+inf')
local rand = tonumber(ARGV[11])

-- Expired peers leave their set and the hash (bounded per call, so one announce never
-- stalls Redis): when a member is new (arrivals prune departures, so a churning swarm does
-- not grow), and on every announce to a swarm of up to 8 live peers, and on a random 8/n
-- of the announces to a swarm of n (about 12 times per peer ttl). The aggregator's passes
-- prune every swarm too. Counts and replies never depend on it.
local n = nseeders + nleechers
if added or n <= 8 or math.floor(rand / 65536) % n < 8 then
    prune(seeders, peers, now, '256', private)
    prune(leechers, peers, now, '256', private)
end

-- Idle swarms expire (purge_inactive_torrents): the three keys get a TTL of key_ttl (2 x
-- peer ttl) together. Every announce that writes a member reads the TTL left on its set
-- (PTTL, O(1)) and renews all three when under 3/4 of key_ttl is left (the last renewal
-- was over half a peer ttl ago), or when the set has none (a new key). So a set outlives
-- every member's expiry by at least half a peer ttl (margin for the frontends' clocks
-- against Redis's), the hash lives as long as the sets, and a peer that announces within
-- its lifetime is never lost with its key, whatever the swarm's shape; a swarm of any
-- size pays the three PEXPIREs about twice per peer ttl and set.
if ARGV[10] == '1' and written then
    local key_ttl = tonumber(ARGV[3])
    if redis.call('PTTL', written) < key_ttl - key_ttl / 4 then
        redis.call('PEXPIRE', seeders, ARGV[3])
        redis.call('PEXPIRE', leechers, ARGV[3])
        redis.call('PEXPIRE', peers, ARGV[3])
    end
end

local reply = {nseeders, nleechers}
if event == '3' or numwant <= 0 then return reply end

local fill = ARGV[12] ~= ''
if fill then
    -- Windows among the members that outlive the horizon: the top ranks, as above.
    nseeders = redis.call('ZCOUNT', seeders, ARGV[12], '+inf')
    nleechers = redis.call('ZCOUNT', leechers, ARGV[12], '+inf')
    reply[3], reply[4], reply[5] = nseeders, nleechers, 0
    me, family = false, '0'
end

local function wanted(m)
    if m == me then return false end
    -- A member's length tells its families (storage/keys.h).
    if family == '4' then return #m ~= @MEMBER_V6_LEN@ end
    if family == '6' then return #m ~= @MEMBER_V4_LEN@ end
    return true
end

-- Appends the wanted members of window to the reply, up to want; returns how many more
-- are wanted.
local function keep(window, want)
    for i = 1, #window do
        if want == 0 then break end
        local m = window[i]
        if wanted(m) then
            reply[#reply + 1] = m
            want = want - 1
        end
    end
    return want
end

-- Appends up to `want` members of `key` (holding `live` live ones). They are its last
-- `live` ranks (-live .. -1), after any expired ones. Small sets are returned whole; from a
-- larger one, a window at a random rank: O(log n + want) on the skiplist, where
-- ZRANDMEMBER would sample a hash table element by element. With a family filter, when
-- the window held too many of the other family, one wider window is read after it (most
-- swarms are nearly all IPv4, so reading wide up front would mostly be waste).
local function take(key, live, want)
    if want <= 0 or live == 0 then return end
    local n = want + 1 -- room for the announcer itself
    if live <= n then
        keep(redis.call('ZRANGE', key, -live, '-1'), want)
        return
    end
    -- Ranks among the live members, from 0; `base + rank` is the index in the set.
    local base = -live
    local start = rand % (live - n + 1)
    want = keep(redis.call('ZRANGE', key, base + start, base + start + n - 1), want)
    if want == 0 or family == '0' then return end
    -- The rest of the set, after the first window, up to 4 x want more members.
    local stop = math.min(live - 1, start + n + want * 4)
    if stop >= start + n then
        want = keep(redis.call('ZRANGE', key, base + start + n, base + stop), want)
    end
    if want > 0 and start > 0 then
        keep(redis.call('ZRANGE', key, base + math.max(0, start - want * 4), base + start - 1),
             want)
    end
end

if fill then
    take(seeders, nseeders, numwant)
    reply[5] = #reply - 5
    take(leechers, nleechers, numwant)
elseif seeding then
    -- A seeder only needs leechers.
    take(leechers, nleechers, numwant)
else
    take(seeders, nseeders, numwant)
    take(leechers, nleechers, numwant - (#reply - 2))
end
return reply
