"""LSP base-protocol framing: bytes in, messages (or precise complaints) out. Replaces pygls' reader.

Why our own: pygls' reader accepts only ``Content-Length: N\\r\\n`` exactly, and one frame it does not like (a
lower-case name, LF-only lines, ``-5``, a wrong length, junk) leaves it waiting for a header that never comes — the
server stays alive and answers nothing, for good; ``Content-Length: 10^15`` makes it allocate and die. Here:

- headers are parsed leniently: names case-insensitively, ``\\r\\n`` or ``\\n`` line ends, blank lines between
  frames skipped, unknown headers ignored; a bad header block is dropped and we *resynchronise* at the next header
  signature (``Content-Length: <digits>`` ending in a real newline);
- a body larger than ``max_body`` is never buffered: its first bytes are peeked for the request ``id`` (so the
  client can be answered), the rest is discarded as it arrives;
- a body whose ``Content-Length`` is wrong is recognised: too long shows up as a header signature inside the
  declared body (a real newline cannot occur inside a JSON string, so that is proof); too short leaves a truncated
  JSON value whose continuation precedes the next header. When the JSON value can be recovered it is delivered
  (with a note saying what was wrong); when it cannot, the caller answers ``-32700``;
- a body stalled (no bytes for a while) that already holds a complete JSON object is delivered, so a too-long
  length on the last frame a client sends cannot deadlock both sides.

The parser is pure (no I/O, no threads): :mod:`codeassist.server.transport` feeds it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_BODY = 64 << 20
MAX_HEADER = 8 << 10
PEEK = 4 << 10
# A header line as only a frame start can have it: JSON strings cannot hold a raw newline, so this never matches
# inside a well-formed body.
SIGNATURE = re.compile(rb"content-length[ \t]{0,8}:[ \t]{0,8}\d{1,20}[ \t]{0,8}\r?\n", re.IGNORECASE)
SIGNATURE_MAX = 80  # longest possible match: the tail kept across chunks while searching
HEADER_NAME = re.compile(rb"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_FIRST_ID = re.compile(
    rb'\A\s*\{\s*(?:"jsonrpc"\s*:\s*"[^"]*"\s*,\s*)?"id"\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,256}")\s*[,}]'
)


@dataclass(frozen=True)
class Message:
    """A decoded JSON value. ``note`` says what was wrong with its framing when it was recovered."""

    value: Any
    note: str | None = None


@dataclass(frozen=True)
class Malformed:
    """A complete body that is not JSON: answered with -32700 Parse error, id null (JSON-RPC)."""

    reason: str


@dataclass(frozen=True)
class Undecodable:
    """A body that is not UTF-8. The protocol decides what that means for the message it carried."""

    body: bytes
    reason: str


@dataclass(frozen=True)
class Oversized:
    """A frame over the size limit, discarded unread. ``msg_id`` when its first bytes named one."""

    length: int
    msg_id: int | str | None


@dataclass(frozen=True)
class Skipped:
    """Bytes that were not a frame (junk, a bad header block): logged, never answered."""

    size: int
    reason: str


Event = Message | Malformed | Undecodable | Oversized | Skipped


def peek_id(head: bytes) -> int | str | None:
    """The request id, when it is the first key (or the second, after ``jsonrpc``) of the object ``head`` starts."""
    m = _FIRST_ID.match(head)
    if m is None:
        return None
    try:
        value = json.loads(m.group(1))
    except ValueError:
        return None
    return value if isinstance(value, int | str) else None


def decode(body: bytes) -> Message | Malformed | Undecodable:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Undecodable(body, f"invalid UTF-8 at byte {exc.start}: {exc.reason}")
    try:
        return Message(json.loads(text.removeprefix("\ufeff")))  # a UTF-8 BOM is not JSON, but harmless
    except RecursionError:
        return Malformed("JSON nested too deeply")
    except ValueError as exc:
        return Malformed(f"invalid JSON: {exc}")


class FrameParser:
    """Feed bytes with :meth:`feed`, get events. States: header (``_length`` None), body, discard."""

    def __init__(self, max_body: int = MAX_BODY, max_header: int = MAX_HEADER) -> None:
        self.max_body = max_body
        self.max_header = max_header
        self._buf = bytearray()
        self._length: int | None = None  # declared length of the body being read
        self._scanned = 0  # body bytes already searched for a header signature
        self._resync = False  # after a bad header: skip to the next signature
        self._discard = 0  # bytes of an oversized body still to drop
        self._peek = bytearray()
        self._tail = b""  # the last dropped bytes, so a signature split across reads is still found
        self._oversized = 0

    @property
    def pending_body(self) -> bool:
        return self._length is not None

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        if self._discard:
            data = self._drop(data, events)
        self._buf += data
        while self._step(events):
            pass
        return events

    def stalled(self) -> list[Event]:
        """No bytes came for a while. A partial body that already starts with a whole JSON object is delivered (its
        Content-Length was too long); what follows the object stays for the header parser."""
        if self._length is None or not self._buf:
            return []
        head = leading_object(bytes(self._buf))
        if head is None:
            return []
        value, size = head
        note = f"Content-Length said {self._length} bytes but the message ended after {size}"
        del self._buf[:size]
        self._end_body()
        return [Message(value, note)]

    def eof(self) -> list[Event]:
        """The stream ended: report what was left unfinished."""
        size = len(self._buf)
        self._buf.clear()
        if self._length is not None:
            self._end_body()
            return [Skipped(size, "the stream ended inside a message body")]
        return [Skipped(size, "the stream ended inside a header")] if size else []

    # -- states -----------------------------------------------------------------------------------------------------

    def _step(self, events: list[Event]) -> bool:
        if self._discard:
            return False
        if self._length is not None:
            return self._body(events)
        if self._resync and not self._find_signature(events):
            return False
        return self._header(events)

    def _find_signature(self, events: list[Event]) -> bool:
        at = find_signature(self._buf, 0, len(self._buf))
        if at is None:
            keep = min(len(self._buf), SIGNATURE_MAX)
            if len(self._buf) > keep:
                events.append(Skipped(len(self._buf) - keep, "bytes that are not a frame"))
                del self._buf[: len(self._buf) - keep]
            return False
        if at:
            events.append(Skipped(at, "bytes that are not a frame"))
            del self._buf[:at]
        self._resync = False
        return True

    def _header(self, events: list[Event]) -> bool:
        """Parse one header block at the start of the buffer; False when more bytes are needed."""
        buf = self._buf
        pos, lines = 0, []
        while True:
            nl = buf.find(b"\n", pos, pos + self.max_header + 1)
            if nl < 0:
                if len(buf) - pos > self.max_header or pos > self.max_header:
                    return self._bad(events, "a header line longer than the limit")
                return False
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            pos = nl + 1
            if line.strip():
                lines.append(line)
            elif lines:
                break
            else:  # a blank line between frames
                del buf[:pos]
                pos = 0
            if pos > self.max_header:
                return self._bad(events, "a header block longer than the limit")
        length, problem = _content_length(lines)
        if problem is not None or length is None:
            return self._bad(events, problem or "a header block without Content-Length")
        del buf[:pos]
        if length > self.max_body:
            self._start_discard(length, events)
            return bool(self._buf) and not self._discard
        self._length, self._scanned = length, 0
        return True

    def _bad(self, events: list[Event], reason: str) -> bool:
        """Drop the start of a bad header block and resynchronise at the next signature (which may begin inside
        the bad block's first line: a frame glued to a broken one)."""
        events.append(Skipped(1, reason))
        del self._buf[:1]
        self._resync = True
        return True

    def _body(self, events: list[Event]) -> bool:
        assert self._length is not None
        length, buf = self._length, self._buf
        if len(buf) < length:
            cut = find_signature(buf, max(0, self._scanned - SIGNATURE_MAX), len(buf))
            if cut is None:
                self._scanned = len(buf)
                return False
            # a header inside the declared body: the length was too long
            early = decode(bytes(buf[:cut]).rstrip())
            del buf[:cut]
            self._end_body()
            if isinstance(early, Message):
                early = Message(early.value, f"Content-Length said {length} bytes but the message was {cut}")
            events.append(early)
            return True
        body = bytes(buf[:length])
        self._end_body()
        found: Event = decode(body)
        if not isinstance(found, Malformed):
            del buf[:length]
            events.append(found)
            return True
        # A wrong length? The next frame's header inside the declared body (too long, or a header with no body at
        # all), a whole object followed by more (too long), or an object cut short (too short).
        cut = find_signature(buf, 0, min(len(buf), length + SIGNATURE_MAX))
        if cut is not None and cut < length:
            found = decode(body[:cut]) if body[:cut].strip() else Skipped(cut, "a frame with no body")
            length = cut
        elif (head := leading_object(body) or leading_object(body + bytes(buf[length:][: self.max_body]))) is not None:
            found = Message(head[0], f"Content-Length said {length} bytes but the message was {head[1]}")
            length = head[1]
        del buf[:length]
        events.append(found)
        return True

    def _end_body(self) -> None:
        self._length, self._scanned = None, 0

    # -- oversized bodies -------------------------------------------------------------------------------------------

    def _start_discard(self, length: int, events: list[Event]) -> None:
        self._discard, self._oversized = length, length
        self._peek, self._tail = bytearray(), b""
        rest = bytes(self._buf)
        self._buf.clear()
        self._buf += self._drop(rest, events)

    def _drop(self, data: bytes, events: list[Event]) -> bytes:
        """Discard oversized-body bytes (peeking at the first few for the id); returns the bytes after the body, or
        from a header signature on, which shows the declared length was a lie."""
        if len(self._peek) < PEEK:
            self._peek += data[: PEEK - len(self._peek)]
        take = data[: self._discard]
        window = self._tail + take
        at = find_signature(window, 0, len(window))
        if at is not None:
            dropped = self._oversized - self._discard + at - len(self._tail)
            self._finish_discard(events, f"a new frame began {dropped} bytes into the body")
            return window[at:] + data[len(take) :]
        if len(data) < self._discard:
            self._discard -= len(data)
            self._tail = window[-SIGNATURE_MAX:]
            return b""
        rest = data[self._discard :]
        self._finish_discard(events, None)
        return rest

    def _finish_discard(self, events: list[Event], note: str | None) -> None:
        events.append(Oversized(self._oversized, peek_id(bytes(self._peek))))
        if note is not None:
            events.append(Skipped(0, f"the oversized frame's length was wrong: {note}"))
        self._discard, self._oversized = 0, 0
        self._peek, self._tail = bytearray(), b""


def find_signature(buf: bytes | bytearray, start: int, end: int) -> int | None:
    """Offset of the first header signature that ends (with its newline) in ``buf[start:end]``, or None.

    Fast on big bodies: it only looks behind raw newlines (memchr speed), which compact JSON does not contain."""
    pos = start
    while True:
        nl = buf.find(b"\n", pos, end)
        if nl < 0:
            return None
        m = SIGNATURE.search(buf, max(start, nl + 1 - SIGNATURE_MAX), nl + 1)
        if m is not None:
            return m.start()
        pos = nl + 1


_DECODER = json.JSONDecoder()


def _frame_start(rest: bytes) -> bool:
    """Could ``rest`` be (the start of) the next frame's header? Nothing, or a prefix of one of LSP's headers."""
    head = rest.lstrip()[:14].lower()
    return not head or any(name.startswith(head) or head.startswith(name) for name in _HEADER_NAMES)


_HEADER_NAMES = (b"content-length", b"content-type")


def leading_object(data: bytes) -> tuple[dict[str, Any], int] | None:
    """The JSON object ``data`` starts with and its size in bytes, when what follows it is (the start of) the next
    frame: the sign of a wrong Content-Length. An object followed by anything else is just a malformed body."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data[: exc.start].decode("utf-8")
    start = len(text) - len(text.lstrip().removeprefix("\ufeff"))
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    size = len(text[:end].encode("utf-8"))
    if not isinstance(value, dict) or not _frame_start(data[size:]):
        return None
    return value, size


def _content_length(lines: list[bytes]) -> tuple[int | None, str | None]:
    """The body length a header block declares, or why it declares none we can trust."""
    length: int | None = None
    for line in lines:
        name, sep, value = line.partition(b":")
        name = name.strip()
        if not sep or not HEADER_NAME.fullmatch(name):
            return None, f"not a header line: {line[:60]!r}"
        if name.lower() != b"content-length":
            continue
        value = value.strip()
        if not value.isdigit() or len(value) > 20:
            return None, f"Content-Length is not a non-negative integer: {value[:40]!r}"
        if length is not None and int(value) != length:
            return None, "two different Content-Length headers"
        length = int(value)
    return length, None
