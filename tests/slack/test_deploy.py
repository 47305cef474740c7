"""deploy/: the Slack manifests, the example config and the service files
agree with the code (command name, scopes, routes, port)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import load_settings
from bot.metrics import Metrics
from bot.settings.slack import SlackSettings
from bot.web.server import make_web_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCOPES = {"chat:write", "commands", "files:write", "app_mentions:read", "usergroups:read",
          "channels:read"}


async def _no_ping() -> None:
    pass


def manifest(name: str) -> dict:
    return json.loads((DEPLOY / name).read_text())


def test_manifests_declare_what_the_bot_uses() -> None:
    for name, socket in (("slack-manifest.json", True), ("slack-manifest-http.json", False)):
        m = manifest(name)
        (cmd,) = m["features"]["slash_commands"]
        assert cmd["command"] == SlackSettings().command
        assert set(m["oauth_config"]["scopes"]["bot"]) == SCOPES
        s = m["settings"]
        assert s["event_subscriptions"]["bot_events"] == ["app_mention"]
        assert s["interactivity"]["is_enabled"] is True
        assert s["socket_mode_enabled"] is socket
        urls = {cmd.get("url"), s["event_subscriptions"].get("request_url"),
                s["interactivity"].get("request_url")}
        assert urls == ({None} if socket else {"https://hostsnap.example.com/slack/events"})


def test_example_config_loads_and_refuses_by_default() -> None:
    s = load_settings(DEPLOY / "config.example.toml")
    assert s.slack.mode == "socket" and s.slack.bot_token is None  # tokens: environment
    assert s.allow_localhost is False
    assert [r.capture for r in s.authz] == [True, True, False]
    assert {h.group for h in s.hosts} == {"payments"}


def test_service_files_run_serve_on_the_health_port() -> None:
    docker = (DEPLOY / "Dockerfile").read_text()
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]' in docker
    assert "EXPOSE 3000" in docker and "/healthz" in docker
    assert "import bot.slack.serve" in docker  # the build fails if the wheel lacks it
    compose = (DEPLOY / "compose.yaml").read_text()
    assert "dockerfile: deploy/Dockerfile" in compose and "image: postgres:" in compose
    unit = (DEPLOY / "hostsnap.service").read_text()
    assert "ExecStart=/opt/hostsnap/venv/bin/hostsnap serve" in unit
    routes = {r.resource.canonical for r in make_web_app(_no_ping, Metrics()).router.routes()
              if r.resource is not None}
    assert {"/healthz", "/metrics"} <= routes
