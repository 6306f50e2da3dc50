--- Code actions: explanations in a floating window that fills in while the server streams them, and the fix picker
--- (the fixes themselves are plain LSP code actions with a WorkspaceEdit, applied by vim.lsp.buf.code_action).
local config = require('codeassist.config')

local A = {}

--- Last explanation (Markdown), for scripts and tests.
A.last_explanation = nil

local trace = config.trace

-- Explain -----------------------------------------------------------------------------------------------------------
--
-- The server streams an explanation as work-done progress on a `codeassist/explain/N` token it creates itself:
-- `begin` (title "codeassist: explaining <file>"), `report`s whose message is the WHOLE text so far (≤ 1 / 250 ms),
-- `end`; the command's result is the final Markdown. The float opens with a placeholder when the request is sent,
-- each report replaces its contents, and the result (authoritative) or the error replaces them at the end.
--
-- The server names the token, so a token is tied to a request by order: a `begin` goes to the oldest explain of that
-- client that is still waiting for one. A token whose explain already returned (the job ended before the client
-- answered window/workDoneProgress/create) gets `begin` and `end` back to back and no report, so at worst it holds a
-- newer explain until its `end` (`explain.streamed` keeps a finished stream from taking a second token).

local EXPLAIN_TOKEN = '^codeassist/explain/'
local PLACEHOLDER = 'codeassist: explaining…'

---@class codeassist.Explain
---@field client_id integer
---@field seq integer
---@field token? string|integer the progress token streaming into this explain
---@field streamed? boolean a token already reported into it and ended
---@field reported? boolean its token has sent a report
---@field win? integer its float (while valid)
---@field request_id? integer

---@type table<integer, codeassist.Explain[]> client id -> explains in flight, oldest first
local explains = {}
local explain_seq = 0
---@type codeassist.Explain? the newest explain: the only one drawn into a float (one explanation float at a time)
local current_explain = nil

local function explain_event(e, state, text)
  pcall(vim.api.nvim_exec_autocmds, 'User', {
    pattern = 'CodeassistExplain',
    modeline = false,
    data = { state = state, text = text, win = e.win, client_id = e.client_id },
  })
end

local function float_opts(title)
  local cfg = config.options.explain or {}
  return {
    border = cfg.border,
    max_width = cfg.max_width,
    max_height = cfg.max_height,
    focus_id = 'codeassist_explain',
    title = title or ' codeassist ',
  }
end

--- Close `win` when the cursor leaves the position it had when the float opened (or a character is typed), like
--- open_floating_preview's default close_events but immune to a CursorMoved for a move made *before* the float opened
--- (a script that moves the cursor and explains in one go, or a request sent right after a jump): the float now opens
--- when the request is sent, not seconds later when the answer comes.
local function close_on_move(win)
  local src_win, src_buf = vim.api.nvim_get_current_win(), vim.api.nvim_get_current_buf()
  local at = vim.api.nvim_win_get_cursor(src_win)
  local group = vim.api.nvim_create_augroup('codeassist_explain_float_' .. win, { clear = true })
  vim.api.nvim_create_autocmd({ 'CursorMoved', 'CursorMovedI', 'InsertCharPre' }, {
    group = group,
    buffer = src_buf,
    callback = function(ev)
      if ev.event ~= 'InsertCharPre' and vim.api.nvim_get_current_win() == src_win then
        local now = vim.api.nvim_win_get_cursor(src_win)
        if now[1] == at[1] and now[2] == at[2] then
          return
        end
      end
      vim.schedule(function()
        pcall(vim.api.nvim_win_close, win, true)
      end)
    end,
  })
  vim.api.nvim_create_autocmd('WinClosed', {
    group = group,
    pattern = tostring(win),
    callback = function()
      vim.schedule(function()
        pcall(vim.api.nvim_del_augroup_by_id, group)
      end)
    end,
  })
end

