-- Open-loop load for wrk 4 (LuaJIT) that records every answer: its status, latency and send lateness.
--
-- Run with one connection per thread (wrk -tN -cN): a thread's request() and response() then alternate
-- strictly, so each answer is matched with the request it answers (wrk passes no connection to
-- response()). Each thread offers RATE / N requests per second on its own fixed schedule (slot k at
-- start + k * interval, the first slot offset by the thread's index so the threads interleave); how late
-- a request left against its slot is recorded, as in wrk_open_loop.lua. Latency is from the moment the
-- request left to its answer.
--
-- wrk -tN -cN -dS -s wrk_per_request.lua URL -- BODIES_FILE RATE PATH RECORDS_FILE N
--   BODIES_FILE: one JSON body per line; RATE: requests per second over all threads; PATH: e.g. /predict;
--   RECORDS_FILE: written by done(), one line per answer: "status<TAB>sent_ms<TAB>latency_ms<TAB>lateness_ms"
--   (sent_ms on the monotonic clock); N: the thread count. done() prints "WRK_RESULT {json}" with wrk's socket error counts.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } perreq_timespec;
int clock_gettime(int clock_id, perreq_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now_spec = ffi.new("perreq_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_spec)
  return tonumber(now_spec.tv_sec) * 1000 + tonumber(now_spec.tv_nsec) / 1e6
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local prepared = {}
local next_request = 0
local interval_ms = 0
local first_slot_ms = nil
local next_slot = 0
local pending_slot = nil
local sent_ms = nil

-- Read back by done() through thread:get().
statuses = {}
sent = {}
latencies = {}
lateness = {}
records_path = nil

function init(args)
  local bodies_file, rate, path, threads_total = args[1], tonumber(args[2]), args[3], tonumber(args[5])
  records_path = args[4]
  interval_ms = 1000 * threads_total / rate
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(bodies_file) do
    if #line > 0 then
      prepared[#prepared + 1] = wrk.format("POST", path, headers, line)
    end
  end
  next_request = thread_index % #prepared
  -- every thread starts its schedule at its own offset into the first interval, so the threads interleave
  first_slot_ms = interval_ms * thread_index / threads_total
end

function delay()
  local now = now_ms()
  if next_slot == 0 then
    first_slot_ms = now + first_slot_ms
  end
  pending_slot = first_slot_ms + next_slot * interval_ms
  next_slot = next_slot + 1
  local wait = math.ceil(pending_slot - now)  -- wrk's timers count whole milliseconds: never fire early
  if wait < 0 then
    wait = 0
  end
  return wait
end

function request()
  sent_ms = now_ms()
  lateness[#lateness + 1] = pending_slot and math.max(0, sent_ms - pending_slot) or 0
  next_request = next_request % #prepared + 1
  return prepared[next_request]
end

function response(status, headers, body)
  local now = now_ms()
  local index = #statuses + 1
  if status == 200 then
    local label = string.match(body, '"sentiment"%s*:%s*"(%u+)"')
    if label ~= "POSITIVE" and label ~= "NEGATIVE" then
      status = 0  -- a 200 without a known label counts as a bad answer
    end
  end
  statuses[index] = status
  sent[index] = sent_ms
  latencies[index] = now - sent_ms
end

function done(summary, latency, requests)
  local path = threads[1]:get("records_path")
  local out = assert(io.open(path, "w"))
  for _, thread in ipairs(threads) do
    local s, t, l, late = thread:get("statuses"), thread:get("sent"), thread:get("latencies"), thread:get("lateness")
    for i = 1, #s do
      out:write(string.format("%d\t%.3f\t%.3f\t%.3f\n", s[i], t[i], l[i], late[i] or 0))
    end
  end
  out:close()
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout
  ))
end
