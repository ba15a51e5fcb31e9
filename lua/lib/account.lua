-- account(peers, pending, peer_id, endpoints, now, event, snatched, a): private mode's
-- accounting of one announce (storage/acct.h), in the swarm's script so that it is as
-- durable as the announce itself. a = ARGV[13..21]: user id, torrent id, freetorrent,
-- token ('1'), uploaded, downloaded, left, visible ('1'), user agent.
--
-- The peer's previous counters live in the swarm's hash as 'a' .. peer_id, packed
-- (struct, big-endian) as ACCT_RECORD: user id, uploaded, downloaded, left, first_ms,
-- last_ms, announces. The deltas since then (a counter lower than last time: the client
-- restarted, and it counts from zero; a peer first seen counts only after 'started', when
-- BEP 3 says the counters start; never negative), with freetorrent (1: download not
-- counted, 2: neither) and a token (download not counted, but reported) applied, are added
-- to this slot's pending hash, field "<user id>:<torrent id>:<peer_id>", packed as
-- ACCT_PENDING: up, down, token_down, seed_ms, snatched, announces, left, active, last_ms,
-- spent_ms, up_speed, down_speed (bytes/s over the last interval), the client's uploaded
-- and downloaded as it reported them (Gazelle's peer lists show those), then the length of the
-- endpoints (a byte), the endpoints (none for a user whose address is hidden), and the user
-- agent. A pending hash at ACCT_PENDING_MAX fields
-- takes no new field: '#dropped' counts what was lost so (the aggregator drains it every
-- aggregator.accounting_interval). Numbers are doubles: exact up to 2^53.
local ACCT_RECORD = '>I4dddddI4'
local ACCT_PENDING = '>dddddddBdddddd'

local function account(peers, pending, peer_id, endpoints, now, event, snatched, a)
    local uid, tid, free, token = tonumber(a[1]), a[2], a[3], a[4]
    local up, down, left = tonumber(a[5]), tonumber(a[6]), tonumber(a[7])
    local t = tonumber(now)
    local field = 'a' .. peer_id
    local rec = redis.call('HGET', peers, field)
    local dup, ddown, seed, first, n, span = 0, 0, 0, t, 1, 0
    local puid, pu, pd, pleft, pfirst, plast, pn
    if rec then
        puid, pu, pd, pleft, pfirst, plast, pn = struct.unpack(ACCT_RECORD, rec)
    end
    if puid == uid then
        dup = up >= pu and up - pu or up
        ddown = down >= pd and down - pd or down
        first, n = pfirst, pn + 1
        span = math.max(0, t - plast)
        if left == 0 and pleft == 0 then seed = span end
    elseif event == '1' then
        dup, ddown = up, down
    end
    if event == '3' then
        redis.call('HDEL', peers, field)
    else
        redis.call('HSET', peers, field, struct.pack(ACCT_RECORD, uid, up, down, left, first, t, n))
    end

    local cup, cdown, tok = dup, ddown, 0
    if free == '2' then
        cup, cdown = 0, 0
    elseif free == '1' then
        cdown = 0
    elseif token == '1' then
        tok, cdown = ddown, 0
    end
    local key = a[1] .. ':' .. tid .. ':' .. peer_id
    local o1, o2, o3, o4, o5, o6 = 0, 0, 0, 0, 0, 0
    local old = redis.call('HGET', pending, key)
    if old then
        o1, o2, o3, o4, o5, o6 = struct.unpack(ACCT_PENDING, old)
    elseif redis.call('HLEN', pending) >= @ACCT_PENDING_MAX@ then
        redis.call('HINCRBY', pending, '#dropped', 1)
        return
    end
    local shown = a[8] == '1' and endpoints or ''
    local ups, downs = 0, 0
    if span > 0 then
        ups, downs = math.floor(dup * 1000 / span), math.floor(ddown * 1000 / span)
    end
    redis.call('HSET', pending, key,
               struct.pack(ACCT_PENDING, o1 + cup, o2 + cdown, o3 + tok, o4 + seed,
                           o5 + (snatched and 1 or 0), o6 + 1, left, event == '3' and 0 or 1,
                           t, t - first, ups, downs, up, down) .. struct.pack('B', #shown) ..
                   shown .. a[9])
end
