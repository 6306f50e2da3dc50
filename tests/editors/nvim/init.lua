-- Test init for the real-client test (tests/editors/test_nvim_client.py), run as
--   nvim --headless --clean -u tests/editors/nvim/init.lua FIXTURE.py
-- It loads the plugin from editors/nvim exactly as a user would (setup() + FileType), then drives it like a user:
-- types in insert mode, waits for ghost text, accepts it with <Tab>, runs the Explain and Fix code actions through
-- vim.lsp.buf.code_action() (recording what the explanation float held while the explanation streamed), and writes
-- everything it saw to $CODEASSIST_TEST_OUT as JSON before `qa!`.
--
-- Environment: CODEASSIST_PLUGIN_DIR (editors/nvim), CODEASSIST_SERVER (the codeassist executable),
-- CODEASSIST_TEST_OUT (JSON result path), CODEASSIST_TEST_SETTINGS (JSON server settings),
-- CODEASSIST_TEST_SCENARIO (JSON: completion {line, type}, explain {line1, line2}, fix {line}),
-- CODEASSIST_TEST_TIMEOUT_MS (per step).

local env = vim.env
vim.opt.rtp:prepend(env.CODEASSIST_PLUGIN_DIR)
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.opt.expandtab = true
vim.opt.shiftwidth = 4

local out_path = assert(env.CODEASSIST_TEST_OUT, 'CODEASSIST_TEST_OUT not set')
local scenario = vim.json.decode(env.CODEASSIST_TEST_SCENARIO or '{}')
local step_timeout = tonumber(env.CODEASSIST_TEST_TIMEOUT_MS or '') or 180000
local out = { steps = {}, log = {} }

local function log(msg)
  table.insert(out.log, string.format('%.3f %s', vim.uv.hrtime() / 1e9, msg))
end

local function finish(err)
  out.error = err
  out.status_text = vim.g.codeassist_status
  out.state = vim.g.codeassist_state
  out.buffer = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.json.encode(out))
  f:close()
  vim.cmd('qa!')
end

-- Run fn; turn a Lua error into a failed run instead of a hung editor.
local function guarded(fn)
  return function(...)
    local ok, err = xpcall(fn, debug.traceback, ...)
    if not ok then
      finish('lua error: ' .. tostring(err))
    end
  end
end

--- Poll cond() every 50 ms from the event loop (keys, LSP messages and timers all keep flowing), then call next().
local function wait_for(what, cond, next)
  local timer = assert(vim.uv.new_timer())
  local started = vim.uv.now()
  timer:start(50, 50, vim.schedule_wrap(guarded(function()
    if not timer:is_active() then
      return
    end
    local value = cond()
    if value then
      timer:stop()
      timer:close()
      log('got ' .. what)
      next(value)
    elseif vim.uv.now() - started > step_timeout then
      timer:stop()
      timer:close()
      finish('timed out waiting for ' .. what)
    end
  end)))
end

local codeassist = require('codeassist')
local ok_setup, setup_err = pcall(codeassist.setup, {
  cmd = vim.list_extend(
    { assert(env.CODEASSIST_SERVER, 'CODEASSIST_SERVER not set'), 'serve' },
    vim.split(env.CODEASSIST_SERVER_ARGS or '', ' ', { trimempty = true })
  ),
  settings = vim.json.decode(env.CODEASSIST_TEST_SETTINGS or '{}'),
  debounce_ms = 20,
  trace = function(msg)
    table.insert(out.log, string.format('%.3f trace %s', vim.uv.hrtime() / 1e9, msg))
  end,
})

local function client()
  return codeassist.get_client(0)
end

-- Steps ---------------------------------------------------------------------------------------------------------

local step_fix, step_explain, step_feedback, step_cycle, step_dismiss, step_done

