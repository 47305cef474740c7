"""Where a host's Go services listen, found from /proc alone (no `ss`, no fork).

Best effort and bounded:
1. candidates: the processes of the shared /proc scan with >= 3 threads (the Go
   runtime starts several at once), the most threaded first, at most 64;
2. Go or not: the first 8 KiB of /proc/<pid>/exe hold the ELF note
   `.note.go.buildid` (owner "Go") for binaries from the Go linker, cgo ones too;
   at most 16 Go processes go on;
3. their listeners: LISTEN rows of /proc/<pid>/net/tcp{,6} (the tables of the
   process's own network namespace, so a container's too), matched by socket inode
   with the lowest 256 descriptors of /proc/<pid>/fd (listeners open early);
4. the address to dial from the host: the listen address; a wildcard means
   127.0.0.1 in the host's namespace, or the namespace's own IPv4 (from
   /proc/<pid>/net/fib_trie) for a container; loopback inside a container is
   unreachable from the host and only noted.
A process that exits midway is skipped. Reading another user's /proc/<pid>/exe
and fd needs root (or that user): without it, those processes are skipped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from collectors.base import CollectContext
from collectors.procscan import shared_scan
from collectors.transport.base import HostSession, PathGone

MAX_CANDIDATES = 64
MAX_GO_PROCESSES = 16
FD_SCAN = 256
MAX_PORTS_PER_PROCESS = 4
EXE_HEAD = 8 * 1024
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(slots=True)
class Endpoint:
    host: str
    port: int
    prefix: str = "/debug/pprof"
    source: str = "label"  # or "discovered"
    pid: int | None = None
    process: str = ""

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def key(self) -> str:
        return f"{self.address}{self.prefix}"

    @property
    def slug(self) -> str:
        """For artifact names: `127.0.0.1_6060`, plus the path when not the default."""
        extra = "" if self.prefix == "/debug/pprof" else self.prefix
        return _SLUG.sub("_", self.address + extra).strip("_")

    @property
    def display(self) -> str:
        if self.pid:
            return f"{self.process or 'pid'} pid {self.pid} ({self.address})"
        return self.address


def parse_endpoint(text: str) -> Endpoint | None:
    """`host:port`, `[v6]:port`, optionally with a path to the pprof index
    (`10.0.0.5:8080/internal/debug/pprof`) and an `http://` scheme."""
    text = text.strip()
    if not text or any(c.isspace() for c in text):
        return None
    try:
        u = urlsplit(text if "://" in text else f"http://{text}")
        port = u.port
    except ValueError:
        return None
    if u.scheme != "http" or not u.hostname or not port or u.query or u.fragment:
        return None
    if not re.fullmatch(r"[A-Za-z0-9.:_-]+", u.hostname):
        return None
    prefix = u.path.rstrip("/") or "/debug/pprof"
    if prefix.endswith("/goroutine"):
        prefix = prefix[: -len("/goroutine")]
    return Endpoint(u.hostname, port, prefix)


# -- pure parsers of /proc ------------------------------------------------------------

def is_go_binary(head: bytes) -> bool:
    """The Go linker's build-id note: namesz=4, descsz, type=4, name "Go\\0\\0"."""
    if head[:4] != b"\x7fELF":
        return False
    i = head.find(b"Go\x00\x00")
    while i >= 12:
        if head[i - 12 : i - 8] == b"\x04\x00\x00\x00" and head[i - 4 : i] == b"\x04\x00\x00\x00":
            return True
        i = head.find(b"Go\x00\x00", i + 1)
    return False


def _hex_ip(h: str) -> str:
    raw = bytes.fromhex(h)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # /proc/net/tcp6: four 32-bit words, each in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    v6 = ipaddress.IPv6Address(words)
    return str(v6.ipv4_mapped) if v6.ipv4_mapped else str(v6)


def listeners(table: bytes | None) -> dict[int, tuple[str, int]]:
    """Socket inode -> (address, port) of the LISTEN rows of /proc/net/tcp{,6}."""
    out: dict[int, tuple[str, int]] = {}
    for line in (table or b"").decode("ascii", "replace").splitlines()[1:]:
        f = line.split()
        if len(f) < 10 or f[3] != "0A":
            continue
        try:
            addr, port = f[1].split(":")
            out[int(f[9])] = (_hex_ip(addr), int(port, 16))
        except ValueError:
            continue
    return out


