"""The `hostsnap` command (typer + rich). Errors are one clear line and a
non-zero exit: 1 when a host could not be captured, 2 for bad input/config."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bot.app import open_store
from bot.capture.progress import CaptureOutcome, ProgressEvent
from bot.capture.service import CaptureService
from bot.config import ConfigError, Settings, load_settings
from bot.fleet import summarize
from bot.inventory import Inventory, InventoryError, InventoryHost
from bot.render.terminal import (
    STATUS_STYLE,
    artifacts_table,
    collectors_table,
    print_fleet,
    print_snapshot,
    runtime_tables,
    snapshots_table,
)
from bot.render.text import assemble, cell, json_dumps, json_text, safe_text
from bot.snapshots.service import SnapshotService, Viewer
from bot.store.db import DatabaseError, head_revision, make_engine, upgrade
from bot.store.service import SnapshotNotFound, Store
from bot.watch import daemon as watchd
from collectors import registry
from collectors.transport.base import TransportError
from collectors.transport.hostkeys import HostKeyError
from collectors.transport.ssh import AuthError, SSHSession

app = typer.Typer(
    name="hostsnap", no_args_is_help=True, add_completion=False,
    help="Capture the evidence a restart destroys: thread limits, memory, TCP state, "
         "dumps — before anyone restarts.",
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error stays one line
T = TypeVar("T")

ConfigOpt = Annotated[Path | None, typer.Option("--config", envvar="HOSTSNAP_CONFIG",
                                                help="config file (TOML)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


class Fail(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except Fail as e:
        _error(str(e))
        raise typer.Exit(e.code) from None
    except (ConfigError, InventoryError) as e:
        _error(str(e))
        raise typer.Exit(2) from None
    except SnapshotNotFound as e:  # an id that names no snapshot is bad input
        _error(e.args[0] if e.args else str(e))
        raise typer.Exit(2) from None
    except DatabaseError as e:
        _error(str(e))
        raise typer.Exit(1) from None


def _error(message: str) -> None:
    """One error line; the message is data (host errors, ids typed by the user)."""
    err.print(assemble(("error:", "red"), " ", message), highlight=False)


async def _open(config: Path | None) -> tuple[Settings, Store]:
    settings = load_settings(config)
    return settings, await open_store(settings)


async def _with_store(config: Path | None, fn: Callable[[Settings, Store], Awaitable[T]]) -> T:
    settings, store = await _open(config)
    try:
        return await fn(settings, store)
    finally:
        await store.close()


# -- snapshot --------------------------------------------------------------------
class ProgressView:
    """Live per-host, per-collector progress on the terminal."""

    def __init__(self, hosts: list[str], collectors: list[str]) -> None:
        self.collectors = collectors
        self.rows: dict[str, dict[str, str]] = {h: {"host": "waiting"} for h in hosts}

    async def __call__(self, ev: ProgressEvent) -> None:
        row = self.rows.setdefault(ev.host, {})
        if ev.collector is None:
            row["host"] = ev.status + (" (warm)" if ev.warm else "")
            row["id"] = ev.snapshot_id
        else:
            row[ev.collector] = ev.status

    def __rich__(self) -> Table:
        t = Table("host", "snapshot", "state", *self.collectors, box=None, header_style="bold")
        for host, row in self.rows.items():
            cells = []
            for c in self.collectors:
                st = row.get(c, "·")
                cells.append(cell(st, STATUS_STYLE.get(st, "")))
            t.add_row(cell(host), cell(row.get("id", "")), cell(row.get("host", "")), *cells)
        return t


@app.command()
def snapshot(
    hosts: Annotated[list[str], typer.Argument(help="names, @group or globs ('web-*')")],
    collectors: Annotated[str | None, typer.Option(
        "--collectors", "-c", help="comma-separated collectors (default: all defaults)")] = None,
    concurrency: Annotated[int | None, typer.Option(help="hosts captured at once")] = None,
    deadline: Annotated[float | None, typer.Option(help="overall deadline, seconds")] = None,
    brief: Annotated[bool, typer.Option("--brief", help="findings without evidence")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Capture HOST(s) now: progress per collector, then the findings."""
    names = [c.strip() for c in collectors.split(",")] if collectors else None

    async def go(settings: Settings, store: Store) -> int:
        inv = Inventory(settings)
        targets = inv.resolve(hosts)
        try:
            cols = [c.name for c in registry.resolve(names or settings.capture.collectors)]
        except ValueError as e:
            raise Fail(str(e), 2) from e
        svc = CaptureService(settings, store, inv)
        view = ProgressView([h.name for h in targets], cols)
        live = not as_json and err.is_terminal
        kw: dict[str, Any] = dict(collectors=names, on_progress=view, concurrency=concurrency,
                                  deadline_s=deadline, actor=_actor())
        if live:
            with Live(view, console=err, refresh_per_second=12, transient=True):
                outcomes = await _capture(svc, store, targets, kw)
        else:
            outcomes = await _capture(svc, store, targets, kw)
        _report(outcomes, as_json, brief)
        return 0 if all(o.snapshot for o in outcomes) else 1

    code = _run(_with_store(config, go))
    raise typer.Exit(code)


