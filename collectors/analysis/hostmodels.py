"""Typed, JSON-able summaries of what the host collectors read. Rules are
pure functions of these, so a stored snapshot can be re-analyzed later."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProcessInfo(BaseModel):
    pid: int
    name: str
    user: str
    uid: int
    threads: int
    cmdline: str = ""
    rss_kb: int = 0
    #: soft RLIMIT_NPROC (`Max processes`), None = unlimited/unknown
    nproc_limit: int | None = None
    cgroup: str | None = None


class UserThreads(BaseModel):
    user: str
    uid: int
    threads: int
    processes: int
    nproc_limit: int | None = None
    top_pid: int | None = None


class CgroupPids(BaseModel):
    path: str
    version: int
    pids_current: int | None = None
    pids_max: int | None = None  # None = no limit
    top_pids: list[int] = Field(default_factory=list)


class LimitsSummary(BaseModel):
    threads_max: int | None = None
    pid_max: int | None = None
    kernel_tasks: int | None = None  # /proc/loadavg: kernel-wide
    visible_threads: int = 0  # sum of Threads: over the processes we could see
    processes: int = 0
    vanished: int = 0  # exited while /proc was read: skipped, not an error
    load: list[float] = Field(default_factory=list)
    top: list[ProcessInfo] = Field(default_factory=list)
    users: list[UserThreads] = Field(default_factory=list)
    cgroups: list[CgroupPids] = Field(default_factory=list)
    #: how many processes run under each name: what fleet comparison uses
    process_names: dict[str, int] = Field(default_factory=dict)
    #: versioned artifacts seen in top command lines, e.g. {"push-server": "1.4.2"}
    versions: dict[str, str] = Field(default_factory=dict)
    #: the capture's own processes on the host (our sftp-server and the sshd
    #: above it): left out of diffs and top consumers, they are not the host's
    own_pids: list[int] = Field(default_factory=list)

    @property
    def system_threads(self) -> int:
        return max(self.visible_threads, self.kernel_tasks or 0)


class CgroupMemory(BaseModel):
    path: str
    version: int
    usage_bytes: int | None = None
    limit_bytes: int | None = None  # None = no limit
    oom_kills: int | None = None


class OomKill(BaseModel):
    pid: int | None = None
    process: str = ""
    when: str = ""
    line: str = ""
    #: seconds before the capture, from the kernel's [uptime] stamp (this boot only)
    age_s: float | None = None
    #: logged before the host's last reboot (older than /proc/vmstat's count says)
    earlier_boot: bool = False


class MemorySummary(BaseModel):
    mem_total_kb: int = 0
    mem_available_kb: int = 0
    swap_total_kb: int = 0
    swap_free_kb: int = 0
    #: /proc/vmstat oom_kill: kernel-wide count since boot (fork-free)
    oom_kills_since_boot: int | None = None
    #: /proc/uptime when captured: how long ago a kill in the kernel log was
    uptime_s: float | None = None
    oom_events: list[OomKill] = Field(default_factory=list)
    kernel_log: str = ""  # where oom_events came from, or why none
    cgroups: list[CgroupMemory] = Field(default_factory=list)


class Endpoint(BaseModel):
    endpoint: str
    count: int


class NetworkSummary(BaseModel):
    states: dict[str, int] = Field(default_factory=dict)
    total: int = 0
    time_wait: int = 0
    #: TIME_WAIT sockets whose local port is in the ephemeral range
    time_wait_ephemeral: int = 0
    port_range: tuple[int, int] | None = None
    tw_reuse: int | None = None
    top_time_wait_remotes: list[Endpoint] = Field(default_factory=list)
    top_established_remotes: list[Endpoint] = Field(default_factory=list)
    listeners: list[str] = Field(default_factory=list)
    queued: list[Endpoint] = Field(default_factory=list)  # large Recv-Q/Send-Q
    sockstat: dict[str, int] = Field(default_factory=dict)

    @property
    def port_range_size(self) -> int | None:
        if self.port_range is None:
            return None
        return self.port_range[1] - self.port_range[0] + 1
