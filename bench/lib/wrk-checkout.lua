-- wrk script for `bench/run checkout`: every connection is a guest buyer who
-- adds two products to a new cart and places an order from it, again and again.
--
--   step 1  POST /api/v1/cart/items               (no key: the server makes a cart,
--                                                  answers its key in X-Cart-Key)
--   step 2  POST /api/v1/cart/items  X-Cart-Key   (a second, different product)
--   step 3  POST /api/v1/orders      X-Cart-Key   (201, or 409 INSUFFICIENT_STOCK)
--
-- wrk gives Lua no connection handle: `response()` of one connection and
-- `request()` of another interleave within a thread. So no state is kept per
-- connection. Each request carries its own X-Request-Id, which the server
-- echoes; `response()` finds the request by it, and queues the cart for its
-- next step in a per-thread FIFO. `request()` takes the oldest queued cart, or
-- starts a new one when none waits. Each response queues at most one cart and
-- each request takes at most one, so a thread never has more carts in play
-- than connections. A cart whose step fails (409, other status) is dropped.
--
-- Input (environment):
--   CHECKOUT_PRODUCTS  comma-separated product ids the buyers pick from (>= 2)
--   WRK_JSON_OUT       where `done` writes the summary as JSON
--
-- Per-step latencies are timed here (CLOCK_MONOTONIC through LuaJIT's FFI),
-- from `request()` (wrk writes the request right after) to `response()` (wrk
-- calls it once the whole response is read), into log-spaced buckets 1 %
-- wide; the percentiles are the buckets' middles (within 0.5 %).
-- wrk copies only flat tables between its Lua states (a nested table crashes
-- it), so every thread keeps its figures in one flat table, `stats`.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local STEPS = { "cart_new", "cart_add", "order" }
local BUCKETS_PER_E = 100 -- log-spaced: bucket b holds [e^(b/100), e^((b+1)/100)) µs

-- ------------------------------------------------------------ main state ----
local threads = {}

function setup(thread)
  thread:set("thread_no", #threads + 1)
  table.insert(threads, thread)
end

-- --------------------------------------------------------- thread states ----
local products, queue_head, queue_tail, queue, pending, seq, json_headers, verify_call
local ADDRESS = '"shippingAddress":{"firstName":"Ada","lastName":"Lovelace",' ..
    '"address1":"1 Main St","city":"London","postcode":"N1 9GU","country":"GB",' ..
    '"phone":"+44 20 7946 0000"}'

function init(args)
  products = {}
  for id in string.gmatch(os.getenv("CHECKOUT_PRODUCTS") or "", "[^,%s]+") do
    table.insert(products, id)
  end
  if #products < 2 then
    error("wrk-checkout.lua: CHECKOUT_PRODUCTS must list at least 2 product ids")
  end
  math.randomseed(7919 * thread_no)
  queue, queue_head, queue_tail = {}, 1, 0
  pending = {} -- request id -> { step, key, second product, start µs }
  seq = 0
  -- figures: "c.<name>" counters, "h.<step>.<bucket>" latency histograms
  stats = {}
  json_headers = { ["Content-Type"] = "application/json" }
  verify_call = thread_no == 1
end

local function count(name, n)
  stats[name] = (stats[name] or 0) + (n or 1)
end

local function record_latency(step, us)
  local b = math.floor(math.log(math.max(us, 1)) * BUCKETS_PER_E)
  count("h." .. step .. "." .. b)
end

local function push(cart)
  queue_tail = queue_tail + 1
  queue[queue_tail] = cart
end

local function pop()
  if queue_head > queue_tail then return nil end
  local cart = queue[queue_head]
  queue[queue_head] = nil
  queue_head = queue_head + 1
  return cart
end

local function add_item_body(product)
  return '{"productId":"' .. product .. '","quantity":1}'
end

function request()
  if verify_call then
    -- wrk calls request() once in the first thread's state before the run,
    -- only to parse what it returns: send nothing, count nothing.
    verify_call = false
    return wrk.format("POST", "/api/v1/cart/items", json_headers, add_item_body(products[1]))
  end
  seq = seq + 1
  local rid = "bench-" .. thread_no .. "-" .. seq
  local cart = pop()
  local headers = { ["Content-Type"] = "application/json", ["X-Request-Id"] = rid }
  local path, body
  if cart == nil then
    -- a new buyer: two different products, picked uniformly
    local n = #products
    local a = math.random(n)
    local b = math.random(n - 1)
    if b >= a then b = b + 1 end
    cart = { step = "cart_new", second = products[b] }
    path, body = "/api/v1/cart/items", add_item_body(products[a])
  elseif cart.step == "cart_add" then
    headers["X-Cart-Key"] = cart.key
    path, body = "/api/v1/cart/items", add_item_body(cart.second)
  else -- "order"
    headers["X-Cart-Key"] = cart.key
    path = "/api/v1/orders"
    body = '{"email":"buyer' .. thread_no .. "-" .. seq .. '@example.com",' .. ADDRESS .. "}"
  end
  count("c.sent." .. cart.step)
  cart.start = now_us()
  pending[rid] = cart
  return wrk.format("POST", path, headers, body)
end

local function header(headers, name)
  return headers[name] or headers[string.upper(string.sub(name, 1, 1)) .. string.sub(name, 2)]
end

function response(status, headers, body)
  local stop = now_us()
  local rid = header(headers, "x-request-id") or header(headers, "X-Request-Id")
  local cart = rid and pending[rid]
  if not cart then
    -- not one of ours, or the server dropped X-Request-Id: cannot tell the step
    count("c.unmatched")
    if status < 200 or status > 299 then count("c.unmatched_non2xx") end
    return
  end
  pending[rid] = nil
  local step = cart.step
  record_latency(step, stop - cart.start)
  if status >= 200 and status <= 299 then
    count("c.ok." .. step)
    if step == "cart_new" then
      local key = header(headers, "x-cart-key") or header(headers, "X-Cart-Key")
      if key then
        push({ step = "cart_add", key = key, second = cart.second })
      else
        count("c.no_cart_key")
      end
    elseif step == "cart_add" then
      push({ step = "order", key = cart.key })
    end
    -- an order done: the buyer starts over with a new cart
  elseif status == 409 and body and string.find(body, "INSUFFICIENT_STOCK", 1, true) then
    count("c.409." .. step) -- expected as stock runs out; the cart is dropped
  else
    count("c.error." .. step .. "." .. status)
  end
end

-- ------------------------------------------------------------- summary ----
local function percentile(hist, total, p)
  if total == 0 then return nil end
  local rank = math.max(1, math.ceil(total * p / 100))
  local keys = {}
  for b in pairs(hist) do table.insert(keys, b) end
  table.sort(keys)
  local seen = 0
  for _, b in ipairs(keys) do
    seen = seen + hist[b]
    if seen >= rank then return math.exp((b + 0.5) / BUCKETS_PER_E) end
  end
  return nil
end

local function num(x)
  if x == nil then return "null" end
  return string.format("%.3f", x)
end

function done(summary, latency, requests)
  local path = os.getenv("WRK_JSON_OUT")
  if path == nil or path == "" then
    io.stderr:write("wrk-checkout.lua: WRK_JSON_OUT is not set\n")
    return
  end
  -- merge the threads' flat tables
  local counters, hists = {}, {}
  for _, s in ipairs(STEPS) do hists[s] = {} end
  for _, thread in ipairs(threads) do
    local s = thread:get("stats") or {}
    for k, v in pairs(s) do
      local step, b = string.match(k, "^h%.([%w_]+)%.(%-?%d+)$")
      if step then
        hists[step] = hists[step] or {}
        b = tonumber(b)
        hists[step][b] = (hists[step][b] or 0) + v
      else
        local name = string.match(k, "^c%.(.+)$")
        if name then counters[name] = (counters[name] or 0) + v end
      end
    end
  end

  local parts = {}
  for name, v in pairs(counters) do
    table.insert(parts, string.format('"%s":%.0f', name, v))
  end
  table.sort(parts)
  local steps = {}
  for _, s in ipairs(STEPS) do
    local total = 0
    for _, n in pairs(hists[s]) do total = total + n end
    table.insert(steps, string.format(
      '"%s":{"responses":%.0f,"p50_us":%s,"p90_us":%s,"p99_us":%s,"max_us":%s}',
      s, total, num(percentile(hists[s], total, 50)), num(percentile(hists[s], total, 90)),
      num(percentile(hists[s], total, 99)), num(percentile(hists[s], total, 100))))
  end

  local n_products = 0 -- `init` runs in the threads' states, not this one
  for _ in string.gmatch(os.getenv("CHECKOUT_PRODUCTS") or "", "[^,%s]+") do
    n_products = n_products + 1
  end
  local e = summary.errors
  local f = assert(io.open(path, "w"))
  f:write(string.format(
    '{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"min":%.0f,"mean":%.3f,"stdev":%.3f,"max":%.0f,' ..
    '"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f},' ..
    '"checkout":{"threads":%d,"products":%d,"counters":{%s},"steps":{%s}}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    #threads, n_products, table.concat(parts, ","), table.concat(steps, ",")))
  f:close()
end