async def _capture(svc: CaptureService, store: Store, targets: list[InventoryHost],
                   kw: dict[str, Any]) -> list[CaptureOutcome]:
    """Hosts kept warm by a running `hostsnap watch` are captured through it:
    its sessions still work when the host can no longer fork a login."""
    status = await watchd.request({"op": "status"}, timeout=5)
    warm = {h["host"] for h in (status or {}).get("hosts", []) if h.get("connected")}
    via_watch = [h for h in targets if h.name in warm]
    direct = [h for h in targets if h.name not in warm]
    outcomes: dict[str, CaptureOutcome] = {}

    async def through_watch() -> list[InventoryHost]:
        """Hosts left to capture directly (all of them if the watch went away)."""
        progress = kw.get("on_progress")

        async def on_event(fields: dict[str, Any]) -> None:
            if progress is not None:
                await progress(ProgressEvent(**fields))

        doc = await watchd.request(
            {"op": "capture", "hosts": [h.name for h in via_watch],
             "collectors": kw.get("collectors"), "actor": kw.get("actor", "")},
            on_event=on_event)
        if doc is None or "error" in doc:
            return via_watch
        for o in doc["outcomes"]:
            view = await store.get_snapshot(o["snapshot_id"]) if o["snapshot_id"] else None
            outcomes[o["host"]] = CaptureOutcome(o["host"], view, o["error"], o["joined"])
        return []

    async def directly(hosts: list[InventoryHost]) -> None:
        for o in await svc.capture_many(hosts, **kw):
            outcomes[o.host] = o

    # both at once: the warm hosts are the ones in trouble, the rest must not wait
    left, _ = await asyncio.gather(through_watch() if via_watch else asyncio.sleep(0, []),
                                   directly(direct) if direct else asyncio.sleep(0))
    if left:
        await directly(left)
    return [outcomes[h.name] for h in targets]


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _report(outcomes: list[CaptureOutcome], as_json: bool, brief: bool) -> None:
    views = [o.snapshot for o in outcomes if o.snapshot]
    fleet = summarize(views) if len(outcomes) > 1 else None
    if as_json:
        doc: dict[str, Any] = {
            "snapshots": [v.model_dump(mode="json") for v in views],
            "errors": [{"host": o.host, "error": o.error} for o in outcomes if o.error],
        }
        if fleet is not None:
            doc["fleet"] = fleet.model_dump(mode="json")
        sys.stdout.write(json_dumps(doc, indent=2) + "\n")
        return
    for v in views:
        print_snapshot(out, v, evidence=not brief and len(outcomes) == 1)
        out.print()
    if fleet is not None:
        print_fleet(out, fleet, errors={o.host: o.error for o in outcomes if o.error})
    for o in outcomes:
        if o.error:
            _error(o.error)


