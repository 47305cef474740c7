"""Every `hostsnap` command: its module and its one-line help. Add a command
here. Plain data, no typer: `hostsnap --help` (bot/cli/help.py) draws its
screen from this table alone, and bot/cli/program.py loads a command's module
only when it runs."""

from __future__ import annotations

ROOT_HELP = ("Capture the evidence a restart destroys: thread limits, memory, TCP state, "
             "dumps — before anyone restarts.")

#: name -> (module, one-line help for `hostsnap --help`); the module has a typer
#: `app` holding the command, or `register(app)` that adds it
COMMANDS: dict[str, tuple[str, str]] = {
    "snapshot": ("bot.cli.snapshot",
                 "Capture HOST(s) now: progress per collector, then the findings."),
    "list": ("bot.cli.browse", "Saved snapshots, newest first."),
    "show": ("bot.cli.browse",
             "One snapshot: findings, collectors, raw files (--raw NAME prints one)."),
    "hosts": ("bot.cli.hosts",
              "The inventory, and whether each host is reachable with a known host key."),
    "db": ("bot.cli.db", "Database maintenance."),
    "analyze": ("bot.cli_analyze", "Analyze dumps you already have (no host, no database)."),
    "serve": ("bot.cli.serve", "Run the Slack bot: /snapshot, @hostsnap mentions and buttons."),
    "watch": ("bot.cli.watch",
              "Keep SSH sessions open to hosts at risk, for captures once they refuse logins."),
    "diff": ("bot.cli.diff",
             "Threads per pool, stacks that appeared or vanished, limits, TIME_WAIT."),
    "reanalyze": ("bot.cli.reanalyze",
                  "Run today's rules over stored snapshots; new findings kept beside the old."),
    "alerts": ("bot.cli.alerts", "Received alerts, newest first: host, outcome, snapshot and why."),
    "web": ("bot.cli.web",
            "Serve the pages (snapshots, dumps, compare) to this machine's browser."),
    "collectors": ("bot.cli.collectors",
                   "Each collector and everything it may read, run or write on a host."),
}
