"""The test-host lab: real sshd test hosts in network namespaces (see hosts.py)."""

from tests.lab.hosts import Lab, LabError, LabUnavailable, TestHost, Workload

__all__ = ["Lab", "LabError", "LabUnavailable", "TestHost", "Workload"]
