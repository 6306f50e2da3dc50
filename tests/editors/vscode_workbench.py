"""A real VS Code workbench for the end-to-end test: code-server (VS Code 1.139 in the browser) with the packaged
codeassist .vsix installed, driven through Debian's Chromium by Playwright, as a user would drive it.

The tooling comes from ``scripts/install-vscode-e2e.sh`` (``make test-vscode`` runs it); its paths are read from
``build/vscode-e2e/env``. code-server listens on 127.0.0.1 only, with its own user-data, extensions and XDG folders,
and every process it starts (extension host, ``codeassist serve``) is stopped at the end, the language server
first through end-of-input, so its sandbox containers are removed by its own exit handler.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Browser, Page, Playwright, sync_playwright

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "build" / "vscode-e2e"
T = TypeVar("T")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class Tools:
    node: Path
    code_server: Path
    chromium: Path

    @staticmethod
    def load() -> Tools | None:
        """The installed tooling, or None when scripts/install-vscode-e2e.sh has not run (or a path is gone)."""
        env = TOOLS / "env"
        if not env.is_file():
            return None
        values = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)
        tools = Tools(Path(values["node"]), Path(values["code_server"]), Path(values["chromium"]))
        return tools if all(p.exists() for p in (tools.node, tools.code_server, tools.chromium)) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, every_s: float = 0.25) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` and the time waited."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


@dataclass
class CodeServer:
    """One code-server process group on 127.0.0.1 with private user-data/extensions/XDG folders."""

    tools: Tools
    home: Path
    workspace: Path
    settings: dict[str, Any]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?folder={self.workspace}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.tools.node.parent}:{os.environ.get('PATH', '')}",  # code-server: #!/usr/bin/env node
            "XDG_CONFIG_HOME": str(self.home / "xdg-config"),  # else it writes a password config into ~
            "XDG_DATA_HOME": str(self.home / "xdg-data"),  # not XDG_CACHE_HOME: the server finds its model there
            # llama.cpp's OpenMP threads spin while waiting: on a shared machine that slows decoding (README).
            "OMP_WAIT_POLICY": "passive",
        }

    def _cmd(self, *args: str) -> list[str]:
        dirs = ["--user-data-dir", str(self.home / "data"), "--extensions-dir", str(self.home / "extensions")]
        return [str(self.tools.node), str(self.tools.code_server), *dirs, *args]

    def install_extension(self, vsix: Path) -> None:
        proc = subprocess.run(
            self._cmd("--install-extension", str(vsix)),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert proc.returncode == 0, f"code-server --install-extension failed:\n{proc.stdout}\n{proc.stderr}"

    def start(self, log: Path) -> None:
        user = self.home / "data" / "User"
        user.mkdir(parents=True, exist_ok=True)
        (user / "settings.json").write_text(json.dumps(self.settings, indent=2))
        args = [
            "--bind-addr",
            f"127.0.0.1:{self.port}",
            "--auth",
            "none",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            *self.extra_args,
            str(self.workspace),
        ]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self._cmd(*args), env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(f"code-server on 127.0.0.1:{self.port} (log: {log})", self._healthy, 120)

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"code-server exited with {self.proc.returncode} before answering /healthz")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def group_pids(self) -> list[int]:
        """Live processes of our process group (code-server, extension host, codeassist serve, ...)."""
        if self.proc is None:
            return []
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    stat = (d / "stat").read_text()
                    fields = stat[stat.rindex(")") + 2 :].split()
                    if int(fields[2]) == self.proc.pid and fields[0] != "Z":
                        pids.append(int(d.name))
        return pids

    def servers(self) -> list[int]:
        """pids of ``codeassist serve`` processes in our group."""
        found = []
        for pid in self.group_pids():
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"serve" in argv and any(a.endswith(b"codeassist") for a in argv):
                    found.append(pid)
        return found

    def stop(self) -> list[int]:
        """Stop everything; returns pids still alive afterwards (should be none). ``codeassist serve`` gets the
        chance to exit on end-of-input (its stdin closes with the extension host), which runs its cleanup."""
        if self.proc is None:
            return []
        servers = set(self.servers())
        for pid in self.group_pids():
            if pid not in servers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(AssertionError):
            wait_for("codeassist serve to exit", lambda: not self.group_pids(), 20)
        for pid in self.group_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        time.sleep(0.5)
        return self.group_pids()


# Recorded in the page from the first paint: every distinct state of our status bar item (its codicons + text),
# so a loading -> ready transition that lasts a second is not missed by polling.
STATUS_RECORDER = """
(() => {
  window.__codeassistStatus = [];
  const seen = () => {
    for (const el of document.querySelectorAll('.statusbar-item')) {
      if (!el.textContent.includes('codeassist')) continue;
      const icons = [...el.querySelectorAll('.codicon')].map((i) => i.className.match(/codicon-([a-z-]+)/)?.[1]);
      const entry = icons.map((i) => '$(' + i + ')').join('') + ' ' + el.textContent.trim();
      const log = window.__codeassistStatus;
      if (log[log.length - 1] !== entry) log.push(entry);
    }
  };
  new MutationObserver(seen).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
})();
"""


# The ghost text of the active editor: the inline part on the cursor line, then the lines of a multi-line ghost.
GHOST_TEXT = """
() => {
  const ed = document.querySelector('.editor-group-container.active .monaco-editor');
  if (!ed) return '';
  const inline = [...ed.querySelectorAll('[class*="ghost-text-decoration"]')].map((e) => e.textContent).join('');
  const block = [...ed.querySelectorAll('.ghost-text .view-line')].map((e) => e.textContent);
  return [inline, ...block].join('\\n').replace(/\\u00a0/g, ' ').replace(/\\n+$/, '');
}
"""
GHOST_RECORDER = f"""
() => {{
  const read = {GHOST_TEXT};
  window.__codeassistGhosts = [];
  window.__codeassistGhostObserver?.disconnect();
  const seen = () => {{
    const log = window.__codeassistGhosts, text = read();
    if (log[log.length - 1] !== text) log.push(text);
  }};
  window.__codeassistGhostObserver = new MutationObserver(seen);
  window.__codeassistGhostObserver.observe(document.body, {{subtree: true, childList: true, characterData: true}});
  seen();
}}
"""


class Workbench:
    """The browser side: one Chromium page on the code-server workbench, with user-level helpers."""

    def __init__(self, pw: Playwright, tools: Tools, url: str, shots: Path) -> None:
        self.shots = shots
        self.browser: Browser = pw.chromium.launch(
            executable_path=str(tools.chromium), headless=True, args=CHROMIUM_ARGS
        )
        context = self.browser.new_context(viewport={"width": 1500, "height": 950})
        context.set_default_timeout(60_000)
        self.page: Page = context.new_page()
        self.page.add_init_script(STATUS_RECORDER)
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        self.page.wait_for_selector(".monaco-workbench", timeout=120_000)
        self._step = 0
        self._current = shots / "00-start.png"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.close()

    # -- steps and screenshots ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A user-visible step: a screenshot is kept either way; a failure names it."""
        self._step += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.shots / f"{self._step:02d}-{slug}.png"
        self._current = path
        try:
            yield
        except BaseException as exc:
            failed = path.with_name(path.stem + "-FAILED.png")
            with contextlib.suppress(Exception):
                self.page.screenshot(path=str(failed))
            raise AssertionError(f"step {name!r} failed (screenshot: {failed}): {exc}") from exc
        self.page.screenshot(path=str(path))

    def snap(self, what: str) -> None:
        """An extra screenshot inside the current step (e.g. a menu before it closes)."""
        path = self._current.with_name(f"{self._current.stem}-{what}.png")
        with contextlib.suppress(Exception):
            self.page.screenshot(path=str(path))

    # -- reading the UI ---------------------------------------------------------------------------------------------

    def status_log(self) -> list[str]:
        log: list[str] = self.page.evaluate("window.__codeassistStatus || []")
        return log

    def status_item(self) -> str:
        """The codeassist status bar item as shown now: codicons as $(name) + its text; '' when absent."""
        log = self.status_log()
        return log[-1] if log else ""

    def status_tooltip(self) -> str:
        label = self.page.locator(".statusbar-item", has_text="codeassist").first.get_attribute("aria-label")
        return label or ""

    def ghost_text(self) -> str:
        """The inline suggestion shown in the active editor ('' when none): the ghost on the cursor line, plus the
        lines of a multi-line ghost."""
        text: str = self.page.evaluate(f"() => ({GHOST_TEXT})()")
        return text

    def record_ghosts(self) -> None:
        """From now on, keep every distinct ghost text of the active editor in the page (see :meth:`ghosts_seen`):
        a suggestion withdrawn within a second is not missed by polling."""
        self.page.evaluate(GHOST_RECORDER)

    def ghosts_seen(self) -> list[str]:
        """The distinct ghost texts since :meth:`record_ghosts`, in order ('' when none was shown)."""
        seen: list[str] = self.page.evaluate("window.__codeassistGhosts || []")
        return seen

    def inline_hints(self) -> str | None:
        """The text of the inline suggestion toolbar (``editor.inlineSuggest.showToolbar``), None when not shown."""
        text: str | None = self.page.evaluate(
            "() => { const el = document.querySelector('.inlineSuggestionsHints'); return el ? el.textContent : null; }"
        )
        return text

    def inline_count(self) -> tuple[int, int] | None:
        """(shown candidate, candidates) from the toolbar's "1/3", None when it shows no count."""
        match = re.search(r"(\d+)\s*/\s*(\d+)", self.inline_hints() or "")
        return (int(match.group(1)), int(match.group(2))) if match else None

    def notifications(self) -> list[str]:
        texts: list[str] = self.page.locator(".notification-toast .notification-list-item-message").all_inner_texts()
        return texts

    def tab_titles(self) -> list[str]:
        titles: list[str] = self.page.locator(".tabs-container .tab .label-name").all_inner_texts()
        return titles

    # -- acting as a user ---------------------------------------------------------------------------------------------

    def quick_input(self, prefix_key: str, text: str, pick: str | None = None) -> None:
        """Open a quick input (Ctrl+P, Ctrl+G, Ctrl+Shift+P), type ``text`` and press Enter; with ``pick``, only
        once the focused row shows it (the list fills asynchronously: an early Enter picks nothing)."""
        self.page.keyboard.press(prefix_key)
        box = self.page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(text)
        if pick is not None:
            row = self.page.locator(".quick-input-list .monaco-list-row.focused", has_text=pick)
            row.wait_for(state="visible", timeout=30_000)
        else:
            time.sleep(0.5)
        self.page.keyboard.press("Enter")
        box.wait_for(state="hidden", timeout=15_000)

    def open_file(self, name: str) -> None:
        self.quick_input("Control+P", name, pick=name)
        self.page.locator(".editor-group-container.active .tab.active", has_text=name).wait_for()
        self.page.locator(".editor-group-container.active .monaco-editor .view-lines").first.wait_for()

    def focus_editor(self) -> None:
        """Click into the active editor: at the start of its first visible line (the middle of the editor may be
        covered by a scrollbar, the minimap or a hover)."""
        line = self.page.locator(".editor-group-container.active .monaco-editor .view-line").first
        line.click(position={"x": 1, "y": 2})

    def go_to(self, line: int, column: int) -> None:
        """Go to line:column (1-based, as VS Code shows them): Ctrl+G's quick input, whose value starts with ':'."""
        self.quick_input("Control+G", f":{line}:{column}")

    def run_command(self, title: str) -> None:
        """Ctrl+Shift+P; the command palette's value starts with '>'."""
        self.quick_input("Control+Shift+P", f">{title}", pick=title)

    def code_action(self, title_part: str, timeout_s: float) -> str:
        """Ctrl+. and pick the action whose title contains ``title_part``; returns the title as listed.
        The list is asked for again while it lacks the action (the server may still be loading)."""
        rows = self.page.locator(".action-widget .monaco-list-row", has_text=title_part)
        deadline = time.monotonic() + timeout_s
        while True:
            # Let the lightbulb's own code-action request (debounced after the cursor moved) settle first: when it
            # lands while the menu is open, VS Code disposes the listed actions' commands ("Actual command not found").
            time.sleep(1.5)
            self.page.keyboard.press("Control+.")
            with contextlib.suppress(Exception):
                rows.first.wait_for(state="visible", timeout=5_000)
                title = rows.first.inner_text().strip()
                self.snap("menu")
                rows.first.click()
                return title
            self.page.keyboard.press("Escape")
            if time.monotonic() > deadline:
                listed = self.page.locator(".action-widget .monaco-list-row").all_inner_texts()
                raise AssertionError(f"no code action containing {title_part!r} within {timeout_s:.0f} s: {listed}")
            time.sleep(1)


@contextlib.contextmanager
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw
