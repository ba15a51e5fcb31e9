-- table_read.lua: the shared tables' changes after the last one a frontend applied.
--
-- KEYS[1] {starling}:tables:changes STREAM   ARGV[1] that change's id   ARGV[2] at most this many
-- Reply: {id, n, t, o, k, v, id, n, t, o, k, v, ...}: each change's stream id, number,
-- table, 'add' or 'del', member or field, value ('' for a set's); oldest first.
--! loaded-by: frontend
local out = {}
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
for i = 1, #entries do
    local id, fields = entries[i][1], entries[i][2]
    local f = {}
    for j = 1, #fields, 2 do f[fields[j]] = fields[j + 1] end
    out[#out + 1] = id
    out[#out + 1] = f.n or ''
    out[#out + 1] = f.t or ''
    out[#out + 1] = f.o or ''
    out[#out + 1] = f.k or ''
    out[#out + 1] = f.v or ''
end
return out
