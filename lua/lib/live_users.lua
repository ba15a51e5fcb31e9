-- count_users(members, peers, role, tally): private mode's live peers per user, for the
-- report's get=user: adds 1 to tally[user id][role] (1 seeding, 2 leeching) for each member
-- of a swarm set whose peer has an accounting record in the swarm's hash `peers`
-- ('a' .. peer_id, lua/lib/account.lua: its user id comes first).
-- flat_tally(tally): {user id, seeding, leeching, ...}, for a reply.
local function count_users(members, peers, role, tally)
    for i = 1, #members do
        local rec = redis.call('HGET', peers, 'a' .. string.sub(members[i], 1, @MEMBER_ID_LEN@))
        if rec then
            local uid = struct.unpack('>I4', rec)
            local t = tally[uid]
            if not t then
                t = {0, 0}
                tally[uid] = t
            end
            t[role] = t[role] + 1
        end
    end
end

local function flat_tally(tally)
    local flat = {}
    for uid, t in pairs(tally) do
        flat[#flat + 1] = uid
        flat[#flat + 1] = t[1]
        flat[#flat + 1] = t[2]
    end
    return flat
end
