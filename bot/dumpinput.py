"""What `hostsnap analyze` reads: files or stdin, compressed or archived, always bounded.

Input comes from people (support bundles, ticket attachments, `curl | hostsnap analyze -`),
so nothing here trusts a size, a name or an extension:

- one bound on the dump text read in a run, counted *after* decompression (a gzip or zip
  bomb stops at it), and the same bound on the raw bytes of each input (a stream of
  empty gzip members never ends otherwise);
- the format is known from the first bytes (magic numbers), not from the file name;
- a head with NULs or mostly invalid UTF-8 is binary: refused at once (`/dev/zero`,
  random bytes), without reading the rest;
- zip and tar members are read in memory, never extracted: a member's name
  (`../../etc/passwd`, `/abs`, links) is only a label. Only regular members are read.

Stdlib decompressors plus zstandard (already a dependency), imported only when used:
`analyze`'s start-up time is part of what users wait for.
"""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_MAX = 256 * 1024**2  # a 30 000-thread jstack is ~30 MB, 300 000 goroutines ~110 MB
HEAD = 64 * 1024  # sniffed before deciding anything
CHUNK = 1024**2
MAX_MEMBERS = 10_000  # members looked at in one archive
MAX_DEPTH = 4  # compression inside archives inside compression ...

_GZIP, _ZSTD, _BZ2, _XZ = b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.I)
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")  # not \t \n \v \f \r ESC


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class InputError(Exception):
    """One line for the user; `analyze` exits 2."""


class BinaryInput(InputError):
    pass


@dataclass
class Input:
    name: str  # as the user knows it: a path, "stdin", "bundle.zip:dumps/1.txt"
    data: bytes
    member: bool = False  # from inside an archive (a member that is no dump is skipped)


@dataclass
class Inputs:
    items: list[Input] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # truncated streams, skipped members


