"""Host-key policy: the one place that decides how a target's host key is checked.

`host_key_policy()` reads the target's known_hosts file strictly, line by line,
and returns the keys that apply to the host (trusted, CA, revoked, each with
its line), or raises HostKeyError. There is no third outcome: no path, a
missing or unreadable file, or one line that cannot be parsed is a refusal,
never "no check" (asyncssh itself skips lines it cannot parse and treats an
empty path as "check nothing").

Decisions (README, "Security"):
- trust on first use needs an existing file (an empty one is fine): a missing
  file may be a lost or unmounted one, and re-trusting every host then would
  accept changed keys;
- a host that a `@cert-authority` line covers must present a certificate from
  that CA: its plain key is refused, trust on first use or not;
- a `@revoked` key is refused, and a changed key is refused, whatever the
  trust setting.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from asyncssh.public_key import get_default_certificate_algs, get_default_public_key_algs

from collectors.transport.base import TransportError
from collectors.transport.target import SSHTarget

MARKERS = ("cert-authority", "revoked")
# a known_hosts file larger than this is not one (and would be parsed per connect)
MAX_FILE_BYTES = 16 * 1024 * 1024


class HostKeyError(TransportError):
    """Unknown, changed or revoked host key, or no usable known_hosts file:
    never connected, never trusted silently."""


class KnownHostsFileError(ValueError):
    """The file cannot be used; the message names the file and the line."""


# stands for a line's key where asyncssh only matches the line's host patterns
_PATTERN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
_PATTERN_CHARS = "*?|/!"  # as asyncssh: a name with none of these is matched exactly


@dataclass(frozen=True)
class Entry:
    line: int
    marker: str | None  # None, "cert-authority" or "revoked"
    names: tuple[str, ...]  # exact names; empty when `pattern` is set
    pattern: asyncssh.SSHKnownHosts | None  # wildcards, negations, hashed |1|... names
    key: asyncssh.SSHKey


@dataclass(frozen=True)
class KnownHostsFile:
    entries: list[Entry]
    exact: dict[str, list[Entry]]

    def matching(self, host: str) -> list[Entry]:
        """The entries for `host` ("name" or "[name]:port"), in file order."""
        hits = list(self.exact.get(host, []))
        hits += [e for e in self.entries
                 if e.pattern is not None and e.pattern.match(host, "", None)[0]]
        return sorted(hits, key=lambda e: e.line)


def fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def _parse_line(path: str, n: int, raw: bytes) -> Entry | None:
    try:
        line = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise KnownHostsFileError(f"{path} line {n}: not UTF-8 text") from None
    if not line or line.startswith("#"):
        return None
    fields = line.split(None, 2) if line.startswith("@") else ["", *line.split(None, 1)]
    if len(fields) < 3:
        raise KnownHostsFileError(f"{path} line {n}: not 'HOSTS KEYTYPE KEY' ({line[:60]!r})")
    mark, pattern, data = fields
    marker = mark[1:] or None
    if mark:
        if marker not in MARKERS:
            raise KnownHostsFileError(
                f"{path} line {n}: unknown marker {mark[:30]} "
                "(only @cert-authority and @revoked)")
    try:
        # asyncssh skips a key it cannot read: here that is an error of the file
        key = asyncssh.import_public_key(data)
    except (asyncssh.KeyImportError, ValueError) as e:
        raise KnownHostsFileError(f"{path} line {n}: the key cannot be read ({e})") from None
    if not any(c in pattern for c in _PATTERN_CHARS):
        return Entry(n, marker, tuple(pattern.split(",")), None, key)
    try:  # asyncssh's own pattern matching (a placeholder key: parsed once is enough)
        hosts = asyncssh.import_known_hosts(f"{pattern} {_PATTERN_KEY}")
    except ValueError as e:
        raise KnownHostsFileError(f"{path} line {n}: {e}") from None
    return Entry(n, marker, (), hosts, key)


_cache: dict[str, tuple[tuple[int, ...], KnownHostsFile]] = {}
_cache_lock = threading.Lock()


def read_known_hosts(path: str) -> KnownHostsFile:
    """Every entry of the file, strictly (blocking: call from a thread); parsed
    again only when the file changes. Raises OSError (missing, unreadable) or
    KnownHostsFileError."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with _cache_lock:
            hit = _cache.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise KnownHostsFileError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB")
    entries = [e for n, raw in enumerate(data.splitlines(), 1)
               if (e := _parse_line(path, n, raw)) is not None]
    exact: dict[str, list[Entry]] = {}
    for e in entries:
        for name in e.names:
            exact.setdefault(name, []).append(e)
    parsed = KnownHostsFile(entries, exact)
    with _cache_lock:
        _cache[path] = (stamp, parsed)
    return parsed


