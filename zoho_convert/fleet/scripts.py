"""The Lua scripts the fleet runs inside Redis: each is one round trip and atomic.

Times come from Redis (``TIME``), in milliseconds, so the processes' clocks never need to
agree about leases. Token expiry is the exception: it is wall-clock epoch seconds from the
minting process, compared by the reading process (Zoho's clock is the one that matters, and
every process is assumed NTP-synced within seconds; tokens are refreshed minutes early).
"""

from __future__ import annotations

__all__ = [
    "ACQUIRE",
    "CLAIM",
    "EXTEND_CLAIMS",
    "MARK_CONVERTED",
    "RELEASE",
    "RELEASE_CLAIMS",
    "RELEASE_LATER",
    "RENEW",
    "TOKEN_ABORT",
    "TOKEN_BEGIN",
    "TOKEN_COMMIT",
]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: Take a slot, or join the queue of waiters, in one step.
#: KEYS: holders (zset member -> lease end), waiters (zset member -> ticket),
#:       waiter leases (zset member -> lease end), ticket counter.
#: ARGV: limit, member, lease ms, channel, limit name.
#: Returns {1, 0} when the slot is taken, {0, ticket} when queued.
#: A member holds its slot until released or until its lease ends unrenewed (its process died
#: or stalled): expired holders are dropped here, as are waiters whose lease ended, so a dead
#: process never blocks the queue. Waiters are served by ticket: a newcomer takes a slot only
#: when there are more free slots than waiters ahead of it, so waiting is roughly FIFO.
ACQUIRE = (
    _NOW
    + """
local limit = tonumber(ARGV[1])
local member = ARGV[2]
local lease = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], member) then
  -- a repeat of an acquire whose reply was lost: it already holds the slot
  redis.call('ZADD', KEYS[1], now + lease, member)
  return {1, 0}
end
local reclaimed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = limit - redis.call('ZCARD', KEYS[1])
if free > 0 then
  local ahead = redis.call('ZRANGE', KEYS[2], 0, free - 1)
  local i = 1
  while i <= #ahead do
    local ends = redis.call('ZSCORE', KEYS[3], ahead[i])
    if (not ends) or tonumber(ends) <= now then
      redis.call('ZREM', KEYS[2], ahead[i])
      redis.call('ZREM', KEYS[3], ahead[i])
      ahead = redis.call('ZRANGE', KEYS[2], 0, free - 1)
      i = 1
    else
      i = i + 1
    end
  end
  local mine = #ahead < free
  for _, w in ipairs(ahead) do
    if w == member then mine = true end
  end
  if mine then
    redis.call('ZADD', KEYS[1], now + lease, member)
    redis.call('ZREM', KEYS[2], member)
    redis.call('ZREM', KEYS[3], member)
    if free > 1 and redis.call('ZCARD', KEYS[2]) > 0 then
      redis.call('PUBLISH', ARGV[4], ARGV[5])  -- slots are left for the next in line
    end
    return {1, 0}
  end
end
if reclaimed > 0 then
  redis.call('PUBLISH', ARGV[4], ARGV[5])  -- dead holders' slots came back: wake the head
end
local ticket = redis.call('ZSCORE', KEYS[2], member)
if not ticket then
  ticket = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[2], ticket, member)
end
redis.call('ZADD', KEYS[3], now + lease, member)
return {0, tonumber(ticket)}
"""
)

#: Give a slot back, or leave the queue. KEYS: holders, waiters, waiter leases.
#: ARGV: member, channel, limit name. Returns 1 when a held slot was given back.
RELEASE = """
local held = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if held > 0 and redis.call('ZCARD', KEYS[2]) > 0 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return held
"""

#: Extend the leases of this process's holders and waiters.
#: KEYS: holders, waiter leases. ARGV: lease ms, number of holders, holders..., waiters...
#: Returns the holders whose lease had already ended (their slot may be someone else's now).
RENEW = (
    _NOW
    + """
local lease = tonumber(ARGV[1])
local holders = tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV do
  local key = KEYS[2]
  if i < 3 + holders then key = KEYS[1] end
  local ends = redis.call('ZSCORE', key, ARGV[i])
  if ends and tonumber(ends) > now then
    redis.call('ZADD', key, now + lease, ARGV[i])
  elseif i < 3 + holders then
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
"""
)

