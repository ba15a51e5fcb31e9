-- scrape.lua: counts of one swarm, read only (expired peers are not counted).
--
-- KEYS[1] {<hex>}:seeders  KEYS[2] {<hex>}:leechers  KEYS[3] {<hex>}:peers
-- ARGV[1] now_ms
-- Reply: {complete, incomplete, downloaded}
--! loaded-by: frontend

local live = '(' .. ARGV[1]
local downloaded = redis.call('HGET', KEYS[3], 'downloaded')
return {
    redis.call('ZCOUNT', KEYS[1], live, '+inf'),
    redis.call('ZCOUNT', KEYS[2], live, '+inf'),
    tonumber(downloaded or '0'),
}
