"""Lua scripts that change a user's sessions atomically on their one key.

All the sessions of a user live in one hash, ``u:{<user id>}``:

- ``e``, ``t``, ``c``: the user's e-mail, type code and creation time (s);
- ``<r>``: the state of session ``<r>`` (12 characters), four base-36
  numbers ``generation created last-rotation absolute-deadline``, times in
  ms; or ``!<deadline>`` once the session was closed for reuse (a tombstone
  that answers every token of the family until that deadline);
- ``<r>a``, ``<r>i``: the session's user agent and address, when known.

Base 36 keeps every value short, so the hash stays in Redis's compact
encoding. A session's deadline is checked against the caller's clock in
every script; the key's TTL only frees memory and is kept at the latest
deadline of its sessions. Sessions past their deadline are dropped when the
user next signs in or is revoked, and a user holds at most
``SESSIONS_PER_USER`` sessions (tombstones included), so the work of one
sign-in and the size of one hash stay bounded.

ARGV values that are stored go in as the caller's strings: Lua numbers print
in %.14g and would lose digits.
"""

from __future__ import annotations

_PRELUDE = """
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(n)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(DIGITS, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  return s
end
local function state(gen, created, last, absolute)
  return b36(gen) .. ' ' .. b36(created) .. ' ' .. b36(last) .. ' ' .. b36(absolute)
end
local function parse(value)
  local g, c, l, a = string.match(value, '^(%w+) (%w+) (%w+) (%w+)$')
  return tonumber(g, 36), tonumber(c, 36), tonumber(l, 36), tonumber(a, 36)
end
local function deadline(value, idle)
  if string.sub(value, 1, 1) == '!' then return tonumber(string.sub(value, 2), 36) end
  local _, _, last, absolute = parse(value)
  return math.min(last + idle, absolute)
end
local function drop(r)
  redis.call('HDEL', KEYS[1], r, r .. 'a', r .. 'i')
end
local function put(field, value, old)
  if value == (old or '') then return end
  if value == '' then redis.call('HDEL', KEYS[1], field)
  else redis.call('HSET', KEYS[1], field, value) end
end
local function keep_for(ms)
  if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
end
"""

#: KEYS[1] the user's sessions; ARGV session, now, absolute deadline, first
#: lifetime, idle lifetime, user agent, ip, e-mail, user type code, user
#: created (s), most sessions a user may hold.
#: Replies {1, ended...} started, naming the live sessions it ended to stay
#: within the limit (those nearest their deadline, ties by name); {0} the
#: session id is taken (pick another).
CREATE = _PRELUDE + """
local r = ARGV[1]
local now, idle = tonumber(ARGV[2]), tonumber(ARGV[5])
if redis.call('HEXISTS', KEYS[1], r) == 1 then return {0} end
local all = redis.call('HGETALL', KEYS[1])
local held = {}
for i = 1, #all, 2 do
  if #all[i] == 12 then
    local ends = deadline(all[i + 1], idle)
    if now >= ends then drop(all[i])
    else held[#held + 1] = {all[i], ends, string.sub(all[i + 1], 1, 1) ~= '!'} end
  end
end
local reply = {1}
local over = #held - tonumber(ARGV[11]) + 1
if over > 0 then
  table.sort(held, function(x, y)
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[1] < y[1]
  end)
  for i = 1, over do
    drop(held[i][1])
    if held[i][3] then reply[#reply + 1] = held[i][1] end
  end
end
redis.call('HSET', KEYS[1], 'e', ARGV[8], 't', ARGV[9], 'c', ARGV[10],
  r, state(0, now, now, tonumber(ARGV[3])))
put(r .. 'a', ARGV[6])
put(r .. 'i', ARGV[7])
keep_for(tonumber(ARGV[4]))
return reply
"""

#: KEYS[1] the user's sessions; ARGV session, presented generation, now, idle
#: lifetime, grace, user agent, ip.
#: Replies {0} invalid; {1, gen, ms left, e-mail, type, created} rotated;
#: {2, ...} grace (the current successor again); {3, gen, 0, ua, ip} reuse:
#: revoked; {4} a token of a session already closed for reuse.
ROTATE = _PRELUDE + """
local r = ARGV[1]
local f = redis.call('HMGET', KEYS[1], r, 'e', 't', 'c', r .. 'a', r .. 'i')
if not f[1] then return {0} end
local now, idle = tonumber(ARGV[3]), tonumber(ARGV[4])
local ends = deadline(f[1], idle)
if string.sub(f[1], 1, 1) == '!' then
  if now < ends then return {4} end
  redis.call('HDEL', KEYS[1], r)
  return {0}
end
if now >= ends then
  drop(r)
  return {0}
end
local gen, created, last, absolute = parse(f[1])
local presented = tonumber(ARGV[2])
if presented == gen then
  gen = gen + 1
  redis.call('HSET', KEYS[1], r, state(gen, created, now, absolute))
  put(r .. 'a', ARGV[6], f[5])
  put(r .. 'i', ARGV[7], f[6])
  ends = math.min(now + idle, absolute)
  keep_for(ends - now)
  return {1, gen, ends - now, f[2], f[3], f[4]}
end
-- Only a rotation moves the last-rotation time.
if presented == gen - 1 and now - last < tonumber(ARGV[5]) then
  return {2, gen, ends - now, f[2], f[3], f[4]}
end
if presented < gen then
  redis.call('HSET', KEYS[1], r, '!' .. b36(ends))
  redis.call('HDEL', KEYS[1], r .. 'a', r .. 'i')
  return {3, gen, 0, f[5] or '', f[6] or ''}
end
return {0}
"""

#: KEYS[1] the user's sessions; ARGV session, now, idle lifetime.
#: Replies 1 revoked; 0 no live session.
REVOKE = _PRELUDE + """
local r = ARGV[1]
local value = redis.call('HGET', KEYS[1], r)
if not value or string.sub(value, 1, 1) == '!' then return 0 end
drop(r)
if tonumber(ARGV[2]) >= deadline(value, tonumber(ARGV[3])) then return 0 end
return 1
"""

#: KEYS[1] the user's sessions; ARGV now, idle lifetime.
#: Revokes every session of the user and drops what is past its deadline;
#: tombstones stay until theirs. Replies how many sessions were live.
REVOKE_USER = _PRELUDE + """
local now, idle = tonumber(ARGV[1]), tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local live, kept = 0, 0
for i = 1, #all, 2 do
  local field, value = all[i], all[i + 1]
  if #field == 12 then
    local ended = now >= deadline(value, idle)
    if string.sub(value, 1, 1) == '!' and not ended then
      kept = kept + 1
    else
      if not ended then live = live + 1 end
      drop(field)
    end
  end
end
if kept == 0 then redis.call('DEL', KEYS[1]) end
return live
"""
