"""The replica deployment examples (deploy/compose.replicas.yaml,
deploy/kubernetes/hostsnap.yaml) are valid YAML whose environment variables
and config keys the bot reads, and the /metrics figures the README names for
sizing replicas exist (README, "Running several replicas")."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from pydantic import BaseModel

from bot import config as config_module
from bot.config import HostEntry, Settings, SSHSettings, load_settings
from bot.metrics import HELP, Metrics
from bot.settings import slack as slack_settings
from bot.web.server import make_web_app
from tests.fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def env_is_read(name: str) -> bool:
    """Whether the bot reads this environment variable: Slack's usual names
    (SlackSettings.resolved), HOSTSNAP_CONFIG (load_settings), or a
    HOSTSNAP_A__B setting that names an existing field."""
    if name.startswith("SLACK_"):
        return f'os.environ.get("{name}")' in inspect.getsource(slack_settings)
    if name == "HOSTSNAP_CONFIG":
        return f'os.environ.get("{name}")' in inspect.getsource(config_module.load_settings)
    if not name.startswith("HOSTSNAP_"):
        return False
    model: type[BaseModel] | None = Settings
    for part in name.removeprefix("HOSTSNAP_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        ann = model.model_fields[part].annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return True


def test_env_check_tells_a_typo() -> None:
    assert env_is_read("HOSTSNAP_DATABASE_URL") and env_is_read("HOSTSNAP_SSH__USER")
    assert env_is_read("SLACK_BOT_TOKEN") and env_is_read("HOSTSNAP_CONFIG")
    assert not env_is_read("HOSTSNAP_DATABASE") and not env_is_read("HOSTSNAP_SSH__USR")
    assert not env_is_read("SLACK_TOKEN")


def test_compose_replicas_file() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.replicas.yaml").read_text())
    bot = doc["services"]["bot"]
    assert bot["deploy"]["replicas"] == 3
    # `--scale bot=N` cannot publish one host port N times: only exposed
    assert "ports" not in bot and bot["expose"] == ["3000"]
    assert bot["build"]["dockerfile"] == "deploy/Dockerfile"
    assert doc["services"]["db"]["image"].startswith("postgres:")
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    unread = [k for k in bot["environment"] if not env_is_read(k)]
    assert not unread, unread
    assert bot["environment"]["HOSTSNAP_DATABASE_URL"].startswith("postgresql://")


def kube_docs() -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "hostsnap.yaml").read_text()):
        by_kind.setdefault(d["kind"], []).append(d)
    return by_kind


async def _no_ping() -> None:
    pass


def test_kubernetes_example(tmp_path: Path) -> None:
    k = kube_docs()
    assert set(k) == {"Secret", "ConfigMap", "Deployment", "Service"}
    (dep,) = k["Deployment"]
    assert dep["spec"]["replicas"] == 3
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["serve", "--host", "0.0.0.0", "--port", "3000"]
    secrets = {s["metadata"]["name"]: s for s in k["Secret"]}
    env = [e["name"] for e in c["env"]]
    for ref in c["envFrom"]:
        env += list(secrets[ref["secretRef"]["name"]]["stringData"])
    unread = [n for n in env if not env_is_read(n)]
    assert not unread, unread
    assert "HOSTSNAP_DATABASE_URL" in env and "SLACK_BOT_TOKEN" in env
    # the probes ask the routes the server has, on the port it listens on
    routes = {r.resource.canonical for r in make_web_app(_no_ping, Metrics()).router.routes()
              if r.resource is not None}
    for probe in (c["readinessProbe"], c["livenessProbe"]):
        assert probe["httpGet"]["path"] in routes and probe["httpGet"]["port"] == "http"
    assert c["ports"] == [{"name": "http", "containerPort": 3000}]
    (svc,) = k["Service"]
    assert svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]
    # the mounted config is a valid config (unknown keys are errors), and its
    # ssh files are where the Secret is mounted
    (cm,) = k["ConfigMap"]
    cfg = tmp_path / "config.toml"
    cfg.write_text(cm["data"]["config.toml"])
    s = load_settings(cfg)
    assert s.slack.mode == "socket" and s.slack.http_port == 3000
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert s.ssh.known_hosts.startswith(mounts["ssh"] + "/")
    assert all(f.startswith(mounts["ssh"] + "/") for f in s.ssh.key_files)
    files = set(secrets["hostsnap-ssh"]["stringData"])
    assert {Path(s.ssh.known_hosts).name, *(Path(f).name for f in s.ssh.key_files)} <= files
    assert mounts["config"] == c["env"][0]["value"] == "/etc/hostsnap/config.toml"


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Running several replicas")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_readme_names_metrics_that_exist() -> None:
    """Every metric the section names is one the bot emits (a literal in bot/)."""
    named = set(re.findall(r"\bhostsnap_[a-z_]+\b", readme_section()))
    assert {"hostsnap_warm_sessions", "hostsnap_slack_captures_total"} <= named
    emitted = set(HELP)
    for f in (ROOT / "bot").rglob("*.py"):
        emitted |= set(re.findall(r"\"(hostsnap_[a-z_]+)\"", f.read_text()))
    assert named <= emitted, named - emitted


async def test_metrics_count_the_warm_sessions_of_this_replica(bot_factory,
                                                               fake: FakeSlack) -> None:
    dead = HostEntry(name="dead-01", address="127.0.0.1", port=1, group="dead")
    bot = await bot_factory(settings={"hosts": [dead],
                                      "ssh": SSHSettings(retries=0, connect_timeout=1)})
    url = f"http://127.0.0.1:{bot.running.port}/metrics"

    async def gauges() -> dict[str, float]:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            body = await r.text()
        return {m[0]: float(m[1]) for m in re.findall(
            r"^(hostsnap_warm_sessions(?:_connected)?) (\S+)$", body, re.M)}

    assert await gauges() == {"hostsnap_warm_sessions": 0.0,
                              "hostsnap_warm_sessions_connected": 0.0}
    await fake.command("watch dead-01")
    await bot.idle()
    # kept (it retries with backoff), not connected: nothing listens on port 1
    assert await gauges() == {"hostsnap_warm_sessions": 1.0,
                              "hostsnap_warm_sessions_connected": 0.0}