--- Open a Markdown float at the cursor. focus = false: a float already open for this buffer (an older explanation)
--- is replaced, never focused instead (open_floating_preview's focus_id behaviour), so a request never moves the user.
local function open_float(lines, title)
  local opts = float_opts(title)
  opts.focus = false
  opts.close_events = {} -- see close_on_move; open_floating_preview still closes it on BufLeave
  local _, win = vim.lsp.util.open_floating_preview(lines, 'markdown', opts)
  if win then
    close_on_move(win)
  end
  return win
end

local function show_markdown(markdown)
  return open_float(vim.split(markdown, '\n', { plain = true }))
end

--- Replace the contents of an open explanation float in place (the same window: no flicker, a focused float stays
--- focused), then fit it to them as open_floating_preview would: width from the longest line, height from the
--- wrapped (and concealed) text, within config.explain's limits, placed at the cursor again so that it grows upwards
--- when there is no room below.
local function set_float_text(win, text, title)
  local buf = vim.api.nvim_win_get_buf(win)
  local lines = vim.split(text, '\n', { plain = true })
  while #lines > 1 and lines[#lines] == '' do
    table.remove(lines) -- a trailing newline is not a line of its own in a float
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local cfg = config.options.explain or {}
  local width = vim.fn.strdisplaywidth(title or '') -- room for the title (it needs a border, as open_float's)
  for _, l in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.max(1, math.min(width, cfg.max_width or width, vim.o.columns - 2))
  vim.api.nvim_win_set_config(win, { width = width })
  local height = vim.api.nvim_win_text_height(win, {}).all
  height = math.max(1, math.min(height, cfg.max_height or height))
  local place = vim.lsp.util.make_floating_popup_options(width, height, float_opts(title))
  if vim.api.nvim_get_current_win() == win then
    -- the user is in the float: keep it where it is (the placement is computed from the current window's cursor)
    place = { width = width, height = height, border = place.border, title = place.title, title_pos = place.title_pos }
  end
  place.style, place.noautocmd = nil, nil -- creation-only keys: 'minimal' was applied when the float opened
  place.height = math.max(place.height or height, 1) -- no room above or below at all: still one line
  vim.api.nvim_win_set_config(win, place)
end

--- The float of `e`, when it is the explanation being shown and the user has not closed it.
local function explain_win(e)
  if e == current_explain and e.win and vim.api.nvim_win_is_valid(e.win) then
    return e.win
  end
  return nil
end

local function forget_explain(e)
  local list = explains[e.client_id] or {}
  for i, x in ipairs(list) do
    if x == e then
      table.remove(list, i)
      break
    end
  end
  if next(list) == nil then
    explains[e.client_id] = nil
  end
end

--- Our part of `$/progress`: stream `codeassist/explain/*` reports into the float. Returns true for an explain report
--- (its message is the whole explanation so far, which is no status line: see progress_handler).
local function on_explain_progress(params, ctx)
  local token, value = params.token, params.value
  if type(token) ~= 'string' or not token:find(EXPLAIN_TOKEN) or type(value) ~= 'table' then
    return false
  end
  local list = explains[ctx.client_id] or {}
  if value.kind == 'begin' then
    for _, e in ipairs(list) do
      if e.token == nil and not e.streamed then
        e.token = token
        local win = explain_win(e)
        if win and type(value.title) == 'string' then
          set_float_text(win, value.title .. '…', ' codeassist: explaining… ')
          explain_event(e, 'pending', nil)
        end
        trace('explain %d streams on %s', e.seq, token)
        break
      end
    end
    return false
  end
  for _, e in ipairs(list) do
    if e.token == token then
      if value.kind == 'report' then
        e.reported = true
        local win = explain_win(e)
        if win and type(value.message) == 'string' and value.message:find('%S') then
          -- the model may start with blank lines; the final text is stripped too
          set_float_text(win, (value.message:gsub('^%s*\n', '')), ' codeassist: explaining… ')
          explain_event(e, 'streaming', value.message)
        end
        return true
      elseif value.kind == 'end' then
        e.token = nil
        e.streamed = e.reported
      end
      break
    end
  end
  return value.kind == 'report'
end

--- `$/progress` handler for our client only (set in its config by codeassist.start). Wrapping the client handler rather than
--- listening to the LspProgress autocmd: LspProgress is fired by the *default* handler, so a plugin that replaces
--- vim.lsp.handlers['$/progress'] (older progress UIs do) would starve us of reports, and our update would race the
--- other LspProgress listeners. Here our update runs first (errors contained), then whatever global handler is
--- installed at that moment, so client.progress, vim.lsp.status(), LspProgress and other plugins see the same
--- begin/report/end sequence as before, except that an explain report reaches them without its message (the whole
--- explanation so far: a paragraph, not a status line), i.e. as "codeassist: explaining <file>".
function A.progress_handler(err, params, ctx, ...)
  local ok, is_report = pcall(on_explain_progress, params or {}, ctx)
  if not ok then
    trace('explain progress: %s', tostring(is_report))
  elseif is_report then
    params = vim.deepcopy(params)
    params.value.message = nil
  end
  local default = vim.lsp.handlers['$/progress']
  if default then
    return default(err, params, ctx, ...)
  end
end

--- The server went away: explains still in flight will get no answer.
function A.on_client_exit(client_id)
  vim.schedule(function()
    for _, e in ipairs(explains[client_id] or {}) do
      local win = explain_win(e)
      if win then
        set_float_text(win, 'codeassist: the server exited before the explanation was ready')
        explain_event(e, 'error', nil)
      end
    end
    explains[client_id] = nil
  end)
end

--- Ask the server to explain [uri, range]. A float opens at once and shows the explanation as it streams; the final
--- Markdown replaces it when the command returns, and goes to last_explanation. Fires `User CodeassistExplain`
--- (data: state = 'pending' | 'streaming' | 'done' | 'error', text, win) after each change of the float.
---@param opts {bufnr?: integer, range: lsp.Range, on_result?: fun(markdown: string?, err: any)}
function A.explain(opts)
  local bufnr = config.resolve_buf(opts.bufnr)
  local client = config.get_client(bufnr)
  if not client then
    vim.notify('codeassist: no server attached to this buffer', vim.log.levels.WARN)
    return false
  end
  local params = {
    command = config.EXPLAIN_COMMAND,
    -- showDocument = false: we show the Markdown ourselves instead of having the server open a generated file.
    arguments = { vim.uri_from_bufnr(bufnr), opts.range, { showDocument = false } },
  }
  explain_seq = explain_seq + 1
  ---@type codeassist.Explain
  local e = { client_id = client.id, seq = explain_seq }
  local ok, id = client:request('workspace/executeCommand', params, function(err, result)
    forget_explain(e)
    local markdown = type(result) == 'table' and result.value or result
    if err or type(markdown) ~= 'string' or markdown == '' then
      local why = err and (err.message or vim.inspect(err)) or 'no explanation (is the model still loading?)'
      local win = explain_win(e)
      if win then
        set_float_text(win, 'codeassist: ' .. why)
        explain_event(e, 'error', why)
      end
      vim.notify('codeassist: ' .. why, vim.log.levels.WARN)
      if opts.on_result then
        opts.on_result(nil, err or why)
      end
      return
    end
    A.last_explanation = markdown
    if e == current_explain then
      -- The result is authoritative: it replaces whatever streamed. A float the user closed meanwhile comes back,
      -- as it did before explanations streamed; one replaced by a newer explain stays replaced.
      local win = explain_win(e)
      if win then
        set_float_text(win, markdown)
      else
        e.win = show_markdown(markdown)
      end
      explain_event(e, 'done', markdown)
    end
    if opts.on_result then
      opts.on_result(markdown, nil)
    end
  end, bufnr)
  if not ok then
    return false
  end
  e.request_id = id
  explains[client.id] = explains[client.id] or {}
  table.insert(explains[client.id], e)
  current_explain = e
  e.win = open_float({ PLACEHOLDER }, ' codeassist: explaining… ')
  explain_event(e, 'pending', nil)
  return ok, id
end

--- LSP range for lines line1..line2 (1-based, inclusive), or the charwise visual selection when it matches them.
function A.range_for_lines(bufnr, line1, line2, client)
  bufnr = config.resolve_buf(bufnr)
  local enc = client and client.offset_encoding or 'utf-16'
  local lines = vim.api.nvim_buf_get_lines(bufnr, line1 - 1, line2, false)
  local start_char, end_char = 0, vim.str_utfindex(lines[#lines] or '', enc)
  local vs, ve = vim.fn.getpos("'<"), vim.fn.getpos("'>")
  if vim.fn.visualmode() == 'v' and vs[2] == line1 and ve[2] == line2 then
    start_char = vim.str_utfindex(lines[1] or '', enc, math.min(vs[3] - 1, #(lines[1] or '')), false)
    local last = lines[#lines] or ''
    local e = math.min(ve[3], #last)
    end_char = vim.str_utfindex(last, enc, e, false)
  end
  return { start = { line = line1 - 1, character = start_char }, ['end'] = { line = line2 - 1, character = end_char } }
end

--- Pick one of codeassist's fixes for the problem on the cursor line (vim.lsp.buf.code_action, filtered).
function A.fix()
  vim.lsp.buf.code_action({
    context = { only = { 'quickfix' }, diagnostics = vim.diagnostic.get(0, { lnum = vim.fn.line('.') - 1 }) },
    filter = function(a)
      return (a.title or ''):find('^codeassist: Fix') ~= nil
    end,
  })
end

return A
