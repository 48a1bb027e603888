"""Lua scripts that change a session atomically on its one key.

Times and lifetimes are milliseconds. ARGV values that are stored go in as
the caller's strings: Lua numbers print in %.14g and would lose digits.
"""

from __future__ import annotations

#: KEYS[1] session; ARGV now, absolute deadline, first lifetime, user id,
#: user agent, ip, e-mail, user type code, user created (s).
CREATE = """
redis.call('HSET', KEYS[1], 'u', ARGV[4], 'g', 0, 'c', ARGV[1], 'l', ARGV[1],
  'a', ARGV[2], 'ua', ARGV[5], 'ip', ARGV[6], 'e', ARGV[7],
  't', ARGV[8], 'uc', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

#: KEYS[1] session, KEYS[2] its reuse tombstone; ARGV presented generation,
#: now, idle lifetime, grace, user agent, ip.
#: Replies {0} invalid; {1, gen, ms left, user...} rotated; {2, ...} grace
#: (the current successor again); {3, gen, 0, user id, ua, ip} reuse: revoked;
#: {4} a token of a session already closed for reuse (until its deadline).
#: The tombstone lives until the session's own deadline, so every holder of
#: the family, the victim included, learns why it ended.
ROTATE = """
local f = redis.call('HMGET', KEYS[1], 'g', 'l', 'a', 'u', 'e', 't', 'uc', 'ua',
  'ip')
if not f[1] then
  local until_ms = redis.call('GET', KEYS[2])
  if until_ms and tonumber(ARGV[2]) < tonumber(until_ms) then return {4} end
  return {0}
end
local gen = tonumber(f[1])
local now = tonumber(ARGV[2])
local idle = tonumber(ARGV[3])
local last = tonumber(f[2])
local absolute = tonumber(f[3])
local deadline = math.min(last + idle, absolute)
if now >= deadline then
  redis.call('DEL', KEYS[1])
  return {0}
end
local presented = tonumber(ARGV[1])
if presented == gen then
  gen = gen + 1
  redis.call('HSET', KEYS[1], 'g', gen, 'l', ARGV[2], 'ua', ARGV[5], 'ip', ARGV[6])
  deadline = math.min(now + idle, absolute)
  redis.call('PEXPIRE', KEYS[1], deadline - now)
  return {1, gen, deadline - now, f[4], f[5], f[6], f[7]}
end
-- Only a rotation moves 'l', so it is also the time of the last rotation.
if presented == gen - 1 and now - last < tonumber(ARGV[4]) then
  return {2, gen, deadline - now, f[4], f[5], f[6], f[7]}
end
if presented < gen then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], string.format('%d', deadline), 'PX', deadline - now)
  return {3, gen, 0, f[4], f[8], f[9]}
end
return {0}
"""

#: KEYS[1] session; ARGV owner ('' for any), now, idle lifetime.
#: Replies {0} no live session; {-1, owner} someone else's; {1, owner} revoked.
REVOKE = """
local f = redis.call('HMGET', KEYS[1], 'u', 'l', 'a')
if not f[1] then return {0} end
local deadline = math.min(tonumber(f[2]) + tonumber(ARGV[3]), tonumber(f[3]))
if tonumber(ARGV[2]) >= deadline then
  redis.call('DEL', KEYS[1])
  return {0}
end
if ARGV[1] ~= '' and f[1] ~= ARGV[1] then return {-1, f[1]} end
redis.call('DEL', KEYS[1])
return {1, f[1]}
"""