# -- browsing ----------------------------------------------------------------------
@app.command("list")
def list_(
    host: Annotated[str | None, typer.Argument(help="only this host")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Saved snapshots, newest first."""

    async def go(settings: Settings, store: Store) -> None:
        items = await store.list_snapshots(host, limit)
        if as_json:
            sys.stdout.write(json_dumps([i.model_dump(mode="json") for i in items], indent=2)
                             + "\n")
        elif not items:
            out.print(assemble(f"no snapshots{' of ' + host if host else ''} yet — "
                               "take one with `hostsnap snapshot HOST`"))
        else:
            out.print(snapshots_table(items))

    _run(_with_store(config, go))


@app.command()
def show(
    snapshot_id: Annotated[str, typer.Argument(metavar="ID", help="snapshot id or prefix")],
    raw: Annotated[str | None, typer.Option("--raw", help="print this raw file")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """One snapshot: findings, collectors, raw files (--raw NAME prints one)."""

    async def go(settings: Settings, store: Store) -> None:
        snapshots, viewer = SnapshotService(store), Viewer(_actor(), "cli")
        if raw:  # this machine's own terminal: as stored (audited like any view)
            data = (await snapshots.raw(viewer, snapshot_id, raw, redact=False)).data
            if sys.stdout.isatty():  # a terminal obeys escape sequences: show them instead
                data = safe_text(data.decode(errors="replace"), multiline=True).encode()
            sys.stdout.buffer.write(data)  # piped or redirected: the bytes as stored
            sys.stdout.flush()
            return
        v = await snapshots.show(viewer, snapshot_id)
        if as_json:
            sys.stdout.write(json_text(v.model_dump_json(indent=2)) + "\n")
            return
        print_snapshot(out, v)
        for table in runtime_tables(v):
            out.print()
            out.print(table)
        out.print()
        out.print(collectors_table(v))
        if v.artifacts:
            out.print()
            out.print(artifacts_table(v))
            out.print(assemble(("`hostsnap show ", "dim"), cell(v.id, "dim"),
                               ("` --raw NAME prints a raw file", "dim")))

    _run(_with_store(config, go))


# -- inventory -----------------------------------------------------------------------
@app.command("hosts")
def hosts_(
    check: Annotated[bool, typer.Option("--check/--no-check",
                                        help="connect to each host")] = True,
    config: ConfigOpt = None,
) -> None:
    """The inventory, and whether each host is reachable with a known host key."""

    async def go() -> int:
        settings = load_settings(config)
        inv = Inventory(settings)
        from bot.watch.sessions import SessionPool

        pool = SessionPool(inv)
        names = list(inv.hosts)

        async def probe(name: str) -> tuple[Text, str | None]:
            """The check's cell (short, red when the host cannot be reached) and
            the whole message, printed below the table on one line."""
            if not check:
                return Text(), None
            h = inv.hosts[name]
            try:
                s = await asyncio.wait_for(pool.open(h), settings.ssh.connect_timeout + 2)
            except TimeoutError:
                return cell("timeout", "red"), None
            except HostKeyError as e:
                return cell("host key refused", "red"), str(e)
            except AuthError as e:
                return cell("login refused", "red"), str(e)
            except TransportError as e:
                return cell("unreachable", "red"), str(e)
            except Exception as e:  # the error is the host's (or ssh's) text
                return cell("error", "red"), str(e)
            await s.close()
            if isinstance(s, SSHSession) and s.recorded_host_key:
                return assemble(("ok", "green"), " host key recorded (first use)"), (
                    f"{name}: host key {s.recorded_host_key} of {h.address} trusted on first "
                    f"use and recorded in {s.target.known_hosts}; verify it is the host's")
            return assemble(("ok", "green"), " (local)" if h.is_local else " host key known"), None

        probed = await asyncio.gather(*(probe(n) for n in names))
        results = [r for r, _ in probed]
        t = Table("host", "address", "group", "user", "labels", *(["check"] if check else []),
                  box=None, header_style="bold")
        for n, r in zip(names, results, strict=True):
            h = inv.hosts[n]
            user = (h.entry.user or settings.ssh.user or "") if h.entry else ""
            port = f":{h.entry.port}" if h.entry and h.entry.port != 22 else ""
            t.add_row(cell(n), cell(h.address + port), cell(h.group), cell(user),
                      cell(", ".join(f"{k}={v}" for k, v in h.labels.items())),
                      *([r] if check else []))
        out.print(t)
        for _, detail in probed:
            if detail:
                out.print(cell(detail), soft_wrap=True)  # one line each, never cut
        if settings.config_path is None:
            out.print("[dim]no config file: only localhost. See README, 'Configuration'.[/dim]")
        return 1 if check and any(r.style == "red" for r in results) else 0

    raise typer.Exit(_run(go()))


# -- database ------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Create or migrate the database schema (SQLite or PostgreSQL)."""

    async def go() -> None:
        settings = load_settings(config)
        engine = make_engine(settings.database_url)
        try:
            before, after = await upgrade(engine)
        except Exception as e:
            raise DatabaseError(f"cannot migrate: {str(e).splitlines()[0][:200]}") from e
        finally:
            await engine.dispose()
        if before == after:
            out.print(assemble(f"database is up to date (revision {after})"))
        else:
            out.print(assemble(f"database migrated: {before or 'empty'} → {after}"))

    _run(go())


@db_app.command("head")
def db_head() -> None:
    """The newest schema revision this version ships."""
    out.print(head_revision() or "none")


def _register_optional() -> None:
    """Commands that live in their own modules."""
    import importlib

    for mod in ("bot.cli_analyze", "bot.cli_serve", "bot.cli_watch", "bot.cli_diff",
                "bot.cli_alerts", "bot.cli_collectors"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        m.register(app)


_register_optional()


def main() -> None:
    """Usage errors (an unknown option, a host that looks like one) are one line, exit 2,
    not the multi-line usage box."""
    try:
        rc = app(standalone_mode=False)
    except typer.TyperException as e:  # typer's (vendored click's) usage and parameter errors
        ctx = getattr(e, "ctx", None)
        msg = " ".join(e.format_message().split())
        hint = f" (`{ctx.command_path} --help` for usage)" if ctx is not None else ""
        if msg:  # empty when the help was shown instead (no arguments at all)
            print(f"error: {safe_text(msg)}{hint}", file=sys.stderr)  # msg quotes argv
        sys.exit(e.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)
