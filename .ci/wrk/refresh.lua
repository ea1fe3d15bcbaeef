-- Refresh-token rotation under load: each connection (one per thread) follows its own chain,
-- presenting the token the previous answer returned. TOKENS holds one start token per thread.
local tokens = {}
for t in string.gmatch(os.getenv("TOKENS"), "[^,]+") do table.insert(tokens, t) end
local next_index = 1

function setup(thread)
  thread:set("token", tokens[next_index])
  next_index = next_index + 1
end

function request()
  return wrk.format("POST", "/auth/refresh", {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local t = string.match(body, '"refresh_token":"([^"]+)"')
  if status == 200 and t then token = t else errors_seen = (errors_seen or 0) + 1 end
end
