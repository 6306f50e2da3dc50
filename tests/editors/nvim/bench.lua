-- Test init for :CodeassistBenchmark (tests/editors/test_nvim_client.py::test_benchmark_command_runs_and_opens_report),
-- run as   nvim --headless --clean -u tests/editors/nvim/bench.lua FIXTURE_REPO/calc.py
-- Loads the plugin like a user (setup()), runs `:CodeassistBenchmark 1` (a real `codeassist bench repo --holes 1`
-- job), waits for it to end, and writes what it saw to $CODEASSIST_TEST_OUT as JSON before `qa!`.
-- Environment: CODEASSIST_PLUGIN_DIR, CODEASSIST_SERVER, CODEASSIST_TEST_OUT, CODEASSIST_BENCH_OUT (the --out dir),
-- CODEASSIST_TEST_TIMEOUT_MS.
local env = vim.env
vim.opt.rtp:prepend(env.CODEASSIST_PLUGIN_DIR)
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'

local out = { messages = {} }
local function finish(err)
  out.error = err
  local f = assert(io.open(env.CODEASSIST_TEST_OUT, 'w'))
  f:write(vim.json.encode(out))
  f:close()
  vim.cmd('qa!')
end

local notify = vim.notify
vim.notify = function(msg, level, o)
  table.insert(out.messages, { msg = msg, level = level })
  return notify(msg, level, o)
end

local ok, err = pcall(function()
  -- filetypes = {}: no server is started for the buffer; the benchmark starts its own through the CLI.
  require('codeassist').setup({
    cmd = { env.CODEASSIST_SERVER, 'serve' },
    filetypes = {},
    bench_args = { '--out', env.CODEASSIST_BENCH_OUT },
    settings = { max_tokens = 16 },
  })
  out.command_exists = vim.fn.exists(':CodeassistBenchmark') == 2
  local events = {}
  vim.api.nvim_create_autocmd('User', {
    pattern = 'CodeassistBenchmark',
    callback = function(ev)
      table.insert(events, ev.data)
    end,
  })
  local bench = require('codeassist.bench')
  vim.cmd('CodeassistBenchmark 1')
  out.job_id = bench.current and bench.current.id or nil
  out.argv = bench.current and bench.current.argv or nil
  local timeout = tonumber(env.CODEASSIST_TEST_TIMEOUT_MS or '') or 240000
  out.ended = vim.wait(timeout, function()
    return #events > 0 and events[#events].event == 'done'
  end, 200)
  vim.wait(500) -- the scheduled tabedit/notify after the done event
  out.events = events
  out.buffer = vim.api.nvim_buf_get_name(0)
  out.buffer_head = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]
  out.tabs = #vim.api.nvim_list_tabpages()
end)
finish(not ok and tostring(err) or nil)