#: Start a token refresh. KEYS: token hash, lock, failure hash. ARGV: stale token ('' for
#: none), owner, lock ms, now (epoch seconds, the caller's clock).
#: Returns {'current', token, expires_at, api_domain} when an unexpired token other than the
#: stale one exists; {'failed', field, value, ...} while the last mint's failure is held (so
#: a failing refresh is tried once per hold by the whole fleet, not once per process);
#: {'mint'} when the caller took the lock; {'wait'} when another process holds it.
TOKEN_BEGIN = """
local cur = redis.call('HMGET', KEYS[1], 'token', 'expires_at', 'api_domain')
if cur[1] and cur[1] ~= ARGV[1] and tonumber(cur[2]) > tonumber(ARGV[4]) then
  return {'current', cur[1], cur[2], cur[3] or ''}
end
local failed = redis.call('HGETALL', KEYS[3])
if #failed > 0 then
  table.insert(failed, 1, 'failed')
  return failed
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return {'mint'}
end
return {'wait'}
"""

#: Store a minted token, forget any failure, and drop the lock if still ours.
#: KEYS: token hash, lock, failure hash. ARGV: owner, token, expires_at, api_domain, ms left.
TOKEN_COMMIT = """
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'expires_at', ARGV[3], 'api_domain', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('DEL', KEYS[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 1
"""

#: A mint failed: hold its description for a while, and drop the lock if still ours.
#: KEYS: lock, failure hash. ARGV: owner, hold ms, field, value, field, value...
TOKEN_ABORT = """
if #ARGV > 2 then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], unpack(ARGV, 3))
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

#: Claim ids. KEYS: claims (zset id -> claim end), owners (hash id -> owner), converted set.
#: ARGV: owner, ttl ms, renew (1: an id this owner holds is claimed again, its end moved on,
#: never sooner), ids... Returns {claimed, held}: an id already converted is never claimed
#: (it goes with the held ones), so a worker that checked the ledger just before another
#: finished the id still does not submit it again.
CLAIM = (
    _NOW
    + """
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 200)
for _, id in ipairs(ended) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
local ttl = tonumber(ARGV[2])
local renew = ARGV[3] == '1'
local claimed = {}
local held = {}
for i = 4, #ARGV do
  local ends = redis.call('ZSCORE', KEYS[1], ARGV[i])
  local taken = ends and tonumber(ends) > now
  local finish = now + ttl
  if taken and renew and redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    taken = false
    if tonumber(ends) > finish then finish = tonumber(ends) end
  end
  if taken or redis.call('SISMEMBER', KEYS[3], ARGV[i]) == 1 then
    held[#held + 1] = ARGV[i]
  else
    redis.call('ZADD', KEYS[1], finish, ARGV[i])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[1])
    claimed[#claimed + 1] = ARGV[i]
  end
end
return {claimed, held}
"""
)

#: Drop the caller's claims. KEYS: claims, owners. ARGV: owner, ids...
RELEASE_CLAIMS = """
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
return 1
"""

#: Make the caller's claims end by a time (a claim ending sooner keeps its end).
#: KEYS: claims, owners. ARGV: owner, delay ms, ids...
RELEASE_LATER = (
    _NOW
    + """
local ends = now + tonumber(ARGV[2])
for i = 3, #ARGV do
  local held = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if held and tonumber(held) > ends and redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], ends, ARGV[i])
  end
end
return 1
"""
)

#: Make the caller's unexpired claims last at least ttl from now (a claim ending later keeps
#: its end; an id it no longer holds is never claimed). KEYS: claims, owners.
#: ARGV: owner, ttl ms, ids...
EXTEND_CLAIMS = (
    _NOW
    + """
local ends = now + tonumber(ARGV[2])
for i = 3, #ARGV do
  local held = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if held and tonumber(held) > now and tonumber(held) < ends
      and redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], ends, ARGV[i])
  end
end
return 1
"""
)

#: Record ids converted and drop their claims. KEYS: converted set, claims, owners, modules.
#: ARGV: module, ids...
MARK_CONVERTED = """
redis.call('SADD', KEYS[4], ARGV[1])
for i = 2, #ARGV do
  redis.call('SADD', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[3], ARGV[i])
end
return 1
"""
