"""`hostsnap db upgrade` from an installed wheel, away from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_migrations_and_upgrades_a_database(tmp_path):
    wheel_dir = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheel_dir), str(ROOT)], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = wheel_dir.glob("hostsnap-*.whl")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    assert (target / "bot" / "migrations" / "versions" / "0001_initial.py").exists()
    assert (target / "bot" / "migrations" / "env.py").exists()
    # every package of the checkout is in the wheel (the list in pyproject is explicit)
    for init in [*ROOT.glob("bot/**/__init__.py"), *ROOT.glob("collectors/**/__init__.py")]:
        rel = init.relative_to(ROOT)
        assert (target / rel).exists(), f"{rel.parent} is missing from pyproject's packages"
    for mod in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("collectors/**/*.py")]:
        assert (target / mod.relative_to(ROOT)).exists(), mod
    # the pages' templates and assets (no CDN: a host in an incident network has no internet)
    assets = [*ROOT.glob("bot/web/templates/*"), *ROOT.glob("bot/web/static/*")]
    assert any(a.name == "base.html" for a in assets)
    for asset in assets:
        assert (target / asset.relative_to(ROOT)).exists(), f"{asset} is not in the wheel"

    db = tmp_path / "w.db"
    env = {**os.environ, "PYTHONPATH": str(target), "HOSTSNAP_DATABASE_URL": f"sqlite:///{db}",
           "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    code = ("import bot, sys; assert bot.__file__.startswith(sys.argv[1]), bot.__file__; "
            "sys.argv = ['hostsnap', 'db', 'upgrade']; from bot.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code, str(target)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "database migrated: empty →" in r.stdout
    assert db.exists()
