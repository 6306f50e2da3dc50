--- What happened to each suggestion (the server's local acceptance stats), the suggestion switches, the server log
--- and the stats commands.
---
--- Every inline item carries its id in its command (`codeassist.didAccept` with `{ { id = ... } }`). The plugin sends
--- `codeassist/didShow` when it draws an item, `codeassist/didAccept` when <Tab> takes it (whole) or <C-l> takes a
--- line of it (`acceptedLength`: how much of the item's insertText so far, in the client's position encoding), and
--- `codeassist/didDismiss` when the user dismisses it (the dismiss key, leaving insert mode).
local config = require('codeassist.config')

local F = {}

F.SHOW = 'codeassist/didShow'
F.ACCEPT = 'codeassist/didAccept'
F.DISMISS = 'codeassist/didDismiss'
F.ACCEPT_COMMAND = 'codeassist.didAccept'
F.LOG_LINES = 2000

--- The suggestion id an item's command carries (nil: not one of ours).
function F.suggestion_id(item)
  local cmd = type(item) == 'table' and item.command or nil
  if type(cmd) ~= 'table' or cmd.command ~= F.ACCEPT_COMMAND or type(cmd.arguments) ~= 'table' then
    return nil
  end
  local arg = cmd.arguments[1]
  return type(arg) == 'table' and type(arg.id) == 'string' and arg.id or nil
end

local function notify(client, method, params)
  if client and not client:is_stopped() then
    pcall(client.notify, client, method, params)
  end
end

--- A notification that carries only the suggestion's id (shown, dismissed); nothing for an item without one.
local function notify_id(client, method, item)
  local id = F.suggestion_id(item)
  if id then
    notify(client, method, { id = id })
  end
end

function F.shown(client, item)
  notify_id(client, F.SHOW, item)
end

--- `inserted` = the item's text (what the buffer got from it, counted from the item's start); nil = the whole item.
function F.accepted(client, item, inserted)
  local id = F.suggestion_id(item)
  if not id then
    return
  end
  local params = { id = id }
  if inserted then
    params.acceptedLength = vim.str_utfindex(inserted, client.offset_encoding or 'utf-16')
  end
  notify(client, F.ACCEPT, params)
end

function F.dismissed(client, item)
  notify_id(client, F.DISMISS, item)
end

-- Switches ------------------------------------------------------------------------------------------------------------

--- Whether suggestions are on for a buffer (the global switch, then the filetype list).
function F.enabled_for(bufnr)
  local o = config.options
  if o.enabled == false then
    return false
  end
  return not vim.tbl_contains(o.disabled_filetypes or {}, vim.bo[config.resolve_buf(bufnr)].filetype)
end

--- Flip the global switch (or set it: `on` true/false); returns the new state.
function F.toggle(on)
  if on == nil then
    on = config.options.enabled == false
  end
  config.options.enabled = on
  return on
end

--- Flip suggestions for a filetype; returns true when they are now on for it.
function F.toggle_filetype(ft)
  local list = config.options.disabled_filetypes or {}
  if vim.tbl_contains(list, ft) then
    list = vim.tbl_filter(function(x)
      return x ~= ft
    end, list)
  else
    table.insert(list, ft)
  end
  config.options.disabled_filetypes = list
  return not vim.tbl_contains(list, ft)
end

-- The server's log (window/logMessage of our client), for :CodeassistLog ------------------------------------------

F.log = {}

function F.log_handler(err, params, ctx, ...)
  if type(params) == 'table' and type(params.message) == 'string' then
    for _, line in ipairs(vim.split(params.message, '\n', { plain = true })) do
      table.insert(F.log, line)
    end
    while #F.log > F.LOG_LINES do
      table.remove(F.log, 1)
    end
  end
  local default = vim.lsp.handlers['window/logMessage']
  if default then
    return default(err, params, ctx, ...)
  end
end

--- Open the server log in a scratch split (the last LOG_LINES lines, plus Neovim's LSP log path).
function F.show_log()
  local lines = vim.list_extend({ '-- codeassist server log (window/logMessage); Neovim LSP log: ' .. vim.lsp.get_log_path() }, F.log)
  vim.cmd('botright new')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.api.nvim_buf_set_name(buf, 'codeassist://log')
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.api.nvim_win_set_cursor(0, { #lines, 0 })
  return buf
end

-- Stats -----------------------------------------------------------------------------------------------------------

local function pct(part, whole)
  return whole > 0 and string.format('%d%%', math.floor(100 * part / whole + 0.5)) or '–'
end

--- One line for a day's (or all days') counts from `codeassist.stats`.
function F.describe(c)
  c = c or {}
  local shown, accepted = c.shown or 0, c.accepted or 0
  local text = string.format('%d of %d suggestions accepted (%s: %d full, %d partial), %d dismissed, %d characters',
    accepted, shown, pct(accepted, shown), c.accepted_full or 0, c.accepted_partial or 0, c.dismissed or 0,
    c.chars_accepted or 0)
  local labels = vim.tbl_keys(c.retained or {})
  table.sort(labels, function(a, b)
    return (tonumber(a:match('^[%d.]+')) or 0) < (tonumber(b:match('^[%d.]+')) or 0)
  end)
  for _, label in ipairs(labels) do
    local r = c.retained[label]
    text = text .. string.format('; %s still there after %s', pct(r.chars_present or 0, r.chars_accepted or 0), label)
  end
  return text
end

--- :CodeassistStats [delete]: this workspace's counts (local only), or delete them. `done(result)` for tests.
function F.stats(bufnr, delete, done)
  local client = config.get_client(bufnr)
  if not client then
    vim.notify('codeassist: not attached to this buffer', vim.log.levels.WARN)
    return false
  end
  local command = delete and 'codeassist.deleteStats' or 'codeassist.stats'
  client:request('workspace/executeCommand', { command = command, arguments = {} }, function(err, result)
    if err then
      vim.notify('codeassist: ' .. tostring(err.message or err), vim.log.levels.WARN)
    elseif delete then
      vim.notify('codeassist: acceptance stats of this workspace deleted', vim.log.levels.INFO)
    else
      vim.notify(string.format('codeassist (local only; nothing of your code is kept)\ntoday: %s\nall days: %s',
        F.describe(result.today), F.describe(result.total)), vim.log.levels.INFO)
    end
    if done then
      done(err, result)
    end
  end, bufnr)
  return true
end

return F
