-- count_families(members, v4, v6): v4 plus the members with an IPv4 endpoint, and v6 plus
-- those with an IPv6 one (a dual-stacked member counts in both). A member's length tells:
-- MEMBER_V4_LEN IPv4 only, MEMBER_V6_LEN IPv6 only, MEMBER_DUAL_LEN both.
local function count_families(members, v4, v6)
    for i = 1, #members do
        local len = #members[i]
        if len ~= @MEMBER_V6_LEN@ then v4 = v4 + 1 end
        if len ~= @MEMBER_V4_LEN@ then v6 = v6 + 1 end
    end
    return v4, v6
end
