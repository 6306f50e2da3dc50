"""Logging: ``window/logMessage`` for the editor, an optional ``--log-file``, and no user code unless asked.

Why a redaction filter: pygls logs whole messages (document text included) when something fails, and our own
messages may mention completions. Unless ``--log-code`` is given, records from outside ``codeassist`` lose their
arguments, and ours never format code in the first place (code goes in ``extra={"code": ...}``, which is only
appended with ``--log-code``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lsprotocol import types

LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
    logging.DEBUG: types.MessageType.Log,
}


class RedactFilter(logging.Filter):
    """Drop arguments of third-party records (they may hold document text); append ``code`` extras only when
    ``log_code``."""

    def __init__(self, log_code: bool) -> None:
        super().__init__()
        self.log_code = log_code

    def filter(self, record: logging.LogRecord) -> bool:
        if _expected_error(record):
            return False
        code = getattr(record, "code", None)
        if not record.name.startswith("codeassist"):
            if not self.log_code and record.args:
                record.msg = f"{record.msg} [arguments redacted; use --log-code]"
                record.args = ()
        elif code is not None and self.log_code and not getattr(record, "_code_added", False):
            record.msg = f"{record.msg}\n---\n{code}\n---"
            record._code_added = True
        return True


def _expected_error(record: logging.LogRecord) -> bool:
    """pygls logs a traceback for every error response; ours (InvalidParams, RequestCancelled, ContentModified,
    RequestFailed) are answers, not server faults."""
    exc = record.exc_info[1] if record.exc_info else None
    return getattr(exc, "code", None) in (-32602, -32800, -32801, -32803) and record.name.startswith("pygls")


class LspLogHandler(logging.Handler):
    """Forwards records to ``window/logMessage`` through ``send`` (which must be thread-safe)."""

    def __init__(self, send: Callable[[types.LogMessageParams], None], level: int = logging.INFO) -> None:
        super().__init__(level)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            kind = LEVELS.get(record.levelno, types.MessageType.Log)
            self._send(types.LogMessageParams(type=kind, message=self.format(record)))
        except Exception:  # never let logging break serving
            self.handleError(record)


def configure(
    send: Callable[[types.LogMessageParams], None], *, log_file: str | None, log_code: bool, verbose: bool
) -> None:
    """Route ``codeassist`` records to the client (INFO+) and everything (DEBUG with ``verbose``) to the log file;
    third-party records only reach the file, at WARNING+ (pygls' INFO logs every message body)."""
    redact = RedactFilter(log_code)
    ours = logging.getLogger("codeassist")
    ours.setLevel(logging.DEBUG if verbose else logging.INFO)
    ours.propagate = False
    lsp = LspLogHandler(send)
    lsp.addFilter(redact)
    lsp.setFormatter(logging.Formatter("%(message)s"))
    ours.addHandler(lsp)
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if log_file:
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        fh.addFilter(redact)
        ours.addHandler(fh)
        root.addHandler(fh)
    else:
        err = logging.StreamHandler()  # stderr: never the protocol channel, editors show it in their LSP log
        err.setFormatter(logging.Formatter("codeassist: %(levelname)s %(name)s: %(message)s"))
        err.addFilter(redact)
        root.addHandler(err)
