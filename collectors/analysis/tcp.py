"""/proc/net/tcp{,6} parsing: state counts, TIME_WAIT by remote, queues.

60 000 sockets is ~9 MB of text; one split per line, no regex."""

from __future__ import annotations

from collections import Counter

from collectors.analysis.hostmodels import Endpoint, NetworkSummary

STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING", "0C": "NEW_SYN_RECV",
}
QUEUE_BYTES = 1 << 20  # a socket queue this full means a stuck reader or writer


def _addr(hexaddr: str) -> tuple[str, int]:
    ip_hex, _, port_hex = hexaddr.partition(":")
    port = int(port_hex, 16)
    if len(ip_hex) == 8:
        b = bytes.fromhex(ip_hex)[::-1]
        return ".".join(str(x) for x in b), port
    # IPv6: four little-endian 32-bit words
    words = [bytes.fromhex(ip_hex[i:i + 8])[::-1] for i in range(0, 32, 8)]
    raw = b"".join(words)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":  # v4-mapped
        return ".".join(str(x) for x in raw[12:]), port
    groups = [raw[i:i + 2].hex().lstrip("0") or "0" for i in range(0, 16, 2)]
    return "[" + ":".join(groups) + "]", port


def parse_tcp_tables(
    tables: list[bytes], port_range: tuple[int, int] | None, top: int = 10
) -> NetworkSummary:
    states: Counter[str] = Counter()
    tw_remote: Counter[str] = Counter()
    est_remote: Counter[str] = Counter()
    queued: list[Endpoint] = []
    listeners: list[str] = []
    tw_eph = 0
    lo, hi = port_range or (1, 0)
    for raw in tables:
        lines = raw.decode("ascii", "replace").splitlines()
        for line in lines[1:]:
            f = line.split()
            if len(f) < 5:
                continue
            st = STATES.get(f[3], f[3])
            states[st] += 1
            if st == "TIME_WAIT":
                rip, rport = _addr(f[2])
                tw_remote[f"{rip}:{rport}"] += 1
                _, lport = _addr(f[1])
                if lo <= lport <= hi:
                    tw_eph += 1
            elif st == "ESTABLISHED":
                rip, rport = _addr(f[2])
                est_remote[f"{rip}:{rport}"] += 1
                tx, _, rx = f[4].partition(":")
                q = max(int(tx, 16), int(rx or "0", 16))
                if q >= QUEUE_BYTES:
                    lip, lport = _addr(f[1])
                    queued.append(Endpoint(endpoint=f"{lip}:{lport} -> {rip}:{rport}", count=q))
            elif st == "LISTEN":
                lip, lport = _addr(f[1])
                listeners.append(f"{lip}:{lport}")
    return NetworkSummary(
        states=dict(states),
        total=sum(states.values()),
        time_wait=states.get("TIME_WAIT", 0),
        time_wait_ephemeral=tw_eph,
        port_range=port_range,
        top_time_wait_remotes=[
            Endpoint(endpoint=e, count=c) for e, c in tw_remote.most_common(top)
        ],
        top_established_remotes=[
            Endpoint(endpoint=e, count=c) for e, c in est_remote.most_common(top)
        ],
        listeners=sorted(set(listeners)),
        queued=sorted(queued, key=lambda e: -e.count)[:top],
    )


def parse_port_range(raw: bytes | None) -> tuple[int, int] | None:
    if raw is None:
        return None
    try:
        a, b = raw.split()[:2]
        return int(a), int(b)
    except ValueError:
        return None


def parse_sockstat(raw: bytes | None) -> dict[str, int]:
    """`TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1` -> {'tcp_inuse': 5, ...}."""
    out: dict[str, int] = {}
    if raw is None:
        return out
    for line in raw.decode("ascii", "replace").splitlines():
        proto, _, rest = line.partition(":")
        f = rest.split()
        for k, v in zip(f[::2], f[1::2], strict=False):
            if v.isdigit():
                out[f"{proto.lower()}_{k}"] = int(v)
    return out
