--- `codeassist/warm`: where the cursor rests once a buffer is entered, the cursor stays put in normal mode
--- ('updatetime', CursorHold) or the model becomes ready. LSP tells the server nothing about the cursor before the
--- first completion request, which then pays for the whole prompt; with this the server evaluates it in the
--- background while the user reads (any real request stops it), and the first request reuses it
--- (server/PROTOCOL.md). Typing sends nothing: the server warms after a typing pause by itself.
local config = require('codeassist.config')
local feedback = require('codeassist.feedback')

local W = {}
W.METHOD = 'codeassist/warm'

--- Send `codeassist/warm` for the cursor of the current window, if it shows `bufnr` and suggestions are on there.
function W.send(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.api.nvim_get_current_buf() ~= bufnr or not feedback.enabled_for(bufnr) then
    return
  end
  local client = config.get_client(bufnr)
  if not client then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  pcall(client.notify, client, W.METHOD, params)
end

--- Autocmds of a buffer the server attached to (idempotent), and a warm-up for it now.
function W.attach(bufnr)
  local group = vim.api.nvim_create_augroup('codeassist_warm_' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'BufEnter', 'CursorHold' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      W.send(bufnr)
    end,
  })
  W.send(bufnr)
end

--- A `codeassist/status` arrived: a warm-up sent while the model loaded was dropped, send it again once ready.
function W.on_status(previous_state, result)
  if type(result) == 'table' and result.state == 'ready' and previous_state ~= 'ready' then
    W.send(vim.api.nvim_get_current_buf())
  end
end

return W
