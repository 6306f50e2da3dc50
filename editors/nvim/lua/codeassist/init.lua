--- codeassist for Neovim 0.11+: ghost-text completions, explanations and fixes from `codeassist serve`.
---
--- require('codeassist').setup({ ... }) starts the server with vim.lsp.start() for the configured filetypes.
--- Neovim 0.11 has no built-in textDocument/inlineCompletion (0.12 adds vim.lsp.inline_completion), so this plugin
--- requests it itself (debounced on TextChangedI/CursorMovedI, cancelling stale requests) and draws the first item as
--- extmark ghost text: the rest of the cursor line as inline virt_text, further lines as virt_lines.
local M = {}

local NAME = 'codeassist'
local STATUS_METHOD = 'codeassist/status'
local EXPLAIN_COMMAND = 'codeassist.explain'
local ns = vim.api.nvim_create_namespace('codeassist')

---@class codeassist.Config
local defaults = {
  --- Server command. Default: `codeassist serve` on PATH.
  cmd = { 'codeassist', 'serve' },
  --- Filetypes to attach to.
  filetypes = {
    'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'rust', 'java', 'c', 'cpp',
  },
  --- Files/dirs marking the workspace root (the server reads [tool.codeassist] from its pyproject.toml / .codeassist.toml).
  root_markers = { 'pyproject.toml', '.codeassist.toml', '.git', 'package.json', 'go.mod', 'Cargo.toml' },
  --- Server settings, sent as initializationOptions and as the `codeassist` section of
  --- workspace/didChangeConfiguration: model, threads, n_ctx, max_tokens, debounce_ms, timeout_ms, verify, verify_actions,
  --- sandbox_image, languages. Leave out what you do not want to override.
  settings = {},
  --- Ask for suggestions automatically while typing (otherwise only with :CodeassistComplete / the trigger key).
  auto_trigger = true,
  --- Client-side debounce (ms) before a request is sent; the server has its own `debounce_ms` setting too.
  debounce_ms = 75,
  --- Hide ghost text while the popup menu is visible.
  hide_during_pum = true,
  keymaps = {
    accept = '<Tab>', -- accept the whole suggestion (falls back to the key's normal behaviour when none is shown)
    accept_line = '<C-l>', -- accept the next line of it
    dismiss = '<C-]>',
    trigger = '<M-\\>', -- ask now
  },
  --- Highlight group for ghost text (linked to Comment unless you define CodeassistSuggestion yourself).
  hl_group = 'CodeassistSuggestion',
  explain = { border = 'rounded', max_width = 88, max_height = 30 },
  --- Optional fun(msg: string) receiving a trace of requests/responses (debugging).
  trace = nil,
}

M.config = vim.deepcopy(defaults)

---@type table<integer, {timer?: uv.uv_timer_t, request?: {client: vim.lsp.Client, id: integer}, seq: integer, suggestion?: table}>
local buffers = {}

--- Last explanation (Markdown), for scripts and tests.
M.last_explanation = nil

local function resolve_buf(bufnr)
  if bufnr == nil or bufnr == 0 then
    return vim.api.nvim_get_current_buf()
  end
  return bufnr
end

local function trace(fmt, ...)
  if M.config.trace then
    M.config.trace(string.format(fmt, ...))
  end
end

local function bstate(bufnr)
  local s = buffers[bufnr]
  if not s then
    s = { seq = 0 }
    buffers[bufnr] = s
  end
  return s
end

local function empty_dict_if_empty(t)
  if t == nil or next(t) == nil then
    return vim.empty_dict()
  end
  return t
end

--- The codeassist client attached to a buffer, if any.
---@return vim.lsp.Client?
function M.get_client(bufnr)
  return vim.lsp.get_clients({ bufnr = resolve_buf(bufnr), name = NAME })[1]
end

-- Status ------------------------------------------------------------------------------------------------------------

--- One-line status for a statusline: "codeassist: ready 123ms", "codeassist: loading", "codeassist: error".
function M.statusline()
  return vim.g.codeassist_status or ''
end

local function format_status(st)
  local text = 'codeassist: ' .. tostring(st.state or '?')
  if st.state == 'ready' and type(st.lastLatencyMs) == 'number' then
    text = text .. string.format(' %dms', math.floor(st.lastLatencyMs + 0.5))
  end
  -- how the last suggestion was checked: "✓" its tests ran and passed, "✗" it failed them and was hidden
  local check = st.lastCheck
  if st.state == 'ready' and type(check) == 'table' and type(check.label) == 'string' then
    if check.label:find('^verified') then
      text = text .. ' ✓'
    elseif check.shown == false then
      text = text .. ' ✗'
    end
  end
  return text
end

local function on_status(_, result, ctx)
  if type(result) ~= 'table' then
    return
  end
  vim.g.codeassist_state = result -- the full payload: state, message, model, lastLatencyMs, verification, lastCheck
  vim.g.codeassist_status = format_status(result) -- short text for statuslines: %{g:codeassist_status}
  if result.state == 'error' then
    vim.notify('codeassist: ' .. tostring(result.message or 'error'), vim.log.levels.ERROR)
  end
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'CodeassistStatus', modeline = false, data = result })
  vim.cmd.redrawstatus({ bang = true, mods = { silent = true, emsg_silent = true } })
