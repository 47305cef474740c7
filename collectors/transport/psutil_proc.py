"""A psutil-backed stand-in for the few /proc files hostsnap reads, for
machines without /proc (macOS). Only what the collectors parse is produced."""

from __future__ import annotations

import os

import psutil

from collectors.transport.base import PathGone


class PsutilProc:
    def listdir(self, path: str) -> list[str]:
        if path.rstrip("/") == "/proc":
            return [str(p) for p in psutil.pids()]
        raise PathGone(path)

    def read_many(self, paths: list[str]) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for p in paths:
            try:
                out[p] = self.read(p)
            except PathGone:
                out[p] = None
        return out

    def read(self, path: str) -> bytes:
        try:
            return self._read(path).encode()
        except (psutil.Error, KeyError, ValueError, OSError) as e:
            raise PathGone(path) from e

    def _read(self, path: str) -> str:
        if path == "/proc/loadavg":
            a, b, c = os.getloadavg()
            return f"{a:.2f} {b:.2f} {c:.2f} 1/{_total_threads()} 0\n"
        if path == "/proc/meminfo":
            vm = psutil.virtual_memory()
            sw = psutil.swap_memory()
            kb = 1024
            return (
                f"MemTotal: {vm.total // kb} kB\nMemFree: {vm.free // kb} kB\n"
                f"MemAvailable: {vm.available // kb} kB\n"
                f"SwapTotal: {sw.total // kb} kB\nSwapFree: {sw.free // kb} kB\n"
            )
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "proc" and parts[1].isdigit():
            p = psutil.Process(int(parts[1]))
            if parts[2] == "status":
                with p.oneshot():
                    uids = p.uids()
                    return (
                        f"Name:\t{p.name()[:15]}\nState:\t{p.status()}\nPid:\t{p.pid}\n"
                        f"PPid:\t{p.ppid()}\nUid:\t{uids.real}\t{uids.effective}\t"
                        f"{uids.saved}\t{uids.saved}\nThreads:\t{p.num_threads()}\n"
                        f"VmRSS:\t{p.memory_info().rss // 1024} kB\n"
                    )
            if parts[2] == "cmdline":
                return "\0".join(p.cmdline()) + "\0"
        raise PathGone(path)


def _total_threads() -> int:
    total = 0
    for p in psutil.process_iter():
        try:
            total += p.num_threads()
        except psutil.Error:
            continue
    return total
