"""Neovim's ``codeassist/suggestionReady`` handler (editors/nvim/lua/codeassist/requests.lua ``on_ready``) in a real
headless Neovim: a verified replacement is asked for again only when the buffer is the current one, in insert mode,
at the LSP version the original request saw and with the cursor where it was. The request itself is recorded instead
of sent (no server here: the end-to-end path is tests/lsp/test_verify_alternatives.py); everything else is the
plugin's own code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
local requests = require('codeassist.requests')
local asked = 0
requests.request = function() asked = asked + 1; return true end
local buf = vim.api.nvim_get_current_buf()
vim.api.nvim_buf_set_name(buf, '/tmp/codeassist-ready/m.py')
vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'def f(values):', '    text = ', '    return text' })
vim.api.nvim_win_set_cursor(0, { 2, 11 })
local uri = vim.uri_from_bufnr(buf)
local version = vim.lsp.util.buf_versions[buf]
local function ready(over)
  local p = { textDocument = { uri = uri, version = version }, position = { line = 1, character = 11 },
              text = '"summary"', label = 'verified: tests pass' }
  for k, v in pairs(over or {}) do p[k] = v end
  local before = asked
  requests.on_ready(nil, p, {})
  return asked - before
end
local function run()
  local results = {
    version = version,
    same = ready(),
    moved = ready({ position = { line = 1, character = 4 } }),
    other_version = ready({ textDocument = { uri = uri, version = (version or 0) + 1 } }),
    other_buffer = ready({ textDocument = { uri = 'file:///elsewhere.py', version = version } }),
    malformed = ready({ position = 'x' }),
  }
  vim.cmd('stopinsert')
  vim.defer_fn(function()  -- once back in normal mode
    results.mode = vim.api.nvim_get_mode().mode
    results.normal_mode = ready()
    vim.fn.writefile({ vim.json.encode(results) }, vim.env.OUT)
    vim.cmd('qa!')
  end, 50)
end
-- in insert mode, as when typing (the handler does nothing in normal mode)
vim.api.nvim_create_autocmd('InsertEnter', { once = true, callback = function() vim.schedule(run) end })
"""


def test_a_replacement_is_asked_for_only_where_it_was_meant(nvim_exe: str, tmp_path: Path) -> None:
    script, out = tmp_path / "ready.lua", tmp_path / "out.json"
    script.write_text(SCRIPT)
    cmd = [nvim_exe, "--headless", "--clean", "-u", "NONE", "--cmd", f"set rtp+={REPO / 'editors' / 'nvim'}"]
    argv = [*cmd, "-c", f"luafile {script}", "-c", "startinsert!"]  # insert mode at the line's end: column 11
    env = {"OUT": str(out), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.exists(), proc.stderr + proc.stdout
    got = json.loads(out.read_text())
    assert got.pop("version") is not None and got.pop("mode") == "n", got
    assert got == {"same": 1, "moved": 0, "other_version": 0, "other_buffer": 0, "malformed": 0, "normal_mode": 0}
