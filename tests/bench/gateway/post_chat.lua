-- wrk script: every request is the same OpenAI chat-completion POST (tests/bench/gateway/chat_request.json)
-- carrying the bench tenant's API key, so each path of the benchmark sees identical traffic.
local path = os.getenv("BENCH_BODY_FILE")
local file = assert(io.open(path, "rb"), "BENCH_BODY_FILE must name the request body file")
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_API_KEY"), "BENCH_API_KEY must be set")
