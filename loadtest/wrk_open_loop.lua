-- Open-loop load for wrk 4 (LuaJIT): a constant arrival rate, whatever the server's latency.
--
-- wrk itself is closed-loop (each connection sends its next request when the last one is answered).
-- Here every request gets a slot on a fixed schedule (start + k / rate) shared by the thread's
-- connections: delay() hands a connection the next free slot and waits until it is due, so requests
-- go out at the offered rate as long as a connection is free, as wrk2's -R does. How late each request
-- went out against its slot is recorded: a late send means every connection was busy, i.e. the
-- generator could not offer the rate. Answers are checked for a known sentiment label.
--
-- wrk -t1 -cN -dS -s wrk_open_loop.lua URL -- BODIES_FILE RATE PATH
--   BODIES_FILE: one JSON body per line; RATE: requests per second for this thread; PATH: e.g. /predict
-- done() prints one line: "WRK_RESULT {json}".

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } loadtest_timespec;
int clock_gettime(int clock_id, loadtest_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_spec = ffi.new("loadtest_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_spec)
  return tonumber(now_spec.tv_sec) * 1000 + tonumber(now_spec.tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local prepared = {}
local next_request = 0
local interval_ms = 0
local start_ms = nil
local next_slot = 0
local due = {}
local due_head, due_tail = 1, 0

-- Read back by done() through thread:get().
lateness_ms = {}
bad_answers = 0
answers = 0

function init(args)
  local bodies_file, rate, path = args[1], tonumber(args[2]), args[3]
  interval_ms = 1000 / rate
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(bodies_file) do
    if #line > 0 then
      prepared[#prepared + 1] = wrk.format("POST", path, headers, line)
    end
  end
end

function delay()
  local now = now_ms()
  if start_ms == nil then
    start_ms = now
  end
  local slot = start_ms + next_slot * interval_ms
  next_slot = next_slot + 1
  due_tail = due_tail + 1
  due[due_tail] = slot
  local wait = math.ceil(slot - now)  -- wrk's timers count whole milliseconds: never fire early
  if wait < 0 then
    wait = 0
  end
  return wait
end

function request()
  local slot = due[due_head]
  if slot ~= nil then
    due[due_head] = nil
    due_head = due_head + 1
    lateness_ms[#lateness_ms + 1] = now_ms() - slot
  end
  next_request = next_request % #prepared + 1
  return prepared[next_request]
end

function response(status, headers, body)
  answers = answers + 1
  if status == 200 then
    local label = string.match(body, '"sentiment"%s*:%s*"(%u+)"')
    if label ~= "POSITIVE" and label ~= "NEGATIVE" then
      bad_answers = bad_answers + 1
    end
  end
end

local function percentile_of(sorted, fraction)
  if #sorted == 0 then
    return 0
  end
  local index = math.max(1, math.ceil(#sorted * fraction))
  return sorted[index]
end

function done(summary, latency, requests)
  local late = {}
  local bad, answered = 0, 0
  for _, thread in ipairs(threads) do
    for _, value in ipairs(thread:get("lateness_ms") or {}) do
      late[#late + 1] = value
    end
    bad = bad + (thread:get("bad_answers") or 0)
    answered = answered + (thread:get("answers") or 0)
  end
  table.sort(late)
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"bad_answers": %d, "answers": %d, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p95": %d, "p99": %d, "max": %d}, ' ..
    '"lateness_ms": {"p50": %.3f, "p99": %.3f, "max": %.3f, "count": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    bad, answered,
    latency.mean, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    percentile_of(late, 0.5), percentile_of(late, 0.99), late[#late] or 0, #late
  ))
end
