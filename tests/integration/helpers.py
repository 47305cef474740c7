"""Config and services pointed at lab test hosts."""

from __future__ import annotations

from pathlib import Path

from bot.capture.service import CaptureService
from bot.config import Settings, load_settings
from bot.store.service import Store


def write_config(path: Path, hosts: list, *, db_url: str, group: str = "lab",
                 extra: str = "", ssh_extra: str = "", **host_opts: str) -> Path:
    """`extra`: top-level TOML; `ssh_extra`: lines for [ssh] (overriding ours);
    `host_opts`: per-host TOML values replacing the lab's."""
    ssh = {"connect_timeout": "3", "retries": "1", "use_agent": "false"}
    for line in ssh_extra.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            ssh[k.strip()] = v.strip()
    lines = [f'database_url = "{db_url}"', "allow_localhost = true", extra, "",
             "[ssh]", *(f"{k} = {v}" for k, v in ssh.items()), ""]
    for h in hosts:
        fields = {
            "name": f'"{h.name}"', "address": f'"{h.address}"', "port": str(h.port),
            "user": f'"{h.user}"', "key_file": f'"{h.key_file}"',
            "known_hosts": f'"{h.known_hosts_file}"', "group": f'"{group}"',
        }
        # overrides are TOML values: port="2", user='"nobody"', labels='{ a = 1 }'
        fields.update(host_opts)
        lines += ["[[hosts]]", *(f"{k} = {v}" for k, v in fields.items()), ""]
    path.write_text("\n".join(lines))
    return path


async def service_for(tmp_path: Path, hosts: list, db_url: str | None = None,
                      **kw: str) -> tuple[Settings, Store, CaptureService]:
    url = db_url or f"sqlite+aiosqlite:///{tmp_path}/hs.db"
    settings = load_settings(write_config(tmp_path / "hostsnap.toml", hosts, db_url=url, **kw))
    store = await Store.open(settings.database_url)
    return settings, store, CaptureService(settings, store)
