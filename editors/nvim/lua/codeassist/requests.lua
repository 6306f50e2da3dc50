--- Inline-completion requests: debounced on typing, newest wins (a new request cancels the buffer's previous one,
--- and a response that arrives after the buffer or cursor changed is dropped), plus the buffer's keymaps and autocmds.
--- Neovim 0.11 has no built-in textDocument/inlineCompletion (0.12 adds vim.lsp.inline_completion), so the plugin
--- asks for it itself.
local config = require('codeassist.config')
local ghost = require('codeassist.ghost')
local feedback = require('codeassist.feedback')

local R = {}

local trace = config.trace

--- Cancel a buffer's pending (debounced) and in-flight requests; responses still on their way become stale.
function R.cancel(bufnr)
  local s = config.buffers[bufnr]
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

--- Dismiss the visible suggestion and cancel pending requests; `by_user` (the dismiss key, leaving insert mode)
--- tells the server the suggestion was dismissed.
function R.dismiss(bufnr, by_user)
  bufnr = config.resolve_buf(bufnr)
  local sug = by_user and ghost.get_suggestion(bufnr) or nil
  R.cancel(bufnr)
  ghost.clear(bufnr)
  if sug then
    feedback.dismissed(sug.client, sug.item)
  end
end

--- Show candidate `index` of `items` (the server's answer, in its order) and remember them for cycling.
local function show_candidate(bufnr, client, items, index, row, col)
  ghost.show(bufnr, client, items[index], row, col)
  local sug = config.bstate(bufnr).suggestion
  if sug then
    sug.items, sug.index = items, index
  end
end

--- Request a suggestion at the cursor now. `select`: which candidate to show first, counted cyclically from 1
--- (0 = the last one); the server sends several for an invoked request (trigger_kind 1), one while typing.
---@param opts? {bufnr?: integer, trigger_kind?: integer, select?: integer}
function R.request(opts)
  opts = opts or {}
  local bufnr = config.resolve_buf(opts.bufnr)
  local client = config.get_client(bufnr)
  if not client or not (client.server_capabilities or {}).inlineCompletionProvider then
    return false
  end
  R.cancel(bufnr)
  ghost.clear(bufnr)
  local s = config.bstate(bufnr)
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
    if config.options.hide_during_pum and vim.fn.pumvisible() == 1 then
      return trace('popup menu visible')
    end
    local items = vim.tbl_filter(function(item)
      return ghost.item_text(item) ~= ''
    end, type(result.items or result) == 'table' and (result.items or result) or {})
    if #items > 0 then
      show_candidate(bufnr, client, items, ((opts.select or 1) - 1) % #items + 1, cursor[1] - 1, cursor[2])
    end
  end, bufnr)
  if ok then
    s.request = { client = client, id = id }
  end
  return ok
end

local function schedule_request(bufnr)
  local s = config.bstate(bufnr)
  R.cancel(bufnr)
  ghost.clear(bufnr)
  if not config.options.auto_trigger or not config.get_client(bufnr) or not feedback.enabled_for(bufnr) then
    return
  end
  s.timer = s.timer or assert(vim.uv.new_timer())
  local seq = s.seq
  s.timer:start(
    config.options.debounce_ms,
    0,
    vim.schedule_wrap(function()
      if s.seq == seq and vim.api.nvim_get_current_buf() == bufnr and vim.startswith(vim.api.nvim_get_mode().mode, 'i') then
        R.request({ bufnr = bufnr })
      end
    end)
  )
end

--- Show the next (`step` 1) or previous (-1) candidate, as VS Code's Alt+] / Alt+[ do. With only one known (a
--- suggestion that came while typing), ask the server for several (an invoked request) and show the next of them.
function R.cycle(step, bufnr)
  bufnr = config.resolve_buf(bufnr)
  local sug = ghost.get_suggestion(bufnr)
  if sug and sug.items and #sug.items > 1 then
    show_candidate(bufnr, sug.client, sug.items, (sug.index - 1 + step) % #sug.items + 1, sug.row, sug.col)
    return true
  end
  return R.request({ bufnr = bufnr, trigger_kind = 1, select = step > 0 and 2 or 0 })
end

--- Accept the visible suggestion (`what` = 'all' or 'line'). Returns true when something was inserted.
function R.accept(what)
  local bufnr = vim.api.nvim_get_current_buf()
  local sug = ghost.get_suggestion(bufnr)
  if not sug then
    return false
  end
  R.cancel(bufnr)
  local part = sug.ghost
  if what == 'line' then
    local nl = part:find('\n', 2, true) -- as ghost.insert cuts it
    part = nl and part:sub(1, nl - 1) or part
  end
  local inserted = ghost.insert(bufnr, sug, what)
  if inserted then
    -- counted from the item's start: what was typed of it before, then what was taken now
    local whole = part == sug.ghost
    feedback.accepted(sug.client, sug.item, not whole and (sug.text:sub(1, #sug.text - #sug.ghost) .. part) or nil)
  end
  return inserted
end

-- Keymaps: the accept key keeps its usual meaning (or an existing mapping) when no suggestion is visible. ----------

function R.fallback(bufnr, lhs, previous)
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
    if not R.accept(what) then
      R.fallback(bufnr, lhs, previous)
    end
  end, { buffer = bufnr, desc = 'codeassist: accept ' .. what })
end

--- Neovim's own inline completion (0.12+: vim.lsp.inline_completion), when present and not switched off: it asks,
--- draws and accepts by itself (running the item's command, which the server counts as an acceptance).
function R.builtin()
  local ic = vim.lsp.inline_completion
  local present = type(ic) == 'table' and type(ic.enable) == 'function' and type(ic.get) == 'function'
  return present and config.options.builtin_inline_completion ~= false
end

--- After a switch changed: each attached buffer's suggestions follow it.
function R.apply_switches()
  for bufnr, s in pairs(config.buffers) do
    if s.attached and vim.api.nvim_buf_is_valid(bufnr) then
      local on = feedback.enabled_for(bufnr)
      if s.builtin then
        vim.lsp.inline_completion.enable(on, { bufnr = bufnr })
      elseif not on then
        R.dismiss(bufnr)
      end
    end
  end
end

local function attach_builtin(bufnr, km)
  config.bstate(bufnr).builtin = true
  vim.lsp.inline_completion.enable(feedback.enabled_for(bufnr), { bufnr = bufnr })
  if km.accept and km.accept ~= '' then
    local previous = vim.fn.maparg(km.accept, 'i', false, true)
    vim.keymap.set('i', km.accept, function()
      if not vim.lsp.inline_completion.get({ bufnr = bufnr }) then
        R.fallback(bufnr, km.accept, previous)
      end
    end, { buffer = bufnr, desc = 'codeassist: accept (vim.lsp.inline_completion)' })
  end
  local select = vim.lsp.inline_completion.select
  for lhs, count in pairs({ [km.next or ''] = 1, [km.prev or ''] = -1 }) do
    if lhs ~= '' and type(select) == 'function' then -- Neovim's own cycling through the server's candidates
      vim.keymap.set('i', lhs, function()
        select({ bufnr = bufnr, count = count })
      end, { buffer = bufnr, desc = 'codeassist: cycle (vim.lsp.inline_completion)' })
    end
  end
end

--- Keymaps and autocmds of a buffer the server attached to (once per buffer).
function R.attach_buffer(bufnr)
  local s = config.bstate(bufnr)
  if s.attached then
    return
  end
  s.attached = true
  local km = config.options.keymaps or {}
  if R.builtin() then
    return attach_builtin(bufnr, km)
  end
  map_accept(bufnr, km.accept, 'all')
  map_accept(bufnr, km.accept_line, 'line')
  if km.dismiss and km.dismiss ~= '' then
    vim.keymap.set('i', km.dismiss, function()
      local visible = ghost.is_visible(bufnr)
      R.dismiss(bufnr, true)
      if not visible then
        vim.api.nvim_feedkeys(vim.keycode(km.dismiss), 'n', false)
      end
    end, { buffer = bufnr, desc = 'codeassist: dismiss' })
  end
  if km.trigger and km.trigger ~= '' then
    vim.keymap.set('i', km.trigger, function()
      R.request({ bufnr = bufnr, trigger_kind = 1 })
    end, { buffer = bufnr, desc = 'codeassist: suggest' })
  end
  for lhs, step in pairs({ [km.next or ''] = 1, [km.prev or ''] = -1 }) do
    if lhs ~= '' then
      vim.keymap.set('i', lhs, function()
        R.cycle(step, bufnr)
      end, { buffer = bufnr, desc = 'codeassist: ' .. (step > 0 and 'next' or 'previous') .. ' suggestion' })
    end
  end
  local group = vim.api.nvim_create_augroup('codeassist_buf_' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      local sug = ghost.get_suggestion(bufnr)
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
      R.dismiss(bufnr, true)
    end,
  })
  vim.api.nvim_create_autocmd('CompleteChanged', {
    group = group,
    buffer = bufnr,
    callback = function()
      if config.options.hide_during_pum then
        R.dismiss(bufnr)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufWipeout', 'LspDetach' }, {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      if ev.event == 'LspDetach' then
        local c = vim.lsp.get_client_by_id(ev.data.client_id)
        if not c or c.name ~= config.NAME then
          return
        end
      end
      R.dismiss(bufnr)
      local st = config.buffers[bufnr]
      if st and st.timer then
        st.timer:close()
      end
      config.buffers[bufnr] = nil
      pcall(vim.api.nvim_del_augroup_by_id, group)
    end,
  })
end

--- Handler for `codeassist/suggestionReady` (verify = sandbox, verify_alternatives): a verified replacement of a
--- withdrawn suggestion is in the server's cache for that place. Ask again there (answered at once, from the cache)
--- if the buffer is the current one, unchanged since the request (its LSP version), with the cursor where it was.
function R.on_ready(_, params, ctx)
  local doc = type(params) == 'table' and params.textDocument
  local pos = type(params) == 'table' and params.position
  if type(doc) ~= 'table' or type(pos) ~= 'table' or type(doc.uri) ~= 'string' then
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  if vim.uri_from_bufnr(bufnr) ~= doc.uri or not vim.startswith(vim.api.nvim_get_mode().mode, 'i') then
    return trace('suggestionReady: not the current buffer in insert mode')
  end
  local version = vim.lsp.util.buf_versions and vim.lsp.util.buf_versions[bufnr]
  if version ~= nil and version ~= doc.version then
    return trace('suggestionReady: the buffer changed since')
  end
  local client = ctx and ctx.client_id and vim.lsp.get_client_by_id(ctx.client_id)
  local cursor = vim.api.nvim_win_get_cursor(0)
  local line = vim.api.nvim_buf_get_lines(bufnr, cursor[1] - 1, cursor[1], false)[1] or ''
  local encoding = client and client.offset_encoding or 'utf-16'
  local ok, col = pcall(vim.str_utfindex, line, encoding, cursor[2], false)
  if not ok then
    col = cursor[2]
  end
  if cursor[1] - 1 ~= pos.line or col ~= pos.character then
    return trace('suggestionReady: the cursor moved')
  end
  R.request({ bufnr = bufnr })
end

return R
