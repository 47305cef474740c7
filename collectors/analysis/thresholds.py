"""Rule thresholds; every one can be overridden in the config's [thresholds]."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class HostThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    #: fraction of a ceiling (threads-max, pid_max, pids.max, nproc) that is critical
    ceiling_critical: float = 0.90
    ceiling_warning: float = 0.75
    #: MemAvailable / MemTotal above which memory counts as "free"
    memory_free_fraction: float = 0.20
    #: TIME_WAIT sockets / size of ip_local_port_range
    time_wait_critical: float = 0.50
    time_wait_warning: float = 0.25
    #: noise floor: ignore a busiest remote with fewer TIME_WAIT than this, whatever the
    #: port range (the ratio above is what judges; 700 of a 1 000-port range is critical)
    time_wait_min: int = 100
    top_consumers: int = 10
    #: an OOM kill this recent is critical; an older one (this boot) a warning
    oom_recent_minutes: float = 60.0


class ThreadDumpThresholds(BaseModel):
    """JVM thread-dump rules (owned by the thread-dump analysis)."""

    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    #: HttpClient "Connection evictor" threads (one per client ever built)
    evictor_warning: int = 10
    evictor_critical: int = 200
    #: distinct default executors alive (`pool-N-thread-M`, distinct N)
    executor_pools_warning: int = 50
    executor_pools_critical: int = 500
    #: new distinct executors between the first and the last dump
    executor_pools_growth: int = 10
    #: threads waiting for a connection from one HTTP client pool
    pool_waiters_warning: int = 10
    pool_waiters_critical: int = 100
    #: threads blocked on one monitor or parked on one lock
    convoy_warning: int = 10
    convoy_critical: int = 50
    #: threads sharing one non-idle stack
    identical_stack_min: int = 50
    #: share of one core a thread used between dumps (or since start, for one dump)
    cpu_hot_fraction: float = 0.80
    #: ...and at least this much CPU between the dumps
    cpu_hot_min_ms: float = 500.0
    #: a thread seen in one dump only (a single dump, or born since the first) counts
    #: over its own life once it is this old (cpu= / elapsed=, JDK 11+)
    cpu_hot_lifetime_min_s: float = 5.0
    #: thread count growth between the first and the last dump
    growth_min_threads: int = 20
    growth_fraction: float = 0.10
    growth_critical_threads: int = 1000
    #: dumps must span this long before an unchanged stack counts as stuck
    stuck_min_seconds: float = 10.0
    #: rows in evidence tables
    max_rows: int = 10


class GoroutineThresholds(BaseModel):
    """Go goroutine-dump rules (owned by the goroutine analysis)."""

    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    #: goroutines waiting on one mutex
    mutex_waiters_warning: int = 10
    mutex_waiters_critical: int = 1000
    #: ...or critical once the longest wait reaches this (", N minutes")
    mutex_critical_minutes: int = 1
    #: unused since a group's size alone proves no leak (kept: configs that set it load)
    leak_group_min: int = 100
    #: goroutines blocked forever (nil channel, select with no cases)
    leak_forever_min: int = 10
    #: a channel/select wait is a leak once this many goroutines of one stack have waited
    #: leak_minutes (debug=2's ", N minutes"): a fresh pile is a worker pool, not a leak
    leak_minutes: int = 10
    leak_minutes_min_goroutines: int = 10
    #: ...or once one stack's goroutines grew by this many across dumps, never shrinking
    leak_growth_min: int = 20
    #: goroutines sharing one stack and state (not IO wait)
    identical_stack_min: int = 500
    #: goroutine count growth between the first and the last dump
    growth_min_goroutines: int = 500
    growth_fraction: float = 0.20
    max_rows: int = 10


class ContainerThresholds(BaseModel):
    """Container rules (docker collector)."""

    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    #: pids or memory in use / the container's limit: CONTAINER_NEAR_LIMIT
    near_limit_fraction: float = 0.90
    #: ...critical from here (the next thread or allocation fails at the limit)
    critical_fraction: float = 0.97
    #: restarts (RestartCount) from which CONTAINER_RESTARTING is raised
    restart_count_min: int = 3
    #: rows in evidence tables
    max_rows: int = 10


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    host: HostThresholds = HostThresholds()
    threads: ThreadDumpThresholds = ThreadDumpThresholds()
    goroutines: GoroutineThresholds = GoroutineThresholds()
    containers: ContainerThresholds = ContainerThresholds()
