-- table_head.lua: where a frontend starts following the shared tables' changes before it
-- loads them (storage/tables.c): the latest change's number and stream id, which
-- table_change.lua writes together.
--
-- KEYS[1] {starling}:tables:changes STREAM   KEYS[2] {starling}:tables:seq STRING
-- Reply: {seq (0 before any change), id ('0-0' when the stream is empty)}
--! loaded-by: frontend
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', '1')
return {seq, last[1] and last[1][1] or '0-0'}
