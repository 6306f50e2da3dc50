"""Fill holes through a llama-server ``/infill`` endpoint with the requests llama.vim sends, for a side-by-side row.

Request (llama.vim ``llama#fim``, default config): ``input_prefix`` = the 256 lines above the cursor line,
``prompt`` = the cursor line up to the cursor (placed after the FIM middle token by the server), ``input_suffix`` =
the rest of the cursor line and the 64 lines below, ``n_indent`` = the line's indentation; a whitespace-only cursor
line sends neither its prefix nor its indentation. ``n_predict`` 128, ``stop`` = [] (``stop_strings``), ``top_k`` 40,
``top_p`` 0.90, ``samplers`` [top_k, top_p, infill], ``cache_prompt``. ``input_extra`` (llama.vim's ring buffer of
chunks from yanks and visited buffers) is empty: a fresh editor session. Two departures, both stated in reports:
``t_max_prompt_ms``/``t_max_predict_ms`` are the caller's (a generous cap for quality measurements instead of
llama.vim's 500/1000 ms, and 250 ms for a first request), and a fixed ``seed`` makes the sampled answers reproducible.

The answer is rendered as llama.vim shows it (``s:fim_render``): trailing empty lines dropped; on a whitespace-only
line the suggestion's own indentation replaces the line's; discarded when it is empty, repeats the line suffix, or
repeats the next non-empty line(s) of the buffer.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from codeassist.repobench.fill import Fill
from codeassist.repobench.holes import Hole

N_PREFIX = 256
N_SUFFIX = 64


@dataclass(frozen=True)
class InfillOptions:
    n_predict: int = 128
    t_max_prompt_ms: int = 500
    t_max_predict_ms: int = 1000
    seed: int = 1234
    timeout_s: float = 600.0


def vim_request(holed: str, cursor: int, opts: InfillOptions) -> dict[str, Any]:
    """The llama.vim request body for the cursor."""
    lines = holed.split("\n")
    y = holed.count("\n", 0, cursor)
    x = cursor - (holed.rfind("\n", 0, cursor) + 1)
    line_cur = lines[y]
    before, after = line_cur[:x], line_cur[x:]
    if not line_cur.strip():
        indent, before, after = 0, "", ""
    else:
        indent = len(line_cur) - len(line_cur.lstrip())
    body = {
        "input_prefix": "\n".join(lines[max(0, y - N_PREFIX) : y]) + "\n",
        "input_suffix": after + "\n" + "\n".join(lines[y + 1 : y + 1 + N_SUFFIX]) + "\n",
        "input_extra": [],
        "prompt": before,
        "n_predict": opts.n_predict,
        "stop": [],
        "n_indent": indent,
        "top_k": 40,
        "top_p": 0.90,
        "stream": False,
        "samplers": ["top_k", "top_p", "infill"],
        "cache_prompt": True,
        "t_max_prompt_ms": opts.t_max_prompt_ms,
        "t_max_predict_ms": opts.t_max_predict_ms,
        "seed": opts.seed,
    }
    return body


def vim_render(content: str, holed: str, cursor: int) -> tuple[str, int, int]:
    """What llama.vim shows and accepts with Tab: (replacement text, [start, end) of the holed text it replaces).
    Empty text when llama.vim discards the answer."""
    lines = holed.split("\n")
    y = holed.count("\n", 0, cursor)
    line_start = holed.rfind("\n", 0, cursor) + 1
    x = cursor - line_start
    parts = content.split("\n")
    while parts and parts[-1] == "":
        parts.pop()
    if not parts:
        return "", cursor, cursor
    line_cur = lines[y]
    start = cursor
    if not line_cur.strip():  # the suggestion's indentation replaces the whitespace-only line
        lead = min(len(parts[0]) - len(parts[0].lstrip()), len(line_cur))
        line_cur, parts[0] = parts[0][:lead], parts[0][lead:]
        start = line_start
    prefix, suffix = line_cur[:x], line_cur[x:]
    if (len(parts) == 1 and parts[0] in ("", suffix)) or (
        len(parts) > 1 and parts[0] == "" and parts[1:] == lines[y + 1 : y + len(parts)]
    ):
        return "", cursor, cursor
    cmp_y = y + 1
    while cmp_y < len(lines) - 1 and not lines[cmp_y].strip():
        cmp_y += 1
    if cmp_y < len(lines) and prefix + parts[0] == lines[cmp_y]:
        following = lines[cmp_y + 1 : cmp_y + len(parts)]
        if (
            len(parts) == 1
            or (len(parts) == 2 and following and following[0][: len(parts[1])] == parts[1])
            or (len(parts) > 2 and parts[1:] == following)
        ):
            return "", cursor, cursor
    text = "\n".join(parts)
    if start == line_start:
        text = prefix + text
    return text + suffix, start, cursor + len(suffix)


def _post(url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        data: dict[str, Any] = json.loads(r.read())
    return data


class InfillFiller:
    """Answers holes from ``URL/infill`` (``URL`` is the server's base address)."""

    def __init__(self, url: str, opts: InfillOptions | None = None) -> None:
        self.url = url.rstrip("/")
        if self.url.endswith("/infill"):
            self.url = self.url[: -len("/infill")]
        self.opts = opts or InfillOptions()

    def fill(self, original: str, hole: Hole) -> Fill:
        holed = hole.holed(original)
        body = vim_request(holed, hole.start, self.opts)
        t0 = time.perf_counter()
        try:
            data = _post(self.url + "/infill", body, self.opts.timeout_s)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            return Fill("", hole.start, hole.start, (time.perf_counter() - t0) * 1000, error=f"/infill: {exc}")
        ms = (time.perf_counter() - t0) * 1000
        text, start, end = vim_render(str(data.get("content", "")), holed, hole.start)
        tm = data.get("timings") or {}
        info = {k: tm[k] for k in ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms") if k in tm}
        info["tokens_cached"] = data.get("tokens_cached")
        return Fill(text, start, end, ms, info=info)