local function step_complete()
  local sc = scenario.completion
  if not sc then
    return step_explain()
  end
  -- Go to the line, append at its end and type like a user: TextChangedI -> debounced inlineCompletion request.
  vim.api.nvim_win_set_cursor(0, { sc.line, 0 })
  local before = vim.api.nvim_get_current_line()
  log('typing on line ' .. sc.line)
  vim.api.nvim_feedkeys('A' .. (sc.type or ''), 'n', false)
  wait_for('ghost text', function()
    return codeassist.get_suggestion(0)
  end, function(sug)
    local marks = vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace('codeassist'), 0, -1, { details = true })
    local shown = {}
    for _, m in ipairs(marks) do
      local d = m[4]
      table.insert(shown, {
        row = m[2],
        col = m[3],
        virt_text = d.virt_text and vim.tbl_map(function(c) return c[1] end, d.virt_text) or nil,
        virt_text_pos = d.virt_text_pos,
        virt_lines = d.virt_lines and vim.tbl_map(function(l) return l[1][1] end, d.virt_lines) or nil,
      })
    end
    out.steps.completion = {
      line_before = before,
      line_typed = vim.api.nvim_get_current_line(),
      mode = vim.api.nvim_get_mode().mode,
      text = sug.text,
      ghost = sug.ghost,
      item = sug.item,
      extmarks = shown,
      cursor_before_accept = vim.api.nvim_win_get_cursor(0),
    }
    local tick = vim.api.nvim_buf_get_changedtick(0)
    -- <Tab> through the user's mappings ('m'): the plugin's buffer-local accept mapping must take it.
    vim.api.nvim_feedkeys(vim.keycode('<Tab>'), 'm', false)
    wait_for('accepted suggestion', function()
      return vim.api.nvim_buf_get_changedtick(0) ~= tick
    end, function()
      local c = out.steps.completion
      c.cursor_after_accept = vim.api.nvim_win_get_cursor(0)
      c.lines_after_accept = vim.api.nvim_buf_get_lines(0, sc.line - 1, sc.line - 1 + #vim.split(sug.ghost, '\n'), false)
      c.ghost_after_accept = #vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace('codeassist'), 0, -1, {})
      vim.api.nvim_feedkeys(vim.keycode('<Esc>'), 'n', false)
      wait_for('normal mode', function()
        return vim.api.nvim_get_mode().mode == 'n'
      end, function()
        step_explain()
      end)
    end)
  end)
end

