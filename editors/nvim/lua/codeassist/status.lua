--- The server's `codeassist/status` notification: `vim.g.codeassist_status` (short text for statuslines),
--- `vim.g.codeassist_state` (the whole payload) and `User CodeassistStatus`.
local S = {}

--- One-line status for a statusline: "codeassist: ready 123ms", "codeassist: loading", "codeassist: error".
function S.statusline()
  return vim.g.codeassist_status or ''
end

--- Short text for a status payload.
function S.format(st)
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

--- Handler for `codeassist/status` (our client only).
function S.on_status(_, result, ctx)
  if type(result) ~= 'table' then
    return
  end
  vim.g.codeassist_state = result -- the full payload: state, message, model, lastLatencyMs, verification, lastCheck
  vim.g.codeassist_status = S.format(result) -- short text for statuslines: %{g:codeassist_status}
  if result.state == 'error' then
    vim.notify('codeassist: ' .. tostring(result.message or 'error'), vim.log.levels.ERROR)
  end
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'CodeassistStatus', modeline = false, data = result })
  vim.cmd.redrawstatus({ bang = true, mods = { silent = true, emsg_silent = true } })
end

--- The text :CodeassistStatus shows.
function S.report()
  local st = vim.g.codeassist_state
  if not st then
    return nil
  end
  local check = type(st.lastCheck) == 'table' and st.lastCheck or nil
  local last = check and string.format('%s%s%s', tostring(check.label),
    (check.reason and check.reason ~= '') and (' (' .. tostring(check.reason) .. ')') or '',
    check.shown == false and ', hidden' or '') or 'none yet'
  return string.format('%s\n%s\nmodel: %s\nverification: %s\nlast suggestion: %s', S.format(st),
    st.message or '', tostring(st.model), tostring(st.verification), last)
end

return S