def lookup_name(address: str, port: int) -> str:
    """The name known_hosts files use for this address and port."""
    return address if port == 22 else f"[{address}]:{port}"


@dataclass
class HostKeyPolicy:
    """The keys of one known_hosts file that apply to one target."""

    name: str
    address: str
    port: int
    path: str
    trust_on_first_use: bool
    trusted: list[Entry] = field(default_factory=list)
    cas: list[Entry] = field(default_factory=list)
    revoked: list[Entry] = field(default_factory=list)

    @property
    def first_use(self) -> bool:
        """No key or CA for the host yet, and trust on first use is on."""
        return self.trust_on_first_use and not self.trusted and not self.cas

    def may_trust(self, key: asyncssh.SSHKey) -> bool:
        """Called for a plain key asyncssh did not find among the trusted ones."""
        return self.first_use and all(key != e.key for e in self.revoked)

    def known_hosts_arg(self) -> tuple[list[asyncssh.SSHKey], ...]:
        """For asyncssh.connect(known_hosts=...): checked, never looked up again."""
        return ([e.key for e in self.trusted], [e.key for e in self.cas],
                [e.key for e in self.revoked])

    def host_key_algs(self) -> list[str]:
        """Known keys' algorithms first (so a host with several keys shows the one
        we know), then every other one, so a key of another type reads as
        "changed" rather than as a failed key exchange. Certificates only where a
        CA applies (else a host with a certificate could not be trusted on first
        use of its plain key)."""
        algs: list[bytes] = []
        if self.cas:
            algs += get_default_certificate_algs()
        for e in self.trusted:
            algs += e.key.sig_algorithms
        algs += get_default_public_key_algs()
        return list(dict.fromkeys(a.decode() for a in algs))

    # -- what the user reads (one line: what, host, file and line, fingerprints, what to do)
    def _lines(self, entries: list[Entry]) -> str:
        return ", ".join(f"line {e.line} ({fingerprint(e.key)})" for e in entries)

    def refused(self, reason: str, seen: asyncssh.SSHKey | None,
                ca_seen: asyncssh.SSHKey | None) -> HostKeyError:
        """The message for asyncssh's refusal `reason`."""
        who = f"{self.name}: host key of {self.address}"
        got = f"it presents {fingerprint(seen)}" if seen is not None else ""
        if "revoked" in reason:
            what = "its certificate's CA" if "CA key" in reason else "the key it presents"
            return HostKeyError(
                f"{who} REVOKED: {what} is marked @revoked in {self.path} "
                f"{self._lines(self.revoked)}; refusing to connect. The key is compromised "
                f"or retired: give the host a new key and verify it")
        if ca_seen is not None or "CA key is not trusted" in reason:
            ca = f" signed by CA {fingerprint(ca_seen)}" if ca_seen is not None else ""
            return HostKeyError(
                f"{who}: it presents a certificate{ca} that {self.path} does not trust; "
                f"refusing to connect. Add the CA as '@cert-authority {self.address} "
                f"<CA public key>' after verifying it")
        if seen is not None and self.trusted:
            return HostKeyError(
                f"{who} CHANGED: {got}, {self.path} expects "
                f"{self._lines(self.trusted)}; refusing to connect, trust on first use "
                f"or not. If the host was rebuilt, verify the new key and replace that "
                f"line; otherwise someone may be in the middle")
        if seen is not None and self.cas:
            return HostKeyError(
                f"{who}: {got} as a plain key, but {self.path} trusts only certificates "
                f"from the CA at {self._lines(self.cas)} for it; refusing to connect. "
                f"Give the host a certificate signed by that CA (sshd HostCertificate)")
        if seen is not None:
            return HostKeyError(
                f"{who} is not in {self.path} ({got}); refusing to connect. Verify the "
                f"fingerprint with the host's owner and add it (ssh-keyscan "
                f"{self.address}), or set trust_on_first_use for this host")
        if "certificate" in reason.lower() or "principal" in reason.lower():
            return HostKeyError(
                f"{who}: its certificate is not valid ({reason}); refusing to connect. "
                f"Re-sign the host key for the name {self.address}")
        return HostKeyError(f"{who} refused ({reason}); checked against {self.path}")


