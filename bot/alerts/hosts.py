"""Which inventory host an alert is about.

Label values come from whoever configured the alert rule, so they only ever
select among inventory hosts (by name or address); nothing else is contacted.
Host labels are tried in order (host, hostname, nodename, instance without its
port, node); then workload labels (container, pod) are looked up in the
inventory hosts' labels (e.g. `containers = ["partner-bridge*"]`).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass

from bot.alerts.payloads import Labels
from bot.inventory import Inventory, InventoryHost

#: what a label value must look like before it is looked up at all
VALUE_RE = re.compile(r"^[A-Za-z0-9_.:\[\]%-]{1,253}$")


@dataclass(frozen=True)
class HostMatch:
    host: InventoryHost | None
    #: label=value that named the host, or what was tried (for the sender and the audit)
    via: str
    #: no_host (no label names one), unknown_host, ambiguous_host; "" when found
    problem: str = ""


def strip_port(value: str) -> str:
    """instance="10.0.3.13:9100" -> 10.0.3.13; "[fe80::1]:9100" -> fe80::1;
    a bare IPv6 address is left alone."""
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    host, sep, port = value.rpartition(":")
    return host if sep and port.isdigit() else value


class HostFinder:
    def __init__(self, inventory: Inventory, host_labels: list[str],
                 workload_labels: dict[str, str]) -> None:
        self.inventory = inventory
        self.host_labels = host_labels
        self.workload_labels = workload_labels
        # by address too: Prometheus' instance label is usually address:port
        self._by_address: dict[str, InventoryHost] = {}
        for h in inventory.hosts.values():
            if h.entry is not None and h.entry.address:
                self._by_address.setdefault(h.entry.address, h)

    def find(self, labels: Labels) -> HostMatch:
        tried: list[str] = []
        for name in self.host_labels:
            value = labels.get(name, "").strip()
            if not value:
                continue
            if name == "instance":
                value = strip_port(value)
            tried.append(f"{name}={value}")
            h = self._lookup(value)
            if h is not None:
                return HostMatch(h, f"{name}={value}")
        for label, inventory_label in self.workload_labels.items():
            value = labels.get(label, "").strip()
            if not value:
                continue
            tried.append(f"{label}={value}")
            hits = self._runs(inventory_label, value)
            if len(hits) == 1:
                return HostMatch(hits[0], f"{label}={value}")
            if len(hits) > 1:
                names = ", ".join(sorted(h.name for h in hits)[:5])
                return HostMatch(None, f"{label}={value} runs on {names}", "ambiguous_host")
        if not tried:
            return HostMatch(None, "", "no_host")
        return HostMatch(None, ", ".join(tried)[:255], "unknown_host")

    def _lookup(self, value: str) -> InventoryHost | None:
        if not VALUE_RE.match(value):
            return None
        hosts = self.inventory.hosts
        if value in hosts:
            return hosts[value]
        if value in self._by_address:
            return self._by_address[value]
        short = value.split(".", 1)[0]  # web-03.prod.example.com -> web-03
        if short != value and not _is_ip(value) and short in hosts:
            return hosts[short]
        return None

    def _runs(self, inventory_label: str, value: str) -> list[InventoryHost]:
        if not VALUE_RE.match(value):
            return []
        out = []
        for h in self.inventory.hosts.values():
            patterns = h.labels.get(inventory_label) or []
            if isinstance(patterns, str):
                patterns = [patterns]
            if any(fnmatch.fnmatchcase(value, str(p)) for p in patterns):
                out.append(h)
        return out


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False
