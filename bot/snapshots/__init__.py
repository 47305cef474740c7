"""The snapshots domain: list, show, raw file, diff — audited and redacted
here, the same whichever interface (cli, slack, web) asks."""
