-- Header-based routing: clients that ask for version 2 of the API (with
-- "X-Api-Version: 2", or the cookie "beta=1" set by the web front) are
-- sent to "catalog-v2"; everyone else to "catalog".  The header is
-- removed before the request goes on, and the backend gets the version
-- as the FastCGI param AGORA_API_VERSION.  See agora-rules(5).

local function by_version(req)
	local version = req.headers:get("X-Api-Version")
	local cookie = req.headers:get("Cookie") or ""
	if version == "2" or cookie:find("%f[%w]beta=1%f[%W]") then
		req:set_service("catalog-v2")
		req.params:set("AGORA_API_VERSION", "2")
	elseif version ~= nil and version ~= "1" then
		return req:respond(400,
		    { ["Content-Type"] = "application/problem+json" },
		    '{"type":"about:blank","title":"Bad Request","status":400,' ..
		    '"detail":"X-Api-Version must be 1 or 2"}')
	end
	req.headers:remove("X-Api-Version")
end

group { service = "catalog", strip = "/api", handler = by_version,
	route { prefix = "/api/products" },
	route { prefix = "/api/categories" },
}
