"""Connection details users need: jump hosts, key passphrases, ssh-agent."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import asyncssh
import pytest

from tests.integration.helpers import service_for

pytestmark = pytest.mark.root


async def test_through_a_jump_host(lab, tmp_path):
    jump, target = lab.add_host("jump-1"), lab.add_host("behind-1")
    try:
        _, store, svc = await service_for(tmp_path, [jump, target])
        try:
            svc.inventory.hosts[target.name].entry.jump = jump.name
            out = await svc.capture(svc.inventory.resolve([target.name])[0],
                                    collectors=["limits"])
            assert out.error is None, out.error
            # the target saw the connection come from the jump host, not from us
            assert f"Accepted publickey for snap from {jump.address}" in \
                target.sshd_log.read_text()
        finally:
            await store.close()
    finally:
        lab.remove_host(jump)
        lab.remove_host(target)


@pytest.fixture
def extra_key(lab, tmp_path):
    """A passphrase-protected key, authorized on the lab's hosts for this test."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "id_pass"
    key.write_private_key(str(path), passphrase="correct horse")
    os.chmod(path, 0o600)
    pub = key.export_public_key().decode()
    before = lab.authorized_keys.read_text()
    lab.authorized_keys.write_text(before + pub)
    yield path
    lab.authorized_keys.write_text(before)


async def _capture_limits(tmp_path, host, **kw):
    _, store, svc = await service_for(tmp_path, [host], **kw)
    try:
        return await svc.capture(svc.inventory.resolve([host.name])[0], collectors=["limits"])
    finally:
        await store.close()


async def test_key_passphrase_from_env_and_from_file(host, tmp_path, extra_key, monkeypatch):
    key = f'"{extra_key}"'
    monkeypatch.setenv("HS_TEST_PASS", "correct horse")
    out = await _capture_limits(tmp_path, host, key_file=key,
                                ssh_extra='passphrase_env = "HS_TEST_PASS"')
    assert out.error is None, out.error

    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse\n")
    monkeypatch.delenv("HS_TEST_PASS")
    out = await _capture_limits(tmp_path, host, key_file=key,
                                ssh_extra=f'passphrase_file = "{secret}"')
    assert out.error is None, out.error

    secret.write_text("wrong\n")
    out = await _capture_limits(tmp_path, host, key_file=key,
                                ssh_extra=f'passphrase_file = "{secret}"')
    assert out.error and "cannot load SSH key" in out.error


async def test_ssh_agent(host, tmp_path, extra_key, monkeypatch):
    if not shutil.which("ssh-agent"):
        from tests.conftest import skip_or_fail

        skip_or_fail("ssh-agent missing (openssh-client)")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock), "SSH_ASKPASS_REQUIRE": "never"}
        plain = tmp_path / "id_plain"
        k = asyncssh.read_private_key(str(extra_key), passphrase="correct horse")
        k.write_private_key(str(plain))
        os.chmod(plain, 0o600)
        subprocess.run(["ssh-add", str(plain)], env=env, check=True, capture_output=True)
        plain.unlink()
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        # no key file configured: the agent's key is the only way in
        _, store, svc = await service_for(tmp_path, [host], ssh_extra="use_agent = true")
        try:
            svc.inventory.hosts[host.name].entry.key_file = None
            svc.settings.ssh.key_files = []
            out = await svc.capture(svc.inventory.resolve([host.name])[0],
                                    collectors=["limits"])
            assert out.error is None, out.error
        finally:
            await store.close()
    finally:
        agent.terminate()
        agent.wait(timeout=5)
