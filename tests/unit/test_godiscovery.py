"""Finding Go pprof listeners from /proc text: endpoints, ELF notes, socket tables."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from collectors.godiscovery import (
    dial_address,
    is_go_binary,
    listeners,
    local_ipv4,
    parse_endpoint,
)
from tests.conftest import skip_or_fail


@pytest.mark.parametrize(("text", "address", "prefix"), [
    ("127.0.0.1:6060", "127.0.0.1:6060", "/debug/pprof"),
    ("[::1]:6060", "[::1]:6060", "/debug/pprof"),
    ("http://10.0.0.5:8080/internal/debug/pprof/", "10.0.0.5:8080", "/internal/debug/pprof"),
    ("10.88.0.3:9090/debug/pprof/goroutine", "10.88.0.3:9090", "/debug/pprof"),
    ("push-03.internal:9090", "push-03.internal:9090", "/debug/pprof"),
])
def test_endpoint_labels(text, address, prefix):
    ep = parse_endpoint(text)
    assert ep is not None and (ep.address, ep.prefix) == (address, prefix)


@pytest.mark.parametrize("text", ["10.0.0.1", "10.0.0.1:0", "a b:1", "https://x:1",
                                  "x:1/p?debug=2", "x:99999", "", "$(reboot):1"])
def test_bad_endpoint_labels(text):
    assert parse_endpoint(text) is None


def _note_head() -> bytes:
    # ELF magic, then (at some offset) the Go linker's note: namesz 4, descsz 83, type 4
    note = b"\x04\x00\x00\x00" + (83).to_bytes(4, "little") + b"\x04\x00\x00\x00Go\x00\x00"
    return b"\x7fELF\x02\x01\x01" + b"\x00" * 985 + note + b"buildid/..."


def test_go_binaries_by_their_build_id_note():
    assert is_go_binary(_note_head())
    assert not is_go_binary(b"\x7fELF" + b"\x00" * 100 + b"Go\x00\x00")  # no note header
    assert not is_go_binary(b"#!/bin/sh\n" + _note_head())  # not ELF
    with open(os.path.realpath(sys.executable), "rb") as f:
        assert not is_go_binary(f.read(8192))  # CPython


def test_the_go_toolchain_is_recognized():
    go = shutil.which("go")
    if go is None:
        skip_or_fail("`go` not found (apt install golang-go)")
    with open(os.path.realpath(go), "rb") as f:
        assert is_go_binary(f.read(8192))


TCP = b"""\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4913 1 0
   1: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1685 1 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 7777 1 0
   3: garbage
"""
TCP6 = b"""\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 501 1 0
   1: 00000000000000000000000001000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 502 1 0
   2: 0000000000000000FFFF00000100007F:1F93 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 503 1 0
"""


def test_listen_rows_by_socket_inode():
    assert listeners(TCP) == {4913: ("127.0.0.1", 8080), 1685: ("0.0.0.0", 9090)}
    assert listeners(TCP6) == {501: ("::", 8081), 502: ("::1", 8082), 503: ("127.0.0.1", 8083)}
    assert listeners(None) == {}


FIB_TRIE = b"""\
Main:
  +-- 0.0.0.0/1 2 0 2
     +-- 10.88.0.0/16 2 0 2
        +-- 10.88.0.0/30 2 0 2
           |-- 10.88.0.0
              /16 link UNICAST
           |-- 10.88.0.2
              /32 host LOCAL
        |-- 10.88.255.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
Local:
     +-- 10.88.0.0/16 2 0 2
           |-- 10.88.0.2
              /32 host LOCAL
"""


def test_a_namespace_s_own_address():
    assert local_ipv4(FIB_TRIE) == ["10.88.0.2"]


def test_where_the_host_dials():
    assert dial_address("0.0.0.0", True, []) == "127.0.0.1"
    assert dial_address("::", True, []) == "127.0.0.1"
    assert dial_address("0.0.0.0", False, ["10.88.0.2"]) == "10.88.0.2"  # a container
    assert dial_address("127.0.0.1", False, ["10.88.0.2"]) is None  # its own loopback
    assert dial_address("127.0.0.1", True, []) == "127.0.0.1"
    assert dial_address("10.0.0.7", False, ["10.88.0.2"]) == "10.0.0.7"
