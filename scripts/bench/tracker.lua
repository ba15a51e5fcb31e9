-- wrk load script for scripts/bench.sh: announces or scrapes over N torrents with
-- Zipf (s = 1) popularity.
--
--   wrk ... URL -- MODE TORRENTS PEERS SEED [WORKLOAD [USERS]]
--     MODE      announce | scrape                       (default announce)
--     TORRENTS  number of info_hashes, indexes 0..N-1   (default 100000)
--     PEERS     simulated peer pool                     (default 1000000)
--     SEED      random seed (per wrk thread, + thread number)
--     WORKLOAD  steady | churn (announces only)         (default steady)
--     USERS     private mode: announce at /<passkey>/announce, peer p as user
--               p % USERS; 0 or absent: /announce      (announces only)
--
-- The info_hashes are those of scripts/bench/hashes.py (keep ih_bytes() identical),
-- which writes opentracker's whitelist; so are the passkeys (passkey(), `hashes.py
-- passkeys N`), which bench.sh loads as the private run's users.
--
-- announce: peer uniformly from the pool. Workload steady: each peer p belongs to one
--   torrent, drawn by Zipf from a hash of p, so a peer drawn again re-announces its entry.
--   Workload churn: every announce names a torrent drawn afresh by Zipf (one more random
--   draw after the event's), so nearly every announce makes the peer a new member of a
--   swarm (peers hopping between torrents); the request sequence of steady is unchanged.
--   Peer p has peer_id "-SB0001-" .. 12 decimal digits of p and port
--   1024 + p % 64000; peers with p % 10 < 3 are seeders (left=0, 30%); events:
--   5% started, 1% stopped, 1% completed (left=0), the rest none; compact=1;
--   numwant omitted. Every byte of info_hash and peer_id is percent-encoded. With USERS
--   only the path differs (no extra random draw), so the request sequence is the same.
-- scrape: 1-3 torrents, each by Zipf.
--
-- A response whose body contains "failure" counts as a failure; done() prints one
-- line "BENCHRESULT key=value ..." that bench.sh parses (latency in ms).

local M32 = 4294967296

local function ih_bytes(i)
  -- exact in doubles while i < ~3.4e6 (bench.sh caps TORRENTS)
  local s = (i * 2654435761 + 0x9E3779B9) % M32
  for _ = 1, 4 do s = (s * 69069 + 12345) % M32 end
  local b = {}
  for k = 1, 16 do
    s = (s * 69069 + 12345) % M32
    b[k] = math.floor(s / 16777216)
  end
  b[17] = math.floor(i / 16777216) % 256
  b[18] = math.floor(i / 65536) % 256
  b[19] = math.floor(i / 256) % 256
  b[20] = i % 256
  return b
end

local ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

local function passkey(u)
  local s = (u * 2246822519 + 0x85EBCA6B) % M32
  for _ = 1, 4 do s = (s * 69069 + 12345) % M32 end
  local c = {}
  for k = 1, 26 do
    s = (s * 69069 + 12345) % M32
    local d = math.floor(s * 62 / M32) + 1
    c[k] = ALPHABET:sub(d, d)
  end
  for k = 32, 27, -1 do
    local d = u % 62 + 1
    c[k] = ALPHABET:sub(d, d)
    u = math.floor(u / 62)
  end
  return table.concat(c)
end

local PCT = {}
for c = 0, 255 do PCT[c] = string.format("%%%02X", c) end

local function pct_bytes(b)
  local t = {}
  for k = 1, #b do t[k] = PCT[b[k]] end
  return table.concat(t)
end

-- thread-global state (each wrk thread has its own Lua state)
local mode, ntor, npeers
local churn    -- workload churn: a fresh Zipf torrent per announce
local H        -- H[t] = percent-encoded info_hash of torrent t-1 (t = 1..ntor)
local CDF      -- CDF[t] = P(index <= t)
local TOR      -- TOR[p] = the torrent peer p is in (fixed, Zipf-distributed)
local G3       -- G3[n] = percent-encoded 3 decimal digits of n (0..999)
local APATH    -- APATH[p] = the announce path of peer p: "/<passkey>/announce" or "/announce"
local PID_PREFIX = pct_bytes({string.byte("-SB0001-", 1, 8)})
local random, floor = math.random, math.floor
failures = 0   -- global: read by done() through thread:get()

local function zipf(u)
  u = u or random()
  local lo, hi = 1, ntor
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if CDF[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

local threads = {}
local tcount = 0
-- BENCH_WRK_TARGETS="host:port,host:port": wrk thread k connects to the k-th (round
-- robin), so one wrk loads several frontends (bench.sh's scale section).
function setup(thread)
  tcount = tcount + 1
  thread:set("tnum", tcount)
  local targets = os.getenv("BENCH_WRK_TARGETS")
  if targets and targets ~= "" then
    local list = {}
    for t in string.gmatch(targets, "[^,]+") do list[#list + 1] = t end
    local host, port = list[(tcount - 1) % #list + 1]:match("^(.+):(%d+)$")
    thread.addr = wrk.lookup(host, port)[1]
  end
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "announce"
  ntor = tonumber(args[2] or "100000")
  npeers = tonumber(args[3] or "1000000")
  local seed = tonumber(args[4] or "12345")
  local workload = args[5] or "steady"
  if workload ~= "steady" and workload ~= "churn" then
    error("tracker.lua: workload must be steady or churn, not " .. tostring(workload))
  end
  churn = workload == "churn"
  math.randomseed(seed + (tnum or 0) * 7919)
  H, CDF = {}, {}
  local sum = 0
  for t = 1, ntor do
    H[t] = pct_bytes(ih_bytes(t - 1))
    sum = sum + 1 / t
    CDF[t] = sum
  end
  for t = 1, ntor do CDF[t] = CDF[t] / sum end
  CDF[ntor] = 1.0
  -- Each simulated peer stays in one torrent, so its later announces are re-announces
  -- of the same entry, as real clients' are (a peer drawn twice is the same peer).
  TOR = {}
  for p = 0, npeers - 1 do
    TOR[p] = zipf((((p * 2654435761) % M32) + 0.5) / M32)
  end
  G3 = {}
  for n = 0, 999 do
    local d = string.format("%03d", n)
    G3[n] = PCT[d:byte(1)] .. PCT[d:byte(2)] .. PCT[d:byte(3)]
  end
  if mode ~= "announce" and mode ~= "scrape" then
    error("tracker.lua: mode must be announce or scrape, not " .. tostring(mode))
  end
  local nusers = tonumber(args[6] or "0")
  APATH = {}
  if nusers > 0 then
    local PK = {}
    for u = 0, math.min(nusers, npeers) - 1 do PK[u] = "/" .. passkey(u) .. "/announce?" end
    for p = 0, npeers - 1 do APATH[p] = PK[p % nusers] end
  else
    for p = 0, npeers - 1 do APATH[p] = "/announce?" end
  end
end

local function announce_path()
  local p = random(0, npeers - 1)
  local t = TOR[p]
  local pid = PID_PREFIX .. G3[floor(p / 1e9) % 1000] .. G3[floor(p / 1e6) % 1000]
              .. G3[floor(p / 1e3) % 1000] .. G3[p % 1000]
  local left = (p % 10 < 3) and "0" or "1048576"
  local ev = ""
  local r = random(1, 100)
  if r <= 5 then ev = "&event=started"
  elseif r == 6 then ev = "&event=stopped"
  elseif r == 7 then ev = "&event=completed"; left = "0" end
  if churn then t = zipf() end
  return APATH[p] .. "info_hash=" .. H[t] .. "&peer_id=" .. pid .. "&port=" .. (1024 + p % 64000)
         .. "&uploaded=0&downloaded=0&left=" .. left .. ev .. "&compact=1"
end

local function scrape_path()
  local n = random(1, 3)
  local s = "/scrape?info_hash=" .. H[zipf()]
  for _ = 2, n do s = s .. "&info_hash=" .. H[zipf()] end
  return s
end

function request()
  if mode == "scrape" then
    return wrk.format("GET", scrape_path())
  end
  return wrk.format("GET", announce_path())
end

local find = string.find
function response(status, headers, body)
  if body and find(body, "failure", 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local fails = 0
  for _, t in ipairs(threads) do fails = fails + (t:get("failures") or 0) end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCHRESULT requests=%d seconds=%.3f rps=%.0f p50_ms=%.3f p99_ms=%.3f "
    .. "connect=%d read=%d write=%d status=%d timeout=%d failures=%d errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect, e.read, e.write, e.status, e.timeout, fails,
    e.connect + e.read + e.write + e.status + e.timeout + fails))
end
