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
-- 256 bytes, a number below any 2048-bit modulus (its first byte is 1):
-- the server cannot refuse it before the exponentiation. denials.sh
-- passes random bytes in BAD_SIG; without it, a fixed pattern.
local sig = os.getenv("BAD_SIG")
if sig == nil or #sig ~= 342 then
  sig = "AQ" .. string.rep("Ab", 169) .. "AA"
end
local counter = 0
request = function()
  counter = counter + 1
  local claims = b64url('{"iss":"bench","aud":"bench","sub":"alice","exp":9999999999,"jti":"' .. counter .. '"}')
  -- the signature changes too (6 of its bytes carry the counter), so
  -- neither the token nor its signature was seen before
  local s = sig:sub(1, 2) .. b64url(string.format("%06d", counter % 1000000)) .. sig:sub(11)
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. head .. "." .. claims .. "." .. s })
end