end

-- Ghost text --------------------------------------------------------------------------------------------------------

local function clear(bufnr)
  local s = buffers[bufnr]
  if s then
    s.suggestion = nil
  end
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  end
end

local function cancel(bufnr)
  local s = buffers[bufnr]
  if not s then
    return
  end
  s.seq = s.seq + 1 -- any response still in flight is now stale
  if s.timer then
    s.timer:stop()
  end
  if s.request then
    pcall(function()
      s.request.client:cancel_request(s.request.id)
    end)
    s.request = nil
  end
end

--- Dismiss the visible suggestion and cancel pending requests.
function M.dismiss(bufnr)
  bufnr = resolve_buf(bufnr)
  cancel(bufnr)
  clear(bufnr)
end

local function item_text(item)
  local t = item.insertText
  if type(t) == 'table' then
    t = t.value
  end
  return type(t) == 'string' and t or ''
end

--- Byte column of an LSP position on `row` (0-based).
local function byte_col(bufnr, row, character, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  return ok and col or #line
end

local function render(bufnr, s)
  vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  local sug = s.suggestion
  if not sug or sug.ghost == '' then
    return
  end
  local lines = vim.split(sug.ghost, '\n', { plain = true })
  local hl = M.config.hl_group
  local extmark = { hl_mode = 'combine', priority = 200 }
  if lines[1] ~= '' then
    extmark.virt_text = { { lines[1], hl } }
    extmark.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    extmark.virt_lines = {}
    for i = 2, #lines do
      table.insert(extmark.virt_lines, { { lines[i], hl } })
    end
  end
  sug.extmark = vim.api.nvim_buf_set_extmark(bufnr, ns, sug.row, sug.col, extmark)
end

local function show(bufnr, client, item, row, col)
  local text = item_text(item)
  local srow, scol = row, col
  if item.range then
    srow = item.range.start.line
    scol = byte_col(bufnr, srow, item.range.start.character, client.offset_encoding)
  end
  -- The item replaces [range.start, cursor]; what is already typed there is not ghost text.
  local typed = ''
  if srow == row and scol <= col then
    typed = vim.api.nvim_buf_get_text(bufnr, row, scol, row, col, {})[1] or ''
  end
  local ghost = text
  if typed ~= '' and text:sub(1, #typed) == typed then
    ghost = text:sub(#typed + 1)
  end
  local s = bstate(bufnr)
  s.suggestion = {
    item = item,
    text = text,
    ghost = ghost,
    row = row,
    col = col,
    start_row = srow,
    start_col = scol,
    tick = vim.api.nvim_buf_get_changedtick(bufnr),
  }
  render(bufnr, s)
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'CodeassistSuggestion', modeline = false })
end

--- Request a suggestion at the cursor now.
---@param opts? {bufnr?: integer, trigger_kind?: integer}
function M.request(opts)
  opts = opts or {}
  local bufnr = resolve_buf(opts.bufnr)
  local client = M.get_client(bufnr)
  if not client or not (client.server_capabilities or {}).inlineCompletionProvider then
    return false
  end
  cancel(bufnr)
  clear(bufnr)
  local s = bstate(bufnr)
  local seq = s.seq
  local win = vim.api.nvim_get_current_win()
  local cursor = vim.api.nvim_win_get_cursor(win)
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  params.context = { triggerKind = opts.trigger_kind or 2 } -- 1 = Invoked, 2 = Automatic
  trace('inlineCompletion request seq=%d at %d:%d', seq, cursor[1], cursor[2])
  local ok, id = client:request('textDocument/inlineCompletion', params, function(err, result)
    trace('inlineCompletion response seq=%d (current %d) err=%s result=%s', seq, s.seq, vim.inspect(err),
      vim.inspect(result))
    if s.seq ~= seq then
      return -- superseded
    end
    s.request = nil
    if err or not result or not vim.api.nvim_buf_is_valid(bufnr) then
      return
    end
    if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick or vim.api.nvim_get_current_buf() ~= bufnr then
      return trace('stale: buffer changed') -- the user typed or moved on
    end
    local now = vim.api.nvim_win_get_cursor(0)
    if now[1] ~= cursor[1] or now[2] ~= cursor[2] then
      return trace('stale: cursor moved')
    end
    if not vim.startswith(vim.api.nvim_get_mode().mode, 'i') and not opts.any_mode then
      return trace('not in insert mode')
    end
    if M.config.hide_during_pum and vim.fn.pumvisible() == 1 then
      return trace('popup menu visible')
    end
    local items = result.items or result
    if type(items) == 'table' and items[1] and item_text(items[1]) ~= '' then
      show(bufnr, client, items[1], cursor[1] - 1, cursor[2])
    end
  end, bufnr)
  if ok then
    s.request = { client = client, id = id }
  end
  return ok
end

local function schedule_request(bufnr)
  local s = bstate(bufnr)
  cancel(bufnr)
  clear(bufnr)
  if not M.config.auto_trigger or not M.get_client(bufnr) then
    return
  end
  s.timer = s.timer or assert(vim.uv.new_timer())
  local seq = s.seq
  s.timer:start(
    M.config.debounce_ms,
    0,
    vim.schedule_wrap(function()
      if s.seq == seq and vim.api.nvim_get_current_buf() == bufnr and vim.startswith(vim.api.nvim_get_mode().mode, 'i') then
        M.request({ bufnr = bufnr })
      end
    end)
  )
end

--- The visible suggestion of a buffer: {text, ghost, item, row, col} or nil.
function M.get_suggestion(bufnr)
  bufnr = resolve_buf(bufnr)
  local s = buffers[bufnr]
  local sug = s and s.suggestion
  if sug and sug.tick == vim.api.nvim_buf_get_changedtick(bufnr) then
    return sug
  end
  return nil
end

function M.is_visible(bufnr)
  return M.get_suggestion(bufnr) ~= nil
end

--- Accept the visible suggestion (`what` = 'all' or 'line'). Returns true when something was inserted.
function M.accept(what)
  local bufnr = vim.api.nvim_get_current_buf()
  local sug = M.get_suggestion(bufnr)
  if not sug then
    return false
  end
  local insert = sug.ghost
  if what == 'line' then
    local nl = insert:find('\n', 2, true) -- a leading newline belongs to the next line
    if nl then
      insert = insert:sub(1, nl - 1)
    end
  end
  cancel(bufnr)
  clear(bufnr)
  local lines = vim.split(insert, '\n', { plain = true })
  if sug.ghost == sug.text or sug.start_row ~= sug.row then
    -- Plain insertion at the cursor (or a range we cannot express as a suffix: replace it with the full text).
    local srow, scol = sug.row, sug.col
    if sug.ghost ~= sug.text and what ~= 'line' then
      srow, scol = sug.start_row, sug.start_col
      lines = vim.split(sug.text, '\n', { plain = true })
    end
    vim.api.nvim_buf_set_text(bufnr, srow, scol, sug.row, sug.col, lines)
    local end_row = srow + #lines - 1
    local end_col = (#lines == 1 and scol or 0) + #lines[#lines]
    vim.api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  else
    vim.api.nvim_buf_set_text(bufnr, sug.row, sug.col, sug.row, sug.col, lines)
    local end_row = sug.row + #lines - 1
    local end_col = (#lines == 1 and sug.col or 0) + #lines[#lines]
    vim.api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  end
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'CodeassistAccept', modeline = false })
  return true
end

-- Keymaps: the accept key keeps its usual meaning (or an existing mapping) when no suggestion is visible. ----------

local function fallback(bufnr, lhs, previous)
  if previous and not vim.tbl_isempty(previous) then
    if previous.callback then
      local r = previous.callback()
      if previous.expr == 1 and type(r) == 'string' and r ~= '' then
        vim.api.nvim_feedkeys(previous.replace_keycodes == 1 and vim.keycode(r) or r, 'n', false)
      end
      return
    end
    if previous.rhs and previous.rhs ~= '' then
      local rhs = previous.rhs
      if previous.expr == 1 then
        rhs = vim.api.nvim_eval(rhs)
      end
      vim.api.nvim_feedkeys(vim.keycode(rhs), previous.noremap == 1 and 'n' or 'm', false)
      return
    end
  end
  vim.api.nvim_feedkeys(vim.keycode(lhs), 'n', false)
end

local function map_accept(bufnr, lhs, what)
  if not lhs or lhs == '' then
    return
  end
  local previous = vim.fn.maparg(lhs, 'i', false, true)
  if previous and previous.desc and previous.desc:find('^codeassist') then
    return -- already ours
  end
  vim.keymap.set('i', lhs, function()
    if not M.accept(what) then
      fallback(bufnr, lhs, previous)
    end
  end, { buffer = bufnr, desc = 'codeassist: accept ' .. what })
end

local function attach_buffer(bufnr)
  local s = bstate(bufnr)
  if s.attached then
    return
  end
  s.attached = true
  local km = M.config.keymaps or {}
  map_accept(bufnr, km.accept, 'all')
  map_accept(bufnr, km.accept_line, 'line')
  if km.dismiss and km.dismiss ~= '' then
    vim.keymap.set('i', km.dismiss, function()
      local visible = M.is_visible(bufnr)
      M.dismiss(bufnr)
      if not visible then
        vim.api.nvim_feedkeys(vim.keycode(km.dismiss), 'n', false)
      end
    end, { buffer = bufnr, desc = 'codeassist: dismiss' })
  end
  if km.trigger and km.trigger ~= '' then
    vim.keymap.set('i', km.trigger, function()
      M.request({ bufnr = bufnr, trigger_kind = 1 })
    end, { buffer = bufnr, desc = 'codeassist: suggest' })
  end
  local group = vim.api.nvim_create_augroup('codeassist_buf_' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      local sug = M.get_suggestion(bufnr)
      local cur = vim.api.nvim_win_get_cursor(0)
      if sug and sug.row == cur[1] - 1 and sug.col == cur[2] then
        return -- nothing changed (e.g. CursorMovedI right after rendering)
      end
      schedule_request(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.dismiss(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd('CompleteChanged', {
    group = group,
    buffer = bufnr,
    callback = function()
      if M.config.hide_during_pum then
        M.dismiss(bufnr)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufWipeout', 'LspDetach' }, {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      if ev.event == 'LspDetach' then
        local c = vim.lsp.get_client_by_id(ev.data.client_id)
        if not c or c.name ~= NAME then
          return
        end
      end
      M.dismiss(bufnr)
      local st = buffers[bufnr]
      if st and st.timer then
        st.timer:close()
      end
      buffers[bufnr] = nil
      pcall(vim.api.nvim_del_augroup_by_id, group)
    end,
  })
end

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
  local cfg = M.config.explain or {}
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
  local cfg = M.config.explain or {}
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

--- `$/progress` handler for our client only (set in its config by M.start). Wrapping the client handler rather than
--- listening to the LspProgress autocmd: LspProgress is fired by the *default* handler, so a plugin that replaces
--- vim.lsp.handlers['$/progress'] (older progress UIs do) would starve us of reports, and our update would race the
--- other LspProgress listeners. Here our update runs first (errors contained), then whatever global handler is
--- installed at that moment, so client.progress, vim.lsp.status(), LspProgress and other plugins see the same
--- begin/report/end sequence as before, except that an explain report reaches them without its message (the whole
--- explanation so far: a paragraph, not a status line), i.e. as "codeassist: explaining <file>".
local function progress_handler(err, params, ctx, ...)
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
local function on_client_exit(client_id)
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
--- Markdown replaces it when the command returns, and goes to M.last_explanation. Fires `User CodeassistExplain`
--- (data: state = 'pending' | 'streaming' | 'done' | 'error', text, win) after each change of the float.
---@param opts {bufnr?: integer, range: lsp.Range, on_result?: fun(markdown: string?, err: any)}
function M.explain(opts)
  local bufnr = resolve_buf(opts.bufnr)
  local client = M.get_client(bufnr)
  if not client then
    vim.notify('codeassist: no server attached to this buffer', vim.log.levels.WARN)
    return false
  end
  local params = {
    command = EXPLAIN_COMMAND,
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
    M.last_explanation = markdown
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
function M.range_for_lines(bufnr, line1, line2, client)
  bufnr = resolve_buf(bufnr)
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

-- Setup -------------------------------------------------------------------------------------------------------------

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = { dynamicRegistration = false }
  caps.window = caps.window or {}
  -- Neovim's defaults already say so; explicit because explanations stream only to clients that do ($/progress).
  caps.window.workDoneProgress = true
  caps.window.showDocument = { support = true }
  return caps
end

--- Start (or reuse) the server for a buffer.
function M.start(bufnr)
  bufnr = resolve_buf(bufnr)
  if vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local fname = vim.api.nvim_buf_get_name(bufnr)
  local root = vim.fs.root(bufnr, M.config.root_markers)
    or (fname ~= '' and vim.fs.dirname(fname))
    or vim.fn.getcwd()
  local settings = M.config.settings or {}
  local id = vim.lsp.start({
    name = NAME,
    cmd = M.config.cmd,
    root_dir = root,
    capabilities = capabilities(),
    init_options = empty_dict_if_empty(settings),
    -- Sent as workspace/didChangeConfiguration after initialize, and answers workspace/configuration pulls.
    settings = next(settings) and { codeassist = settings } or nil,
    -- Our client only: the global vim.lsp.handlers (and so other servers' progress) stay as they are.
    handlers = { [STATUS_METHOD] = on_status, ['$/progress'] = progress_handler },
    on_exit = function(_, _, client_id)
      on_client_exit(client_id)
    end,
    commands = {
      -- The "codeassist: Explain" code action (vim.lsp.buf.code_action) runs here, so the result lands in a float.
      [EXPLAIN_COMMAND] = function(command, ctx)
        local args = command.arguments or {}
        M.explain({ bufnr = ctx.bufnr, range = args[2] })
      end,
    },
  }, { bufnr = bufnr })
  if id then
    attach_buffer(bufnr)
  end
  return id
end

--- Change server settings at runtime (merged into config.settings), sent with workspace/didChangeConfiguration.
function M.set_settings(settings)
  M.config.settings = vim.tbl_deep_extend('force', M.config.settings or {}, settings or {})
  for _, client in ipairs(vim.lsp.get_clients({ name = NAME })) do
    client.settings = { codeassist = empty_dict_if_empty(M.config.settings) }
    client:notify('workspace/didChangeConfiguration', { settings = client.settings })
  end
end

local function user_commands()
  vim.api.nvim_create_user_command('CodeassistExplain', function(o)
    local bufnr = vim.api.nvim_get_current_buf()
    local line1, line2 = o.line1, o.line2
    if o.range == 0 then
      local r = vim.api.nvim_win_get_cursor(0)[1]
      line1, line2 = r, r
    end
    M.explain({ bufnr = bufnr, range = M.range_for_lines(bufnr, line1, line2, M.get_client(bufnr)) })
  end, { range = true, desc = 'codeassist: explain the selected lines in a floating window' })
  vim.api.nvim_create_user_command('CodeassistFix', function()
    vim.lsp.buf.code_action({
      context = { only = { 'quickfix' }, diagnostics = vim.diagnostic.get(0, { lnum = vim.fn.line('.') - 1 }) },
      filter = function(a)
        return (a.title or ''):find('^codeassist: Fix') ~= nil
      end,
    })
  end, { desc = 'codeassist: pick a fix for the problem on this line' })
  vim.api.nvim_create_user_command('CodeassistComplete', function()
    M.request({ trigger_kind = 1, any_mode = true })
  end, { desc = 'codeassist: ask for a suggestion at the cursor' })
  vim.api.nvim_create_user_command('CodeassistStatus', function()
    local st = vim.g.codeassist_state
    if not st then
      vim.notify('codeassist: not started', vim.log.levels.INFO)
      return
    end
    local check = type(st.lastCheck) == 'table' and st.lastCheck or nil
    local last = check and string.format('%s%s%s', tostring(check.label),
      (check.reason and check.reason ~= '') and (' (' .. tostring(check.reason) .. ')') or '',
      check.shown == false and ', hidden' or '') or 'none yet'
    vim.notify(string.format('%s\n%s\nmodel: %s\nverification: %s\nlast suggestion: %s', format_status(st),
      st.message or '', tostring(st.model), tostring(st.verification), last), vim.log.levels.INFO)
  end, { desc = 'codeassist: show the server status' })
  vim.api.nvim_create_user_command('CodeassistRestart', function()
    for _, client in ipairs(vim.lsp.get_clients({ name = NAME })) do
      client:stop(true)
    end
    vim.defer_fn(function()
      for _, b in ipairs(vim.api.nvim_list_bufs()) do
        if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(M.config.filetypes, vim.bo[b].filetype) then
          local st = buffers[b]
          if st then
            st.attached = false
          end
          M.start(b)
        end
      end
    end, 500)
  end, { desc = 'codeassist: restart the server' })
end

---@param opts? codeassist.Config
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  if opts and opts.filetypes then
    M.config.filetypes = opts.filetypes -- lists replace, not merge
  end
  if opts and opts.cmd then
    M.config.cmd = opts.cmd
  end
  vim.api.nvim_set_hl(0, 'CodeassistSuggestion', { link = 'Comment', default = true })
  vim.g.codeassist_status = vim.g.codeassist_status or ''
  user_commands()
  local group = vim.api.nvim_create_augroup('codeassist', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.start(ev.buf)
    end,
  })
  -- Buffers already open when setup() runs (lazy loading).
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(M.config.filetypes, vim.bo[b].filetype) then
      M.start(b)
    end
  end
end

return M
