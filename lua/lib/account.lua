-- account(peers, pending, peer_id, endpoints, now, event, snatched, spec): private mode's
-- accounting of one announce (storage/acct.h), in the swarm's script so that it is as
-- durable as the announce itself.
--
-- The peer's previous counters live in the swarm's hash as 'a' .. peer_id:
--   "<user id> <uploaded> <downloaded> <left> <first_ms> <last_ms> <announces>"
-- The deltas since then (a counter lower than last time: the client restarted, and it
-- counts from zero; a peer first seen counts only after 'started', when BEP 3 says the
-- counters start; never negative), with freetorrent (1: download not counted, 2: neither)
-- and a token (download not counted, but reported) applied, are added to this slot's
-- pending hash, field "<user id>:<torrent id>:<peer_id>":
--   "<up> <down> <token_down> <seed_ms> <snatched> <announces> <left> <active> <last_ms>
--    <spent_ms> <up_speed> <down_speed>|<endpoints>"
-- (speeds in bytes/s over the last interval; endpoints empty for a user whose address is
-- hidden). A pending hash at ACCT_PENDING_MAX fields takes no new field: '#dropped' counts
-- what was lost so (the aggregator drains it every aggregator.accounting_interval).
local function account(peers, pending, peer_id, endpoints, now, event, snatched, spec)
    local a = {}
    for x in string.gmatch(spec, '%S+') do a[#a + 1] = x end
    local uid, tid, free, token = a[1], a[2], a[3], a[4]
    local up, down, left = tonumber(a[5]), tonumber(a[6]), tonumber(a[7])
    local t = tonumber(now)
    local field = 'a' .. peer_id
    local p = {}
    local rec = redis.call('HGET', peers, field)
    if rec then
        for x in string.gmatch(rec, '%S+') do p[#p + 1] = x end
    end
    local dup, ddown, seed, first, n, span = 0, 0, 0, t, 1, 0
    if p[1] == uid then
        local pu, pd = tonumber(p[2]), tonumber(p[3])
        dup = up >= pu and up - pu or up
        ddown = down >= pd and down - pd or down
        first, n = tonumber(p[5]), tonumber(p[7]) + 1
        span = math.max(0, t - tonumber(p[6]))
        if left == 0 and tonumber(p[4]) == 0 then seed = span end
    elseif event == '1' then
        dup, ddown = up, down
    end
    if event == '3' then
        redis.call('HDEL', peers, field)
    else
        redis.call('HSET', peers, field, uid .. ' ' .. a[5] .. ' ' .. a[6] .. ' ' .. a[7] .. ' ' ..
                   string.format('%d', first) .. ' ' .. now .. ' ' .. string.format('%d', n))
    end

    local cup, cdown, tok = dup, ddown, 0
    if free == '2' then
        cup, cdown = 0, 0
    elseif free == '1' then
        cdown = 0
    elseif token == '1' then
        tok, cdown = ddown, 0
    end
    local key = uid .. ':' .. tid .. ':' .. peer_id
    local o = {0, 0, 0, 0, 0, 0}
    local old = redis.call('HGET', pending, key)
    if old then
        local i = 0
        for x in string.gmatch(string.sub(old, 1, string.find(old, '|', 1, true) - 1), '%S+') do
            i = i + 1
            if i > 6 then break end
            o[i] = tonumber(x)
        end
    elseif redis.call('HLEN', pending) >= @ACCT_PENDING_MAX@ then
        redis.call('HINCRBY', pending, '#dropped', 1)
        return
    end
    local ups, downs = 0, 0
    if span > 0 then
        ups, downs = math.floor(dup * 1000 / span), math.floor(ddown * 1000 / span)
    end
    redis.call('HSET', pending, key,
               string.format('%d %d %d %d %d %d %s %d %s %d %d %d|', o[1] + cup, o[2] + cdown,
                             o[3] + tok, o[4] + seed, o[5] + (snatched and 1 or 0), o[6] + 1,
                             a[7], event == '3' and 0 or 1, now, t - first, ups, downs) ..
                   (a[8] == '1' and endpoints or ''))
end