def host_key_policy(target: SSHTarget) -> HostKeyPolicy:
    """The policy for `target`, or HostKeyError. Blocking (reads the file):
    call it through asyncio.to_thread."""
    return _policy(target.name, target.address, target.port, target.known_hosts,
                   target.trust_on_first_use)


def _policy(name: str, addr: str, port: int, known_hosts: str | None,
            tofu: bool) -> HostKeyPolicy:
    path = (known_hosts or "").strip()
    if not path:
        raise HostKeyError(
            f"{name}: no known_hosts file configured, so the host key of {addr} cannot "
            f"be checked; refusing to connect. Set ssh.known_hosts (or known_hosts of "
            f"this host) to a file holding its verified key")
    try:
        known = read_known_hosts(path)
    except FileNotFoundError:
        hint = (f"create it empty (touch {path}) to trust on first use"
                if tofu else
                f"add the host's verified key to it (ssh-keyscan {addr}, then compare "
                f"fingerprints)")
        raise HostKeyError(
            f"{name}: no known_hosts file at {path}; refusing to connect to {addr} "
            f"unchecked. If it moved, fix the path; if it is new, {hint}") from None
    except OSError as e:
        raise HostKeyError(
            f"{name}: cannot read known_hosts file {path} ({e.strerror or e}); refusing "
            f"to connect to {addr} unchecked. Fix the path or the file's permissions"
        ) from None
    except KnownHostsFileError as e:
        raise HostKeyError(
            f"{name}: known_hosts file {e}; refusing to connect to {addr} until that "
            f"line is fixed or removed (an unreadable line could be this host's key)"
        ) from None
    policy = HostKeyPolicy(name, addr, port, path, tofu)

    found = known.matching(lookup_name(addr, port))
    revoked = [e for e in found if e.marker == "revoked"]
    if port != 22 and not any(e.marker != "revoked" for e in found):
        # as asyncssh and the lab do: [host]:port first, else the plain host name;
        # revocations of both apply
        found = known.matching(addr)
        revoked += [e for e in found if e.marker == "revoked" and e not in revoked]
    policy.trusted = [e for e in found if e.marker is None]
    policy.cas = [e for e in found if e.marker == "cert-authority"]
    policy.revoked = revoked
    return policy


_record_lock = threading.Lock()


def record_first_use(policy: HostKeyPolicy, key: asyncssh.SSHKey) -> None:
    """Append `key` for the host (blocking). The file is read again first: if a
    key for the host appeared meanwhile, only that very key is accepted."""
    line = f"{lookup_name(policy.address, policy.port)} " \
           f"{key.export_public_key('openssh').decode().strip()}\n"
    with _record_lock:
        now = _policy(policy.name, policy.address, policy.port, policy.path,
                      policy.trust_on_first_use)
        if any(e.key == key for e in now.trusted):
            return
        if any(e.key == key for e in now.revoked):
            raise now.refused("Host key is revoked", key, None)
        if now.trusted or now.cas:  # another key was recorded meanwhile
            raise now.refused("Host key is not trusted", key, None)
        with open(policy.path, "ab+") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # else our line would join the last one
                    f.write(b"\n")
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())


def expand_path(path: str | None) -> str:
    """`~` expanded; empty stays empty (and is refused at connect)."""
    return str(Path(path).expanduser()) if path and path.strip() else ""