def local_ipv4(fib_trie: bytes | None) -> list[str]:
    """The namespace's own addresses: `|-- 10.88.0.2` followed by `/32 host LOCAL`."""
    out: list[str] = []
    last = ""
    for line in (fib_trie or b"").decode("ascii", "replace").splitlines():
        s = line.strip()
        if s.startswith("|-- "):
            last = s[4:]
        elif s.startswith("/32 host LOCAL") and last and not last.startswith("127."):
            if last not in out:
                out.append(last)
    return out


def dial_address(listen: str, same_netns: bool, netns_ips: list[str]) -> str | None:
    """Where the host connects for a listener bound to `listen`, or None."""
    ip = ipaddress.ip_address(listen)
    if ip.is_loopback:
        return listen if same_netns else None
    if ip.is_unspecified:
        if same_netns:
            return "127.0.0.1"
        return netns_ips[0] if netns_ips else None
    return listen


# -- the scan -------------------------------------------------------------------------

async def _readlink(session: HostSession, path: str) -> str | None:
    try:
        return await session.readlink(path)
    except PathGone:
        return None


async def _socket_inodes(session: HostSession, pid: int) -> set[int]:
    try:
        fds = sorted(int(n) for n in await session.listdir(f"/proc/{pid}/fd") if n.isdigit())
    except PathGone:
        return set()
    links = await asyncio.gather(*(_readlink(session, f"/proc/{pid}/fd/{fd}")
                                   for fd in fds[:FD_SCAN]))
    return {int(link[8:-1]) for link in links
            if link and link.startswith("socket:[") and link[8:-1].isdigit()}


async def discover_endpoints(ctx: CollectContext) -> tuple[list[Endpoint], list[str]]:
    """Endpoints on Go processes' listeners, and notes on what was skipped and why."""
    s = ctx.session
    notes: list[str] = []
    table = await shared_scan(ctx)
    cands = [p for p in table.by_threads() if p.threads >= 3][:MAX_CANDIDATES]
    heads = await s.read_files([f"/proc/{p.pid}/exe" for p in cands], limit=EXE_HEAD)
    gos = [p for p in cands if is_go_binary(heads.get(f"/proc/{p.pid}/exe") or b"")]
    if not gos:
        notes.append(f"no Go process among the {len(cands)} most threaded processes"
                     + ("" if any(heads.values()) else " (executables not readable)"))
        return [], notes
    if len(gos) > MAX_GO_PROCESSES:
        notes.append(f"{len(gos)} Go processes, the {MAX_GO_PROCESSES} most threaded probed")
        gos = gos[:MAX_GO_PROCESSES]
    self_ns = await _readlink(s, "/proc/self/ns/net")
    netns = await asyncio.gather(*(_readlink(s, f"/proc/{p.pid}/ns/net") for p in gos))
    # one read of the tables per network namespace, through any of its processes
    first_pid: dict[str, int] = {}
    for p, ns in zip(gos, netns, strict=True):
        if ns:
            first_pid.setdefault(ns, p.pid)
    files = await s.read_files([f"/proc/{pid}/net/{leaf}" for pid in first_pid.values()
                                for leaf in ("tcp", "tcp6", "fib_trie")], limit=8 * 1024 * 1024)
    inodes = await asyncio.gather(*(_socket_inodes(s, p.pid) for p in gos))
    found: list[Endpoint] = []
    for p, ns, mine in zip(gos, netns, inodes, strict=True):
        if not ns:
            continue  # exited, or not ours to read
        pid0 = first_pid[ns]
        listen = listeners(files.get(f"/proc/{pid0}/net/tcp"))
        listen |= listeners(files.get(f"/proc/{pid0}/net/tcp6"))
        ips = local_ipv4(files.get(f"/proc/{pid0}/net/fib_trie"))
        ports = sorted({listen[i] for i in mine if i in listen}, key=lambda a: a[1])
        for addr, port in ports[:MAX_PORTS_PER_PROCESS]:
            host = dial_address(addr, ns == self_ns, ips)
            if host is None:
                notes.append(f"{p.name} pid {p.pid} listens on {addr}:{port} inside its own "
                             f"network namespace: unreachable from the host")
                continue
            ep = Endpoint(host, port, source="discovered", pid=p.pid, process=p.name)
            found.append(ep)
        if len(ports) > MAX_PORTS_PER_PROCESS:
            notes.append(f"{p.name} pid {p.pid}: {len(ports)} listening ports, the lowest "
                         f"{MAX_PORTS_PER_PROCESS} probed")
    notes.append(f"{len(gos)} Go process(es), {len(found)} listener(s) to probe")
    return found, notes
