--- :CodeassistBenchmark — run the installed CLI's `codeassist bench repo <workspace>` as a job, report its progress
--- as messages, and open the Markdown report it wrote when it ends (or say why it failed: exit code and the last
--- stderr lines). The benchmark is the CLI's own (the one bench/ and the docs use), so the editor shows what the
--- project measures. The CLI ends stdout with "Rows, report.json and report.md: <dir>": that is how the report is
--- found (its default directory is under the user cache dir, which only the CLI knows).
local config = require('codeassist.config')

local B = {}

--- The running benchmark, if any: { id = job id, argv = the command, folder = the workspace }.
B.current = nil

local function notify(msg, level)
  vim.schedule(function()
    vim.notify(msg, level or vim.log.levels.INFO)
  end)
end

local function event(data)
  vim.schedule(function()
    vim.api.nvim_exec_autocmds('User', { pattern = 'CodeassistBenchmark', modeline = false, data = data })
  end)
end

--- The workspace folder of a buffer: its codeassist client's root, else the nearest root marker, else the cwd.
---@param bufnr integer
---@return string
function B.folder(bufnr)
  local client = config.get_client(bufnr)
  if client and client.root_dir then
    return client.root_dir
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  local root = name ~= '' and vim.fs.root(bufnr, config.options.root_markers) or nil
  return root or vim.fn.getcwd()
end

--- The command line: the server command's program (what precedes `serve` in `cmd`), then
--- `bench repo --holes N [--set KEY=JSON ...] [bench_args...] <folder>`. The plugin's server settings go along as
--- `--set`, so the benchmark measures the suggestions this editor gets.
---@param folder string
---@param holes? integer|string
---@return string[]
function B.command(folder, holes)
  local argv = {}
  for _, a in ipairs(config.options.cmd or {}) do
    if a == 'serve' then
      break
    end
    table.insert(argv, a)
  end
  if #argv == 0 then
    argv = { 'codeassist' }
  end
  local n = tonumber(holes) or tonumber(config.options.bench_holes) or 10
  if n < 1 or n ~= math.floor(n) then
    n = 10
  end
  vim.list_extend(argv, { 'bench', 'repo', '--holes', tostring(n) })
  local settings = config.options.settings or {}
  local keys = vim.tbl_keys(settings)
  table.sort(keys)
  for _, k in ipairs(keys) do
    vim.list_extend(argv, { '--set', k .. '=' .. vim.json.encode(settings[k]) })
  end
  vim.list_extend(argv, config.options.bench_args or {})
  table.insert(argv, folder)
  return argv
end

--- The report.md path from the CLI's stdout, or nil.
---@param stdout string
---@return string?
function B.report_path(stdout)
  for line in vim.gsplit(stdout, '\n', { plain = true }) do
    local dir = line:match('^Rows, report%.json and report%.md: (.-)%s*$')
    if dir then
      return vim.fs.joinpath(dir, 'report.md')
    end
  end
end

--- Split a chunk of stderr into clean lines (progress redraws use \r, a TTY gets escapes).
local function lines_of(text)
  local out = {}
  for part in vim.gsplit(text, '[\r\n]') do
    part = vim.trim(part:gsub('\27%[[%d;]*%a', ''))
    if part ~= '' then
      table.insert(out, part)
    end
  end
  return out
end

local function finish(job, code)
  B.current = nil
  local report = code == 0 and B.report_path(job.stdout) or nil
  if report and vim.uv.fs_stat(report) then
    vim.schedule(function()
      vim.cmd.tabedit(vim.fn.fnameescape(report))
      vim.notify('codeassist: benchmark of ' .. job.folder .. ' done: ' .. report, vim.log.levels.INFO)
    end)
  elseif job.stopped then
    notify('codeassist: benchmark stopped', vim.log.levels.WARN)
  else
    local tail = table.concat(vim.list_slice(job.stderr, math.max(1, #job.stderr - 5)), '\n')
    notify(string.format('codeassist: the benchmark failed (exit code %d)%s', code, tail ~= '' and (':\n' .. tail) or '.'),
      vim.log.levels.ERROR)
  end
  event({ event = 'done', code = code, report = report, argv = job.argv })
end

--- Start the benchmark of a buffer's workspace (unless one is running). Returns the job id, or nil.
---@param opts? { bufnr?: integer, holes?: integer|string, folder?: string }
---@return integer?
function B.run(opts)
  opts = opts or {}
  if B.current then
    notify('codeassist: a benchmark is already running (:CodeassistBenchmark stop ends it)', vim.log.levels.WARN)
    return nil
  end
  local folder = opts.folder or B.folder(opts.bufnr or vim.api.nvim_get_current_buf())
  local argv = B.command(folder, opts.holes)
  local job = { argv = argv, folder = folder, stdout = '', stderr = {}, partial = '' }
  local ok, id = pcall(vim.fn.jobstart, argv, {
    on_stdout = function(_, data)
      job.stdout = job.stdout .. table.concat(data, '\n')
    end,
    on_stderr = function(_, data)
      local text = job.partial .. table.concat(data, '\n')
      local last_nl = text:match('.*()[\r\n]')
      job.partial = last_nl and text:sub(last_nl + 1) or text
      for _, line in ipairs(last_nl and lines_of(text:sub(1, last_nl)) or {}) do
        table.insert(job.stderr, line)
        notify('codeassist bench: ' .. line)
      end
    end,
    on_exit = function(_, code)
      if job.partial ~= '' then
        vim.list_extend(job.stderr, lines_of(job.partial))
      end
      finish(job, code)
    end,
  })
  if not ok or id <= 0 then
    notify(string.format('codeassist: could not run %q (%s); set the plugin\'s cmd to the codeassist executable',
      argv[1], ok and 'not executable' or tostring(id)), vim.log.levels.ERROR)
    return nil
  end
  job.id = id
  B.current = job
  notify(string.format('codeassist: benchmarking %s (%s); :CodeassistBenchmark stop ends it', folder,
    table.concat(argv, ' ')))
  event({ event = 'start', id = id, argv = argv, folder = folder })
  return id
end

--- Stop the running benchmark (the CLI cleans its sandbox and server up on SIGTERM).
function B.stop()
  if not B.current then
    return notify('codeassist: no benchmark is running')
  end
  B.current.stopped = true
  vim.fn.jobstop(B.current.id)
end

return B