local function line_range(line1, line2)
  local last = vim.api.nvim_buf_get_lines(0, line2 - 1, line2, false)[1] or ''
  -- vim.lsp.buf.code_action takes mark-like positions, end inclusive: the last character is at #last - 1.
  return { start = { line1, 0 }, ['end'] = { line2, math.max(#last - 1, 0) } }
end

step_explain = function()
  local se = scenario.explain
  if not se then
    return step_fix()
  end
  codeassist.last_explanation = nil
  -- What the float held after each change the plugin made to it (it fires User CodeassistExplain: pending, then
  -- streaming per $/progress report, then done), read from the float's own buffer, and whether the command had
  -- returned by then: recorded here, in the event loop, so Python checks the sequence without polling.
  local snapshots, progress = {}, {}
  local group = vim.api.nvim_create_augroup('codeassist_test_explain', { clear = true })
  vim.api.nvim_create_autocmd('User', {
    group = group,
    pattern = 'CodeassistExplain',
    callback = function(ev)
      local d = ev.data or {}
      local snap = { state = d.state, win = d.win, returned = codeassist.last_explanation ~= nil }
      if d.win and vim.api.nvim_win_is_valid(d.win) then
        local b = vim.api.nvim_win_get_buf(d.win)
        snap.lines = vim.api.nvim_buf_get_lines(b, 0, -1, false)
        snap.filetype = vim.bo[b].filetype
        snap.floating = vim.api.nvim_win_get_config(d.win).relative ~= ''
      end
      table.insert(snapshots, snap)
    end,
  })
  -- Neovim's own $/progress handling (LspProgress, vim.lsp.status()) still sees the explain token.
  vim.api.nvim_create_autocmd('LspProgress', {
    group = group,
    callback = function(ev)
      local p = ev.data.params
      if type(p.token) == 'string' and p.token:find('^codeassist/explain/') then
        table.insert(progress, {
          token = p.token,
          kind = p.value.kind,
          title = p.value.title,
          message = p.value.message,
          status = p.value.kind == 'report' and vim.lsp.status() or nil,
        })
      end
    end,
  })
  -- The "codeassist: Explain" code action, picked through Neovim's own code action UI path.
  vim.lsp.buf.code_action({
    range = line_range(se.line1, se.line2),
    filter = function(a)
      return a.title == 'codeassist: Explain'
    end,
    apply = true,
  })
  wait_for('explanation', function()
    return codeassist.last_explanation
  end, function(md)
    vim.api.nvim_del_augroup_by_id(group)
    local floats = {}
    for _, w in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(w).relative ~= '' then
        local b = vim.api.nvim_win_get_buf(w)
        local lines = vim.api.nvim_buf_get_lines(b, 0, -1, false)
        table.insert(floats, { win = w, filetype = vim.bo[b].filetype, lines = lines })
      end
    end
    out.steps.explain = { markdown = md, floats = floats, snapshots = snapshots, progress = progress }
    for _, w in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(w).relative ~= '' then
        vim.api.nvim_win_close(w, true)
      end
    end
    step_fix()
  end)
end

step_fix = function()
  local sf = scenario.fix
  if not sf then
    return step_feedback()
  end
  local c = client()
  if sf.text then
    -- Earlier steps may have inserted lines: find the broken line by its text.
    sf.line = vim.fn.index(vim.api.nvim_buf_get_lines(0, 0, -1, false), sf.text) + 1
    if sf.line == 0 then
      return finish('fix line not found: ' .. sf.text)
    end
  end
  local rng = line_range(sf.line, sf.line)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(0) },
    range = { start = { line = sf.line - 1, character = 0 }, ['end'] = { line = sf.line - 1, character = #vim.fn.getline(sf.line) } },
    context = { diagnostics = {}, only = { 'quickfix' } },
  }
  -- What the server offers (titles carry the verification level) ...
  c:request('textDocument/codeAction', params, guarded(function(err, actions)
    out.steps.fix = { titles = {}, error = err and err.message, line = sf.line }
    for _, a in ipairs(actions or {}) do
      table.insert(out.steps.fix.titles, a.title)
    end
    local tick = vim.api.nvim_buf_get_changedtick(0)
    -- ... and the first codeassist fix applied through vim.lsp.buf.code_action (codeAction/resolve, then the edit).
    local picked = false
    vim.lsp.buf.code_action({
      range = rng,
      context = { only = { 'quickfix' }, diagnostics = {} },
      filter = function(a)
        if picked or not (a.title or ''):find('^codeassist: Fix') then
          return false
        end
        picked = true
        out.steps.fix.applied_title = a.title
        return true
      end,
      apply = true,
    })
    wait_for('fix edit', function()
      return vim.api.nvim_buf_get_changedtick(0) ~= tick
    end, function()
      out.steps.fix.lines_after = vim.api.nvim_buf_get_lines(0, 0, -1, false)
      step_feedback()
    end)
  end), 0)
end

-- Acceptance stats, dismissal, the switches, the log, the 0.12 detection ---------------------------------------

local function requests_sent()
  local n = 0
  for _, line in ipairs(out.log) do
    if line:find('trace inlineCompletion request', 1, true) then
      n = n + 1
    end
  end
  return n
end

--- Type `keys` in insert mode at the end of the last line, wait `ms`: how many requests went out, whether a ghost showed.
local function type_and_watch(keys, ms, next)
  local before = requests_sent()
  vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(0), 0 })
  vim.api.nvim_feedkeys('A' .. keys, 'n', false)
  vim.defer_fn(guarded(function()
    local result = { requests = requests_sent() - before, ghost = codeassist.get_suggestion(0) ~= nil }
    vim.api.nvim_feedkeys(vim.keycode('<Esc>'), 'n', false)
    wait_for('normal mode', function()
      return vim.api.nvim_get_mode().mode == 'n'
    end, function()
      next(result)
    end)
  end), ms)
end

local function step_switches(fb)
  vim.cmd('CodeassistToggle')
  fb.enabled_after_toggle = codeassist.config.enabled
  type_and_watch('x', 1500, function(off_global)
    fb.off_global = off_global
    vim.cmd('CodeassistToggle')
    vim.cmd('CodeassistToggleFiletype')
    fb.disabled_filetypes = vim.deepcopy(codeassist.config.disabled_filetypes)
    type_and_watch('y', 1500, function(off_ft)
      fb.off_filetype = off_ft
      vim.cmd('CodeassistToggleFiletype python')
      fb.disabled_after = vim.deepcopy(codeassist.config.disabled_filetypes)
      local win = vim.api.nvim_get_current_win()
      vim.cmd('CodeassistLog')
      local lbuf = vim.api.nvim_get_current_buf()
      fb.log = { name = vim.api.nvim_buf_get_name(lbuf), lines = #vim.api.nvim_buf_get_lines(lbuf, 0, -1, false) }
      vim.cmd('close')
      vim.api.nvim_set_current_win(win)
      fb.builtin = { present = vim.lsp.inline_completion ~= nil, used = codeassist.uses_builtin() }
      codeassist.stats(0, false, guarded(function(err, result)
        fb.stats_error = err and err.message
        fb.stats = result
        step_done()
      end))
    end)
  end)
end

step_feedback = function()
  local fb = {}
  out.steps.feedback = fb
  -- a second suggestion, dismissed with the dismiss key
  local n = vim.api.nvim_buf_line_count(0)
  vim.api.nvim_buf_set_lines(0, n, n, false, { '', '', 'def double(n: int) -> int:', '    return' })
  vim.api.nvim_win_set_cursor(0, { n + 4, 0 })
  vim.api.nvim_feedkeys('A ', 'n', false)
  wait_for('a second ghost text', function()
    return codeassist.get_suggestion(0)
  end, function(first)
    step_cycle(fb, first)
  end)
end

--- <M-]> on a suggestion that came while typing (one candidate): an invoked request, whose second candidate shows;
--- <M-[> goes back to the first. Then the dismiss key.
step_cycle = function(fb, first)
  local function text_of(item)
    return type(item.insertText) == 'table' and item.insertText.value or item.insertText
  end
  fb.cycle = { first = first.text, first_count = #(first.items or {}) }
  vim.api.nvim_feedkeys(vim.keycode('<M-]>'), 'm', false)
  wait_for('the next candidate', function()
    local s = codeassist.get_suggestion(0)
    return s and s.item ~= first.item and s
  end, function(nxt)
    fb.cycle.texts = vim.tbl_map(text_of, nxt.items or {})
    fb.cycle.next, fb.cycle.next_index = nxt.text, nxt.index
    vim.api.nvim_feedkeys(vim.keycode('<M-[>'), 'm', false)
    wait_for('the previous candidate', function()
      local s = codeassist.get_suggestion(0)
      return s and s.item ~= nxt.item and s
    end, function(prev)
      fb.cycle.prev, fb.cycle.prev_index = prev.text, prev.index
      step_dismiss(fb)
    end)
  end)
end

step_dismiss = function(fb)
  vim.api.nvim_feedkeys(vim.keycode('<C-]>'), 'm', false)
  wait_for('dismissed', function()
    return not codeassist.get_suggestion(0)
  end, function()
    fb.dismissed_mode = vim.api.nvim_get_mode().mode
    vim.api.nvim_feedkeys(vim.keycode('<Esc>'), 'n', false)
    wait_for('normal mode', function()
      return vim.api.nvim_get_mode().mode == 'n'
    end, function()
      step_switches(fb)
    end)
  end)
end

step_done = function()
  out.range_for_lines = codeassist.range_for_lines(0, 1, 2, client())
  finish(nil)
end

if not ok_setup then
  vim.schedule(function()
    finish('setup failed: ' .. tostring(setup_err))
  end)
else
  vim.api.nvim_create_autocmd('VimEnter', {
    once = true,
    callback = guarded(function()
      log('VimEnter, filetype=' .. vim.bo.filetype)
      wait_for('codeassist/status ready', function()
        local st = vim.g.codeassist_state
        if st and st.state == 'error' then
          finish('server reported error: ' .. tostring(st.message))
          return false
        end
        return client() ~= nil and st and st.state == 'ready'
      end, function()
        out.attached = client() ~= nil
        out.status_when_ready = vim.g.codeassist_status
        out.init_options = client().config.init_options
        out.server_capabilities = {
          inlineCompletionProvider = client().server_capabilities.inlineCompletionProvider ~= nil,
          codeActionProvider = client().server_capabilities.codeActionProvider ~= nil,
        }
        -- the plugin sent codeassist/warm once the model was ready: the server evaluates the prompt at the cursor
        wait_for('a warm-up on the server', function()
          local res = client():request_sync('workspace/executeCommand', { command = 'codeassist.debugStats' }, 5000)
          local kinds = res and res.result and res.result.worker and res.result.worker.by_kind or {}
          return kinds.warm
        end, function(warms)
          out.warms = warms
          step_complete()
        end)
      end)
    end),
  })
end
