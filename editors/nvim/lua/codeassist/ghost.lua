--- Ghost text: the first inline-completion item drawn as extmarks (the rest of the cursor line as inline virt_text,
--- further lines as virt_lines), and inserting it.
local config = require('codeassist.config')
local feedback = require('codeassist.feedback')

local G = {}

G.ns = vim.api.nvim_create_namespace('codeassist')
local ns = G.ns

--- Remove the visible suggestion of a buffer.
function G.clear(bufnr)
  local s = config.buffers[bufnr]
  if s then
    s.suggestion = nil
  end
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  end
end

function G.item_text(item)
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
  local hl = config.options.hl_group
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

--- Show `item` (an InlineCompletionItem) as ghost text at the cursor (row, col: 0-based, byte column).
function G.show(bufnr, client, item, row, col)
  local text = G.item_text(item)
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
  local s = config.bstate(bufnr)
  s.suggestion = {
    item = item,
    text = text,
    ghost = ghost,
    row = row,
    col = col,
    start_row = srow,
    start_col = scol,
    tick = vim.api.nvim_buf_get_changedtick(bufnr),
    client = client,
  }
  render(bufnr, s)
  feedback.shown(client, item)
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'CodeassistSuggestion', modeline = false })
end

--- The visible suggestion of a buffer: {text, ghost, item, row, col} or nil.
function G.get_suggestion(bufnr)
  bufnr = config.resolve_buf(bufnr)
  local s = config.buffers[bufnr]
  local sug = s and s.suggestion
  if sug and sug.tick == vim.api.nvim_buf_get_changedtick(bufnr) then
    return sug
  end
  return nil
end

--- Handler for `codeassist/withdrawSuggestion` (verify = sandbox): a suggestion shown as "checking…" failed its
--- tests; hide it if that buffer still shows it.
function G.on_withdraw(_, params, _)
  local uri = type(params) == 'table' and type(params.textDocument) == 'table' and params.textDocument.uri
  if type(uri) ~= 'string' then
    return
  end
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.uri_from_bufnr(bufnr) == uri then
      local sug = G.get_suggestion(bufnr)
      if sug and sug.text == params.text then
        G.clear(bufnr)
      end
    end
  end
end

function G.is_visible(bufnr)
  return G.get_suggestion(bufnr) ~= nil
end

--- Insert the suggestion `sug` of `bufnr` (`what` = 'all' or 'line') and move the cursor after it. The caller has
--- cancelled the buffer's requests (requests.accept).
function G.insert(bufnr, sug, what)
  local insert = sug.ghost
  if what == 'line' then
    local nl = insert:find('\n', 2, true) -- a leading newline belongs to the next line
    if nl then
      insert = insert:sub(1, nl - 1)
    end
  end
  G.clear(bufnr)
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


return G
