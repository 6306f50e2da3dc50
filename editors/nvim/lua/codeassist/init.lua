--- codeassist for Neovim 0.11+: ghost-text completions, explanations and fixes from `codeassist serve`.
---
--- require('codeassist').setup({ ... }) starts the server with vim.lsp.start() for the configured filetypes.
--- Where Neovim has its own inline completion (vim.lsp.inline_completion, 0.12+; detected, option
--- builtin_inline_completion) the plugin enables it for the buffer and maps the accept key to it. Neovim 0.11 has none,
--- so there this plugin requests textDocument/inlineCompletion itself (debounced on TextChangedI/CursorMovedI, cancelling stale requests) and draws the first item as
--- extmark ghost text: the rest of the cursor line as inline virt_text, further lines as virt_lines.
---
--- Modules: config (options, per-buffer state), ghost (drawing and inserting suggestions), requests (asking, cancelling,
--- keymaps and autocmds), actions (explain float, fix picker), status (statusline), warm (`codeassist/warm` where the
--- cursor rests). This file is the public API and the server's lifecycle.
local config = require('codeassist.config')
local status = require('codeassist.status')
local ghost = require('codeassist.ghost')
local requests = require('codeassist.requests')
local actions = require('codeassist.actions')
local feedback = require('codeassist.feedback')
local bench = require('codeassist.bench')
local warm = require('codeassist.warm')

local M = {}

