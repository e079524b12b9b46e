-- wrk script: a new RS256 token on every request (its jti counts up), with
-- a signature of the right length that no key made: the server must check
-- the signature of each (none is in its cache) and refuse it.
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- base64url without padding
local function b64url(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = chars:sub(math.floor(n / 262144) % 64 + 1, math.floor(n / 262144) % 64 + 1)
      .. chars:sub(math.floor(n / 4096) % 64 + 1, math.floor(n / 4096) % 64 + 1)
      .. (b and chars:sub(math.floor(n / 64) % 64 + 1, math.floor(n / 64) % 64 + 1) or "")
      .. (c and chars:sub(n % 64 + 1, n % 64 + 1) or "")
  end
  return table.concat(out)
end

local head = b64url('{"alg":"RS256","typ":"JWT"}')
local sig = string.rep("A", 342) -- 256 zero bytes
local counter = 0
request = function()
  counter = counter + 1
  local claims = b64url('{"iss":"bench","aud":"bench","sub":"alice","exp":9999999999,"jti":"' .. counter .. '"}')
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. head .. "." .. claims .. "." .. sig })
end
