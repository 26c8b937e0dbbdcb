"""The leak check that runs after every test sees each kind of leftover, and forgives what ends."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

from tests import leaks


def test_a_thread_still_running_is_a_leak_until_it_ends() -> None:
    before = leaks.snapshot()
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="left-running")
    thread.start()
    try:
        assert leaks.snapshot().leaked_since(before) == ["thread 'left-running'"]
    finally:
        release.set()
        thread.join()
    assert leaks.snapshot().leaked_since(before) == []


def test_an_open_socket_and_a_child_process_are_leaks() -> None:
    before = leaks.snapshot()
    listener = socket.socket()
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        found = leaks.snapshot().leaked_since(before)
        assert any(leak.startswith("open socket") for leak in found)
        assert any(leak.startswith(f"child {child.pid} ") for leak in found)
    finally:
        listener.close()
        assert child.stdin is not None
        child.stdin.close()
        child.wait(30)
    assert leaks.snapshot().leaked_since(before) == []


def test_pooled_connections_are_released_before_sockets_count_as_leaks() -> None:
    before = leaks.snapshot()
    pooled = [socket.socket()]

    def release_pools() -> None:
        pooled.pop().close()

    assert leaks.wait_for_no_leaks(before, release_pools) == []
    assert pooled == []
