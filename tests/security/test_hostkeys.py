"""Host keys, against real sshd lab hosts: no configuration short of none at all
lets a key through unchecked, and what the user reads says what, where and what to do.

The matrix: {known, unknown, changed, revoked, cert-authority} x {trust on first
use off, on} x {file ok, empty path, missing, unreadable, one bad line}, each
cell through the same path a capture takes (config file -> inventory -> session
pool -> SSH), asserting connect-or-refuse, the message, that sshd saw a login
only where we connected, and what became of the known_hosts file.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
from typer.testing import CliRunner

from bot.config import ConfigError, load_settings
from bot.inventory import Inventory
from bot.watch.sessions import SessionPool
from collectors.transport.hostkeys import HostKeyError, HostKeyPolicy, host_key_policy
from collectors.transport.ssh import SSHSession, SSHTarget
from tests.integration.helpers import write_config
from tests.lab.hosts import Lab, TestHost

pytestmark = pytest.mark.root

KINDS = ["known", "unknown", "changed", "revoked", "cert-authority"]
FILES = ["file-ok", "empty-path", "missing", "unreadable", "bad-line"]
BAD_LINE = "@trusted * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def fp(pub: str) -> str:
    return asyncssh.import_public_key(pub).get_fingerprint()


def new_pub() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


@dataclass
class Hosts:
    plain: TestHost
    cert: TestHost  # serves its plain key and a certificate signed by `ca_pub`
    ca_key: Path
    ca_pub: str


@pytest.fixture(scope="module")
def hosts(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    plain, cert = lab.add_host("hk-plain"), lab.add_host("hk-cert")
    try:
        ca = tmp_path_factory.mktemp("ca") / "host_ca"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-host-ca",
                        "-f", str(ca)], check=True, timeout=20)
        cert.use_host_certificate(ca)
        yield Hosts(plain, cert, ca, " ".join(ca.with_suffix(".pub").read_text().split()[:2]))
    finally:
        lab.remove_host(plain)
        lab.remove_host(cert)


def logins(h: TestHost) -> int:
    return h.sshd_log.read_text(errors="replace").count("Accepted publickey for")


def settings_for(tmp_path: Path, h: TestHost, known_hosts: str, tofu: bool) -> Path:
    """A config file with `h`, its known_hosts and trust_on_first_use set."""
    return write_config(tmp_path / "hostsnap.toml", [h], db_url=f"sqlite:///{tmp_path}/x.db",
                        known_hosts=f'"{known_hosts}"',
                        trust_on_first_use="true" if tofu else "false")


async def connect(tmp_path: Path, h: TestHost, known_hosts: str, tofu: bool,
                  ) -> SSHSession | HostKeyError:
    """What a capture does: config file -> inventory -> session pool -> SSH."""
    if known_hosts == "":
        # the config refuses an empty path; below it, the transport refuses too
        with pytest.raises(ConfigError, match=r"known_hosts is empty: host keys would go "
                                              r"unchecked"):
            load_settings(settings_for(tmp_path, h, "", tofu))
        settings = load_settings(settings_for(tmp_path, h, str(tmp_path / "kh"), tofu))
        settings.hosts[0].known_hosts = ""
    else:
        settings = load_settings(settings_for(tmp_path, h, known_hosts, tofu))
    inv = Inventory(settings)
    try:
        s = await SessionPool(inv).open(inv.resolve([h.name])[0])
    except HostKeyError as e:
        return e
    assert isinstance(s, SSHSession)
    return s


@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize("tofu", [False, True], ids=["tofu-off", "tofu-on"])
@pytest.mark.parametrize("kind", KINDS)
async def test_host_key_matrix(hosts: Hosts, tmp_path: Path, kind: str, tofu: bool,
                               file: str) -> None:
    h = hosts.cert if kind == "cert-authority" else hosts.plain
    old = new_pub()
    content = {
        "known": f"{h.address} {h.host_key_pub}\n",
        "unknown": f"10.213.0.250 {new_pub()}\n",  # another host only
        "changed": f"{h.address} {old}\n",  # the host had another key
        "revoked": f"@revoked {h.address} {h.host_key_pub}\n",
        "cert-authority": f"@cert-authority {h.address} {hosts.ca_pub}\n",
    }[kind]
    kh = tmp_path / "known_hosts"
    path = str(kh)
    if file == "file-ok":
        kh.write_text(content)
    elif file == "empty-path":
        path = ""
    elif file == "unreadable":
        kh.mkdir()  # root reads any file: a directory is what root cannot read
    elif file == "bad-line":
        kh.write_text(BAD_LINE + "\n" + content)
    before = kh.read_bytes() if kh.is_file() else None
    seen_logins = logins(h)

    got = await connect(tmp_path, h, path, tofu)

    accepted = file == "file-ok" and (
        kind in ("known", "cert-authority") or (kind == "unknown" and tofu))
    if not accepted:
        assert isinstance(got, HostKeyError), f"connected: {kind}, tofu={tofu}, {file}"
        msg = str(got)
        assert "\n" not in msg and msg.startswith(f"{h.name}: ")
        assert "refusing to connect" in msg
        assert logins(h) == seen_logins  # never logged in
        # a refused key is never written down, and no file is created
        assert (kh.read_bytes() if kh.is_file() else None) == before
        assert kh.is_dir() == (file == "unreadable")
        expected = {
            "empty-path": f"{h.name}: no known_hosts file configured, so the host key of "
                          f"{h.address} cannot be checked",
            "missing": f"no known_hosts file at {kh}; refusing to connect to {h.address} "
                       f"unchecked",
            "unreadable": f"cannot read known_hosts file {kh} (Is a directory)",
            "bad-line": f"known_hosts file {kh} line 1: unknown marker @trusted",
        }.get(file)
        if expected is not None:
            assert expected in msg
            if file == "missing":
                assert ("touch" in msg) == tofu
        elif kind == "unknown":
            assert f"host key of {h.address} is not in {kh} (it presents " \
                   f"{fp(h.host_key_pub)})" in msg
            assert "trust_on_first_use" in msg
        elif kind == "changed":
            assert f"host key of {h.address} CHANGED: it presents {fp(h.host_key_pub)}, " \
                   f"{kh} expects line 1 ({fp(old)})" in msg
        elif kind == "revoked":
            assert f"host key of {h.address} REVOKED: the key it presents is marked " \
                   f"@revoked in {kh} line 1 ({fp(h.host_key_pub)})" in msg
        else:
            raise AssertionError(f"unexpected refusal: {msg}")
        return

    assert isinstance(got, SSHSession), f"refused: {got}"
    try:
        assert logins(h) == seen_logins + 1
        assert await got.read_file("/proc/self/stat")
        if kind == "unknown":  # first use: recorded, and known from now on
            assert before is not None and got.recorded_host_key == fp(h.host_key_pub)
            assert kh.read_text() == before.decode() + f"{h.address} {h.host_key_pub}\n"
        else:
            assert got.recorded_host_key is None
            assert kh.read_bytes() == before
    finally:
        await got.close()
    if kind == "unknown":
        again = await connect(tmp_path, h, path, tofu=False)
        assert isinstance(again, SSHSession), again
        assert again.recorded_host_key is None
        await again.close()


# -- beyond the matrix ------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    pytest.param("this is not a known_hosts line", id="garbage"),
    pytest.param("{addr} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", id="truncated-key"),
    pytest.param("{addr} ssh-foo AAAAB3NzaC1yc2EAAAADAQABAAABAQ", id="unknown-key-type"),
    pytest.param("|1|notbase64|alsonot {pub}", id="bad-hashed-name"),
    pytest.param("@cert-authority", id="marker-alone"),
    pytest.param("{addr}", id="no-key"),
    pytest.param("{addr} ssh-ed25519 \xff", id="not-utf8"),
])
async def test_one_bad_line_refuses_even_a_changed_key_under_tofu(
        hosts: Hosts, tmp_path: Path, bad: str) -> None:
    """asyncssh reads such a file as empty (or skips the line): with trust on first
    use, the changed key was accepted and appended."""
    h = hosts.plain
    kh = tmp_path / "known_hosts"
    old = new_pub()
    kh.write_bytes((f"{h.address} {old}\n# a comment\n\n"
                    + bad.format(addr=h.address, pub=old) + "\n").encode("latin-1"))
    before = kh.read_bytes()
    got = await connect(tmp_path, h, str(kh), tofu=True)
    assert isinstance(got, HostKeyError), "a changed key was accepted"
    assert f"known_hosts file {kh} line 4: " in str(got)
    assert "until that line is fixed or removed" in str(got)
    assert kh.read_bytes() == before


async def test_hashed_host_names_work(hosts: Hosts, tmp_path: Path) -> None:
    h = hosts.plain
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{h.address} {h.host_key_pub}\n10.213.0.251 {new_pub()}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(kh)], check=True, timeout=20,
                   capture_output=True)
    assert h.address not in kh.read_text() and kh.read_text().startswith("|1|")
    got = await connect(tmp_path, h, str(kh), tofu=False)
    assert isinstance(got, SSHSession), got
    await got.close()
    # and a hashed entry with another key for the host is a changed key
    kh.write_text(f"{h.address} {new_pub()}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(kh)], check=True, timeout=20,
                   capture_output=True)
    got = await connect(tmp_path, h, str(kh), tofu=True)
    assert isinstance(got, HostKeyError) and "CHANGED" in str(got) and "line 1" in str(got)


async def test_revoked_wins_over_a_trusted_line(hosts: Hosts, tmp_path: Path) -> None:
    h = hosts.plain
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{h.address} {h.host_key_pub}\n@revoked * {h.host_key_pub}\n")
    for tofu in (False, True):
        got = await connect(tmp_path, h, str(kh), tofu)
        assert isinstance(got, HostKeyError)
        assert "REVOKED" in str(got) and f"{kh} line 2" in str(got)


@pytest.mark.parametrize("tofu", [False, True], ids=["tofu-off", "tofu-on"])
async def test_plain_key_where_only_a_ca_is_trusted_is_refused(
        hosts: Hosts, tmp_path: Path, tofu: bool) -> None:
    """A host covered by @cert-authority must show a certificate: its plain key is
    refused (and not recorded) even with trust on first use."""
    h = hosts.plain
    kh = tmp_path / "known_hosts"
    kh.write_text(f"@cert-authority {h.address} {hosts.ca_pub}\n")
    got = await connect(tmp_path, h, str(kh), tofu)
    assert isinstance(got, HostKeyError), got
    assert f"it presents {fp(h.host_key_pub)} as a plain key, but {kh} trusts only " \
           f"certificates from the CA at line 1 ({fp(hosts.ca_pub)})" in str(got)
    assert kh.read_text() == f"@cert-authority {h.address} {hosts.ca_pub}\n"


async def test_certificate_from_another_ca_is_refused(hosts: Hosts, tmp_path: Path) -> None:
    h = hosts.cert
    other_ca = new_pub()
    kh = tmp_path / "known_hosts"
    kh.write_text(f"@cert-authority {h.address} {other_ca}\n")
    got = await connect(tmp_path, h, str(kh), tofu=True)
    assert isinstance(got, HostKeyError), got
    assert f"it presents a certificate signed by CA {fp(hosts.ca_pub)} that {kh} does " \
           f"not trust" in str(got)


async def test_first_use_after_a_last_line_without_newline(hosts: Hosts,
                                                            tmp_path: Path) -> None:
    """The recorded key goes on a line of its own (else it would join the last
    line and make the file unparseable)."""
    h = hosts.plain
    kh = tmp_path / "known_hosts"
    other = f"10.213.0.250 {new_pub()}"
    kh.write_text(other)
    got = await connect(tmp_path, h, str(kh), tofu=True)
    assert isinstance(got, SSHSession), got
    await got.close()
    assert kh.read_text() == f"{other}\n{h.address} {h.host_key_pub}\n"


async def test_a_jump_host_key_is_checked_too(hosts: Hosts, tmp_path: Path) -> None:
    jump, target = hosts.cert, hosts.plain
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{target.address} {target.host_key_pub}\n{jump.address} {new_pub()}\n")
    cfg = write_config(tmp_path / "c.toml", [jump, target], db_url="sqlite:///x.db",
                       known_hosts=f'"{kh}"', trust_on_first_use="true")
    inv = Inventory(load_settings(cfg))
    inv.hosts[target.name].entry.jump = jump.name  # type: ignore[union-attr]
    with pytest.raises(HostKeyError, match=rf"^{jump.name}: host key of {jump.address} "
                                           r"CHANGED"):
        await SessionPool(inv).open(inv.resolve([target.name])[0])
    inv.hosts[jump.name].entry.known_hosts = ""  # type: ignore[union-attr]
    with pytest.raises(HostKeyError, match=rf"^{jump.name}: no known_hosts file configured"):
        await SessionPool(inv).open(inv.resolve([target.name])[0])


async def test_a_warm_session_never_trusts_a_changed_key(hosts: Hosts,
                                                         tmp_path: Path) -> None:
    h = hosts.plain
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{h.address} {new_pub()}\n")
    inv = Inventory(load_settings(settings_for(tmp_path, h, str(kh), tofu=True)))
    pool = SessionPool(inv)
    try:
        ws = pool.warm(inv.resolve([h.name])[0])
        for _ in range(100):  # bounded: 5 s
            if ws.last_error:
                break
            await asyncio.sleep(0.05)
        assert ws.session is None and ws.last_error and "CHANGED" in ws.last_error
    finally:
        await pool.close()


def test_empty_known_hosts_in_the_config_file_and_the_environment(
        hosts: Hosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import app

    h = hosts.plain
    cfg = write_config(tmp_path / "c.toml", [h], db_url=f"sqlite:///{tmp_path}/x.db",
                       ssh_extra='known_hosts = ""', known_hosts=f'"{h.known_hosts_file}"')
    with pytest.raises(ConfigError, match=r"c.toml line \d+: ssh.known_hosts: known_hosts "
                                          r"is empty: host keys would go unchecked"):
        load_settings(cfg)
    r = CliRunner().invoke(app, ["snapshot", h.name, "--config", str(cfg)])
    assert r.exit_code == 2 and "known_hosts is empty" in r.output, r.output

    cfg = write_config(tmp_path / "c.toml", [h], db_url=f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("HOSTSNAP_SSH__KNOWN_HOSTS", "")
    with pytest.raises(ConfigError, match=r"ssh.known_hosts: known_hosts is empty"):
        load_settings(cfg)
    r = CliRunner().invoke(app, ["hosts", "--config", str(cfg)])
    assert r.exit_code == 2 and "known_hosts is empty" in r.output, r.output


def test_what_the_cli_prints(hosts: Hosts, tmp_path: Path) -> None:
    """`hostsnap hosts` and `hostsnap snapshot`: each refusal one line, whole."""
    from bot.cli import app

    h = hosts.plain
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{h.address} {new_pub()}\n")
    cfg = settings_for(tmp_path, h, str(kh), tofu=True)
    r = CliRunner().invoke(app, ["hosts", "--config", str(cfg)], terminal_width=80)
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    (row,) = [ln for ln in lines if ln.startswith(f" {h.name}")]
    assert "host key refused" in row
    (why,) = [ln for ln in lines if f"host key of {h.address} CHANGED" in ln]
    assert why.startswith(f"{h.name}: ") and f"{kh} expects line 1" in why
    assert why.endswith("otherwise someone may be in the middle")

    r = CliRunner().invoke(app, ["snapshot", h.name, "--config", str(cfg)],
                           terminal_width=80)
    assert r.exit_code == 1, r.output
    (why,) = [ln for ln in r.output.splitlines() if "CHANGED" in ln]
    assert why.endswith("otherwise someone may be in the middle"), r.output

    # first use: the probe says it recorded the key, with its fingerprint and where
    kh.write_text("")
    r = CliRunner().invoke(app, ["hosts", "--config", str(cfg)], terminal_width=80)
    assert r.exit_code == 0, r.output
    (row,) = [ln for ln in r.output.splitlines() if ln.startswith(f" {h.name}")]
    assert "ok host key recorded (first use)" in row
    assert f"{h.name}: host key {fp(h.host_key_pub)} of {h.address} trusted on first use " \
           f"and recorded in {kh}; verify it is the host's" in r.output.splitlines()
    assert kh.read_text() == f"{h.address} {h.host_key_pub}\n"


async def test_a_certificate_for_another_name_is_refused(lab: Lab, hosts: Hosts,
                                                         tmp_path: Path) -> None:
    h = lab.add_host("hk-wrong-name")
    try:
        h.use_host_certificate(hosts.ca_key, principals="db-1.example")
        kh = tmp_path / "known_hosts"
        kh.write_text(f"@cert-authority * {hosts.ca_pub}\n")
        got = await connect(tmp_path, h, str(kh), tofu=True)
        assert isinstance(got, HostKeyError), got
        assert f"host key of {h.address}: its certificate is not valid (" in str(got)
        assert f"Re-sign the host key for the name {h.address}" in str(got)
        assert kh.read_text() == f"@cert-authority * {hosts.ca_pub}\n"
    finally:
        lab.remove_host(h)


# -- which lines apply to a host (no connection needed) ----------------------------------

def policy(tmp_path: Path, text: str, address: str = "10.0.0.5", port: int = 22,
           tofu: bool = True) -> HostKeyPolicy:

    kh = tmp_path / "known_hosts"
    kh.write_text(text)
    return host_key_policy(SSHTarget("h", address, port, known_hosts=str(kh),
                                     trust_on_first_use=tofu))


def test_which_lines_apply(tmp_path: Path) -> None:
    k1, k2, k3 = new_pub(), new_pub(), new_pub()
    text = (f"10.0.0.5,web-1 {k1}\n"
            f"[10.0.0.5]:2222 {k2}\n"
            f"10.0.0.0/24,!10.0.0.9 {k3}\n"
            f"@revoked [10.0.0.5]:2222 {k1}\n"
            f"@cert-authority *.example {k3}\n")
    p = policy(tmp_path, text)
    assert [e.line for e in p.trusted] == [1, 3] and not p.revoked and not p.first_use
    # a port's own lines first, then the host's; revocations of either apply
    p = policy(tmp_path, text, port=2222)
    assert [e.line for e in p.trusted] == [2] and [e.line for e in p.revoked] == [4]
    p = policy(tmp_path, text, address="web-1", port=2200)
    assert [e.line for e in p.trusted] == [1]
    # negated: 10.0.0.9 is unknown (first use), a CA covers db.example
    p = policy(tmp_path, text, address="10.0.0.9")
    assert not p.trusted and p.first_use
    p = policy(tmp_path, text, address="db.example")
    assert [e.line for e in p.cas] == [5] and not p.first_use
    assert not policy(tmp_path, text, address="10.0.0.9", tofu=False).first_use


def test_first_use_recording_rechecks_the_file(tmp_path: Path) -> None:
    """Between the check and the recording another connect (or a person) may have
    written a key for the host: only that very key is accepted then."""
    from collectors.transport.hostkeys import record_first_use

    seen = asyncssh.generate_private_key("ssh-ed25519")
    seen_pub = seen.export_public_key().decode().strip()
    p = policy(tmp_path, "")
    assert p.first_use
    kh = tmp_path / "known_hosts"
    for meanwhile, says in [(f"10.0.0.5 {new_pub()}\n", "CHANGED"),
                            (f"@revoked * {seen_pub}\n", "REVOKED")]:
        kh.write_text(meanwhile)
        with pytest.raises(HostKeyError, match=says):
            record_first_use(p, seen.convert_to_public())
        assert kh.read_text() == meanwhile
    kh.write_text(f"10.0.0.5 {seen_pub}\n")  # the same key: nothing to add
    record_first_use(p, seen.convert_to_public())
    assert kh.read_text() == f"10.0.0.5 {seen_pub}\n"
