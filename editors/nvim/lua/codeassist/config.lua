--- Configuration and shared state of the codeassist plugin: the defaults, the options setup() merged, the per-buffer
--- state the other modules share, and small helpers (the attached client, tracing).
local C = {}

C.NAME = 'codeassist'
C.STATUS_METHOD = 'codeassist/status'
C.EXPLAIN_COMMAND = 'codeassist.explain'

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
  --- Suggestions on (:CodeassistToggle switches them), and the filetypes where they stay off
  --- (:CodeassistToggleFiletype adds or removes the current buffer's). Explain and Fix work either way.
  enabled = true,
  disabled_filetypes = {},
  --- Use Neovim's own inline completion (vim.lsp.inline_completion, Neovim >= 0.12) where it exists: 'auto' (yes when
  --- present), true, or false (always the plugin's ghost text). Neovim 0.11 has none: the plugin draws it.
  builtin_inline_completion = 'auto',
  --- Client-side debounce (ms) before a request is sent; the server has its own `debounce_ms` setting too.
  debounce_ms = 75,
  --- Hide ghost text while the popup menu is visible.
  hide_during_pum = true,
  keymaps = {
    accept = '<Tab>', -- accept the whole suggestion (falls back to the key's normal behaviour when none is shown)
    accept_line = '<C-l>', -- accept the next line of it
    dismiss = '<C-]>',
    trigger = '<M-\\>', -- ask now (several candidates: the server's `candidates` setting)
    next = '<M-]>', -- the next candidate (asks for several when only one is known), as VS Code's Alt+]
    prev = '<M-[>', -- the previous one
  },
  --- Highlight group for ghost text (linked to Comment unless you define CodeassistSuggestion yourself).
  hl_group = 'CodeassistSuggestion',
  explain = { border = 'rounded', max_width = 88, max_height = 30 },
  --- :CodeassistBenchmark: holes per run (`codeassist bench repo --holes N`) and extra arguments for it
  --- (e.g. { '--kind', 'multiline' } or { '--out', '/tmp/bench' }).
  bench_holes = 10,
  bench_args = {},
  --- Optional fun(msg: string) receiving a trace of requests/responses (debugging).
  trace = nil,
}


C.defaults = defaults

--- The options in effect (replaced by setup(); read it through this table, not a copy).
---@type codeassist.Config
C.options = vim.deepcopy(defaults)

--- Merge user options over the defaults (lists such as `filetypes` and `cmd` replace, not merge).
---@param opts? codeassist.Config
---@return codeassist.Config
function C.setup(opts)
  local options = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  if opts and opts.filetypes then
    options.filetypes = opts.filetypes -- lists replace, not merge
  end
  if opts and opts.cmd then
    options.cmd = opts.cmd
  end
  if opts and opts.bench_args then
    options.bench_args = opts.bench_args
  end
  C.options = options
  return options
end

--- Per-buffer state: the debounce timer, the request in flight, a sequence number that makes older responses stale,
--- the visible suggestion, whether keymaps/autocmds are attached.
---@type table<integer, {timer?: uv.uv_timer_t, request?: {client: vim.lsp.Client, id: integer}, seq: integer, suggestion?: table, attached?: boolean}>
C.buffers = {}

function C.bstate(bufnr)
  local s = C.buffers[bufnr]
  if not s then
    s = { seq = 0 }
    C.buffers[bufnr] = s
  end
  return s
end

function C.resolve_buf(bufnr)
  if bufnr == nil or bufnr == 0 then
    return vim.api.nvim_get_current_buf()
  end
  return bufnr
end

function C.trace(fmt, ...)
  if C.options.trace then
    C.options.trace(string.format(fmt, ...))
  end
end

function C.empty_dict_if_empty(t)
  if t == nil or next(t) == nil then
    return vim.empty_dict()
  end
  return t
end

--- The codeassist client attached to a buffer, if any.
---@return vim.lsp.Client?
function C.get_client(bufnr)
  return vim.lsp.get_clients({ bufnr = C.resolve_buf(bufnr), name = C.NAME })[1]
end

return C
