-- One simulated client per wrk thread: run wrk with as many threads as
-- connections, so each thread's globals are one connection's state.
--
--   wrk -t N -c N -s client.lua URL -- MODE METHOD PATH COOKIE CLIENTS OUT [BODY]
--
-- MODE "refresh" sends the refresh cookie and carries the rotated cookie of
-- each answer into the next call; MODE "me" sends a bearer token. CLIENTS
-- holds one client a line: "<refresh cookie>\t<access token>". A response
-- counts as an error when its status is not 2xx or its body names "errors"
-- (GraphQL answers field errors with status 200). done() writes one JSON
-- object to OUT.

local ORIGIN = "http://127.0.0.1:5000"

local threads = {}
local next_index = 1

function setup(thread)
  thread:set("index", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end

function init(args)
  mode, method, path, cookie_name = args[1], args[2], args[3], args[4]
  clients_path, out_path, body = args[5], args[6], args[7]
  if body == "" then body = nil end
  errors, responses = 0, 0

  local line_number = 0
  for line in io.lines(clients_path) do
    line_number = line_number + 1
    if line_number == index then
      cookie, token = string.match(line, "^([^\t]*)\t(.*)$")
    end
  end
  if cookie == nil then
    error("no client on line " .. index .. " of " .. clients_path)
  end

  cookie_pattern = "^" .. string.gsub(cookie_name, "%-", "%%-") .. "=([^;]*)"
  if mode == "me" then
    static = wrk.format(method, path, {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
    }, body)
  end
end

function request()
  if static then
    return static
  end
  return wrk.format(method, path, {
    ["Cookie"] = cookie_name .. "=" .. cookie,
    ["Origin"] = ORIGIN,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, text)
  responses = responses + 1
  if status < 200 or status > 299 or (text and string.find(text, '"errors"', 1, true)) then
    errors = errors + 1
  end
  if mode == "refresh" then
    local set_cookie = headers["Set-Cookie"] or headers["set-cookie"]
    local value = set_cookie and string.match(set_cookie, cookie_pattern)
    if value and value ~= "" then
      cookie = value
    end
  end
end

function done(summary, latency, requests)
  local body_errors = 0
  for _, thread in ipairs(threads) do
    body_errors = body_errors + (thread:get("errors") or 0)
  end
  local e = summary.errors
  -- done() runs in the setup environment, which init() never saw: the
  -- output path comes from a thread's.
  local out = assert(io.open(threads[1]:get("out_path"), "w"))
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, body_errors,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), latency.mean))
  out:close()
end