def parse_size(text: str) -> int:
    """'256M', '1G', '512MiB', '1000000' -> bytes (K/M/G/T are powers of 1024)."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 512M, 2G)")
    n = float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " ")
    if n < 1:
        raise ValueError(f"not a size: {text!r} (e.g. 512M, 2G)")
    return int(n)


def human(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{n} bytes"


class _Budget:
    """The dump text left to read in this run, over all inputs and members."""

    def __init__(self, max_bytes: int) -> None:
        self.max = self.left = max_bytes

    def exceeded(self, name: str) -> InputError:
        return InputError(f"{name}: more than {human(self.max)} to read (after "
                          "decompression); --max-size raises the bound")


class _Source(io.RawIOBase):
    """An input's raw bytes: the sniffed head again, then the rest, at most `limit`."""

    def __init__(self, head: bytes, rest: Readable, limit: int, name: str) -> None:
        self._head, self._rest, self._name = head, rest, name
        self._left = self._limit = limit

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
            return data
        data = self._rest.read(min(n, self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise InputError(f"{self._name}: more than {human(self._limit)} of input; "
                             "--max-size raises the bound")
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _read_head(f: Readable, n: int = HEAD) -> bytes:
    """Up to n bytes: a pipe may hand them over in several reads."""
    parts, got = [], 0
    while got < n:
        b = f.read(n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


class _Collect:
    """Keeps what was read, for when the next read fails."""

    def __init__(self, f: Readable, into: list[bytes]) -> None:
        self._f, self._into = f, into

    def read(self, n: int = -1, /) -> bytes:
        data = self._f.read(n)
        self._into.append(data)
        return data


def looks_binary(head: bytes) -> bool:
    """NULs (more than the stray few a JVM's stdout file can hold), or more than 5% of
    invalid UTF-8 and control characters: no dump format looks like that."""
    if head[:1] in (b"\x01", b"\x02") and head[1:4] == b"\x00\x00\x00":
        head = _docker_payload(head)  # a docker log stream: its frame headers hold NULs
    if not head:
        return False
    if head.count(0) > len(head) // 100:
        return True
    text = head.decode("utf-8", "replace")
    bad = text.count("\ufffd") - (1 if text.endswith("\ufffd") else 0)  # a cut last char
    return bad + len(_CONTROL.findall(head)) > len(head) // 20


def _docker_payload(head: bytes) -> bytes:
    out, i = [], 0
    while i + 8 <= len(head) and head[i] in (1, 2) and head[i + 1 : i + 4] == b"\0\0\0":
        size = int.from_bytes(head[i + 4 : i + 8], "big")
        out.append(head[i + 8 : i + 8 + size])
        i += 8 + size
    return b"".join(out)


def _kind(head: bytes) -> str:
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_ZSTD):
        return "zstd"
    if head.startswith(_BZ2) and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(_XZ):
        return "xz"
    if head.startswith(_ZIP):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # `jstack PID > dump.txt` in PowerShell
    return "text"


class _Decompressed:
    """A compressed input's text, decompressed in bounded steps (a bomb expands a step at
    a time, never all at once). Members one after another (`cat a.gz b.gz`, pbzip2,
    several zstd frames) are one text. A cut stream hands out everything before the cut,
    then raises EOFError (the gzip/bz2/lzma file classes lose the last block instead)."""

    def __init__(self, kind: str, raw: Readable) -> None:
        self._kind, self._raw = kind, raw
        self._d: Any = self._new()
        self._in = b""
        self._out, self._pos = b"", 0

    def _new(self) -> Any:
        if self._kind == "gzip":
            import zlib

            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._kind == "bzip2":
            import bz2

            return bz2.BZ2Decompressor()
        if self._kind == "xz":
            import lzma

            return lzma.LZMADecompressor()
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj()

    def read(self, n: int = -1, /) -> bytes:
        n = CHUNK if n < 0 else n
        idle = 0
        while self._pos >= len(self._out):  # bounded: steps consume input, input is bounded
            left = len(self._in)
            if not self._step():
                return b""
            idle = 0 if self._out or self._d.eof or len(self._in) != left else idle + 1
            if idle > 1000:
                raise ValueError("the decompressor makes no progress")
        data = self._out[self._pos : self._pos + n]
        self._pos += len(data)
        return data

    def _step(self) -> bool:
        """Decompress one bounded step into self._out; False at a clean end."""
        d = self._d
        if d.eof:  # a member ended; another may follow (gzip may be NUL-padded)
            self._in = (d.unused_data + self._in).lstrip(b"\0")
            if not self._in:
                self._in = self._raw.read(CHUNK).lstrip(b"\0")
                if not self._in:
                    return False
            d = self._d = self._new()
        hungry = not self._in if self._kind in ("gzip", "zstd") else d.needs_input
        if hungry and not self._in:
            self._in = self._raw.read(CHUNK)
            if not self._in:
                raise EOFError(f"the {self._kind} data ends before its end marker")
        if self._kind == "gzip":
            self._out = d.decompress(self._in, CHUNK)
            self._in = b"" if d.eof else d.unconsumed_tail  # at the end: in unused_data
        elif self._kind == "zstd":
            # no output bound in zstandard's decompressobj: 1 KiB of input makes at
            # most 32 MiB (a 4-byte block expands to 128 KiB)
            self._out = d.decompress(self._in[:1024])
            self._in = self._in[1024:]
        else:
            self._out = d.decompress(self._in, CHUNK)
            self._in = b""
        self._pos = 0
        return True


def _decode_errors() -> tuple[type[BaseException], ...]:
    """What a decompressor raises on corrupt or cut input (EOFError: cut)."""
    errors: list[type[BaseException]] = [EOFError, OSError, ValueError]
    for mod, name in (("zlib", "error"), ("lzma", "LZMAError"), ("zstandard", "ZstdError")):
        if mod in sys.modules:
            errors.append(getattr(sys.modules[mod], name))
    return tuple(errors)


class Reader:
    def __init__(self, max_bytes: int = DEFAULT_MAX) -> None:
        self.budget = _Budget(max_bytes)
        self.out = Inputs()

    def read_file(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                self.read_stream(path, f)
        except OSError as e:  # open() and reading; not the decompressors' (caught below)
            raise InputError(f"cannot read {path}: {e.strerror or e}") from None

    def read_stream(self, name: str, f: Readable) -> None:
        """One input given by the user: a file, or stdin (not closed here)."""
        self._source(name, _read_head(f), f, depth=0, member=False)

    def _source(self, name: str, head: bytes, rest: Readable, depth: int,
                member: bool) -> None:
        kind = _kind(head)
        raw = _Source(head, rest, self.budget.max, name)
        if kind in ("gzip", "zstd", "bzip2", "xz"):
            if depth >= MAX_DEPTH:
                raise InputError(f"{name}: compressed more than {MAX_DEPTH} levels deep")
            dec: Readable = _Decompressed(kind, raw)
            parts: list[bytes] = []
            try:
                _read_head(_Collect(dec, parts))
            except _decode_errors() as e:
                if not parts:
                    raise InputError(f"{name}: not readable as {kind}: {e}") from None
                self._cut(name, sum(map(len, parts)), e)
                dec = io.BytesIO()  # nothing after the damage
            self._source(name, b"".join(parts), dec, depth + 1, member)
        elif kind == "zip":
            self._zip(name, raw, depth, member)
        elif kind == "tar":
            self._tar(name, raw, depth)
        else:
            if looks_binary(head) and kind != "utf-16":
                raise BinaryInput(f"{name}: not a dump: binary input")
            data = self._text(name, raw)
            if kind == "utf-16":
                data = data.decode("utf-16", "replace").encode()
            self.out.items.append(Input(name, data, member))

    def _text(self, name: str, stream: Readable) -> bytes:
        """All of it, within the budget; a cut or corrupt compressed stream keeps what
        came before the damage (dumps are often cut; the parsers expect it)."""
        buf = io.BytesIO()  # getvalue() hands its buffer over: no second copy
        b = self.budget
        try:
            while chunk := stream.read(min(CHUNK, b.left + 1)):
                if len(chunk) > b.left:
                    raise b.exceeded(name)
                b.left -= len(chunk)
                buf.write(chunk)
        except InputError:
            raise
        except _decode_errors() as e:
            self._cut(name, buf.tell(), e)
        return buf.getvalue()

    def _cut(self, name: str, good: int, e: BaseException) -> None:
        self.out.notes.append(f"{name}: the compressed data is cut or damaged after "
                              f"{human(good)}; analyzing what came before ({e})")

    def _member(self, name: str, f: Readable, depth: int) -> None:
        """One archive member: dumps are kept, anything binary is skipped."""
        head = b""
        try:
            head = _read_head(f)
            self._source(name, head, f, depth + 1, member=True)
        except BinaryInput:
            self.out.notes.append(f"{name}: skipped (binary)")
            # the head looked at counts too: thousands of binary members end at the bound
            self.budget.left -= len(head)
            if self.budget.left < 0:
                raise self.budget.exceeded(name) from None
        except (InputError, RecursionError):
            raise
        except _decode_errors() as e:
            raise InputError(f"{name}: not readable: {e}") from None

    def _zip(self, name: str, raw: _Source, depth: int, member: bool) -> None:
        import zipfile

        # zipfile needs to seek: the archive itself (at most the bound) is held in memory
        data = io.BytesIO(raw.read())
        try:
            zf = zipfile.ZipFile(data)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise InputError(f"{name}: not readable as zip: {e}") from None
        with zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            self._check_count(name, len(infos))
            for info in sorted(infos, key=lambda i: i.filename):
                label = f"{name}:{info.filename}"
                if info.flag_bits & 0x1:
                    self.out.notes.append(f"{label}: skipped (encrypted)")
                    continue
                try:
                    f = zf.open(info)
                except (zipfile.BadZipFile, NotImplementedError, OSError) as e:
                    raise InputError(f"{label}: not readable: {e}") from None
                with f:
                    self._member(label, f, depth)

    def _tar(self, name: str, raw: _Source, depth: int) -> None:
        import tarfile

        # stream mode: members one after another, nothing seeks, nothing is written
        start = len(self.out.items)
        try:
            with tarfile.open(fileobj=raw, mode="r|") as tf:
                for n, m in enumerate(tf, 1):
                    self._check_count(name, n)
                    f = tf.extractfile(m) if m.isfile() else None
                    if f is not None:
                        self._member(f"{name}:{m.name}", f, depth)
        except tarfile.TarError as e:
            raise InputError(f"{name}: not readable as tar: {e}") from None
        # a stream comes in the archive's order (often readdir's): dumps go by name
        self.out.items[start:] = sorted(self.out.items[start:], key=lambda i: i.name)

    @staticmethod
    def _check_count(name: str, n: int) -> None:
        if n > MAX_MEMBERS:
            raise InputError(f"{name}: more than {MAX_MEMBERS} archive members")


def read_inputs(names: list[str], max_bytes: int = DEFAULT_MAX,
                stdin: Readable | None = None) -> Inputs:
    """Read every input ("-" is stdin) within one bound; raises InputError."""
    r = Reader(max_bytes)
    for name in names:
        if name == "-":
            r.read_stream("stdin", stdin if stdin is not None else sys.stdin.buffer)
        else:
            r.read_file(name)
    return r.out
