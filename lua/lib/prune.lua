-- prune(key, peers, now, limit, acct): drops at most `limit` members of the swarm set `key`
-- that expired by `now` (their score), and their records in the swarm's hash `peers`, named
-- there by the member's first MEMBER_ID_LEN bytes: the peer_id; with acct, their private
-- mode accounting records too ('a' .. peer_id). Returns how many went.
local function prune(key, peers, now, limit, acct)
    local gone = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', '0', limit)
    if #gone == 0 then return 0 end
    redis.call('ZREM', key, unpack(gone))
    local ids = {}
    for i = 1, #gone do
        local id = string.sub(gone[i], 1, @MEMBER_ID_LEN@)
        ids[#ids + 1] = id
        if acct then ids[#ids + 1] = 'a' .. id end
    end
    redis.call('HDEL', peers, unpack(ids))
    return #gone
end