-- `M.config` (the options in effect) and `M.last_explanation` (the last explanation's Markdown) are live views of
-- the modules' state.
setmetatable(M, {
  __index = function(_, key)
    if key == 'config' then
      return config.options
    elseif key == 'last_explanation' then
      return actions.last_explanation
    end
  end,
})

M.get_client = config.get_client
M.statusline = status.statusline
M.dismiss = function(bufnr)
  requests.dismiss(bufnr, true)
end
M.uses_builtin = requests.builtin
M.enabled_for = feedback.enabled_for
M.stats = feedback.stats
M.show_log = feedback.show_log
M.request = requests.request
M.accept = requests.accept
M.cycle = requests.cycle
M.get_suggestion = ghost.get_suggestion
M.is_visible = ghost.is_visible
M.explain = actions.explain
M.range_for_lines = actions.range_for_lines

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
  bufnr = config.resolve_buf(bufnr)
  if vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local fname = vim.api.nvim_buf_get_name(bufnr)
  local root = vim.fs.root(bufnr, config.options.root_markers)
    or (fname ~= '' and vim.fs.dirname(fname))
    or vim.fn.getcwd()
  local settings = config.options.settings or {}
  local id = vim.lsp.start({
    name = config.NAME,
    cmd = config.options.cmd,
    root_dir = root,
    capabilities = capabilities(),
    init_options = config.empty_dict_if_empty(settings),
    -- Sent as workspace/didChangeConfiguration after initialize, and answers workspace/configuration pulls.
    settings = next(settings) and { codeassist = settings } or nil,
    -- Our client only: the global vim.lsp.handlers (and so other servers' progress) stay as they are.
    handlers = {
      [config.STATUS_METHOD] = function(err, result, ctx)
        local previous = type(vim.g.codeassist_state) == 'table' and vim.g.codeassist_state.state or nil
        status.on_status(err, result, ctx)
        warm.on_status(previous, result)
      end,
      ['codeassist/withdrawSuggestion'] = ghost.on_withdraw,
      ['codeassist/suggestionReady'] = requests.on_ready,
      ['$/progress'] = actions.progress_handler,
      ['window/logMessage'] = feedback.log_handler,
    },
    on_exit = function(_, _, client_id)
      actions.on_client_exit(client_id)
    end,
    commands = {
      -- The "codeassist: Explain" code action (vim.lsp.buf.code_action) runs here, so the result lands in a float.
      [config.EXPLAIN_COMMAND] = function(command, ctx)
        local args = command.arguments or {}
        M.explain({ bufnr = ctx.bufnr, range = args[2] })
      end,
    },
  }, { bufnr = bufnr })
  if id then
    requests.attach_buffer(bufnr)
    warm.attach(bufnr)
  end
  return id
end

--- Change server settings at runtime (merged into config.settings), sent with workspace/didChangeConfiguration.
function M.set_settings(settings)
  config.options.settings = vim.tbl_deep_extend('force', config.options.settings or {}, settings or {})
  for _, client in ipairs(vim.lsp.get_clients({ name = config.NAME })) do
    client.settings = { codeassist = config.empty_dict_if_empty(config.options.settings) }
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
    M.explain({ bufnr = bufnr, range = M.range_for_lines(bufnr, line1, line2, config.get_client(bufnr)) })
  end, { range = true, desc = 'codeassist: explain the selected lines in a floating window' })
  vim.api.nvim_create_user_command('CodeassistFix', actions.fix, {
    desc = 'codeassist: pick a fix for the problem on this line',
  })
  vim.api.nvim_create_user_command('CodeassistComplete', function()
    M.request({ trigger_kind = 1, any_mode = true })
  end, { desc = 'codeassist: ask for a suggestion at the cursor' })
  vim.api.nvim_create_user_command('CodeassistStatus', function()
    local report = status.report()
    vim.notify(report or 'codeassist: not started', vim.log.levels.INFO)
  end, { desc = 'codeassist: show the server status' })
  vim.api.nvim_create_user_command('CodeassistToggle', function()
    local on = feedback.toggle()
    requests.apply_switches()
    vim.notify('codeassist: suggestions ' .. (on and 'on' or 'off'), vim.log.levels.INFO)
  end, { desc = 'codeassist: switch inline suggestions on or off everywhere' })
  vim.api.nvim_create_user_command('CodeassistToggleFiletype', function(o)
    local ft = o.args ~= '' and o.args or vim.bo.filetype
    local on = feedback.toggle_filetype(ft)
    requests.apply_switches()
    vim.notify(string.format('codeassist: suggestions %s for %s', on and 'on' or 'off', ft), vim.log.levels.INFO)
  end, { nargs = '?', complete = 'filetype', desc = 'codeassist: switch suggestions for a filetype (default: this one)' })
  vim.api.nvim_create_user_command('CodeassistStats', function(o)
    if o.args ~= '' and o.args ~= 'delete' then
      return vim.notify('codeassist: :CodeassistStats [delete]', vim.log.levels.ERROR)
    end
    feedback.stats(0, o.args == 'delete')
  end, {
    nargs = '?',
    complete = function()
      return { 'delete' }
    end,
    desc = 'codeassist: local acceptance stats of this workspace (`delete` removes them)',
  })
  vim.api.nvim_create_user_command('CodeassistBenchmark', function(o)
    if o.args == 'stop' then
      return bench.stop()
    end
    if o.args ~= '' and not tonumber(o.args) then
      return vim.notify('codeassist: :CodeassistBenchmark [holes|stop]', vim.log.levels.ERROR)
    end
    bench.run({ holes = o.args ~= '' and o.args or nil })
  end, {
    nargs = '?',
    complete = function()
      return { 'stop' }
    end,
    desc = 'codeassist: benchmark this workspace (codeassist bench repo) and open the report',
  })
  vim.api.nvim_create_user_command('CodeassistLog', feedback.show_log, { desc = 'codeassist: show the server log' })
  vim.api.nvim_create_user_command('CodeassistRestart', function()
    for _, client in ipairs(vim.lsp.get_clients({ name = config.NAME })) do
      client:stop(true)
    end
    vim.defer_fn(function()
      for _, b in ipairs(vim.api.nvim_list_bufs()) do
        if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(config.options.filetypes, vim.bo[b].filetype) then
          local st = config.buffers[b]
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
  config.setup(opts)
  vim.api.nvim_set_hl(0, 'CodeassistSuggestion', { link = 'Comment', default = true })
  vim.g.codeassist_status = vim.g.codeassist_status or ''
  user_commands()
  local group = vim.api.nvim_create_augroup('codeassist', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = config.options.filetypes,
    callback = function(ev)
      M.start(ev.buf)
    end,
  })
  -- Buffers already open when setup() runs (lazy loading).
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(config.options.filetypes, vim.bo[b].filetype) then
      M.start(b)
    end
  end
end

return M
