"""What a test leaves behind: threads, child processes and sockets it started and did not end.

``tests/conftest.py`` takes a snapshot once a test's fixtures are set up and compares it with one
taken after its teardown. What was there after the setup (the session's app, live server, browser
driver) is not the test's; what appeared later and is still there once the test's own fixtures
are gone is a leak, reported as a teardown error of that test. A thread or socket may take a
moment to wind down after its owner closed it (a server thread finishing its last request), so
the check waits for the leak to go away, with a generous deadline, before it fails.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GRACE_SECONDS = 15.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Snapshot:
    threads: dict[int, str]
    children: dict[int, str]
    sockets: frozenset[str]

    def leaked_since(self, before: Snapshot) -> list[str]:
        leaks = [f"thread {name!r}" for ident, name in self.threads.items() if ident not in before.threads]
        leaks += [f"child {pid} ({command})" for pid, command in self.children.items() if pid not in before.children]
        leaks += [f"open socket ({inode})" for inode in sorted(self.sockets - before.sockets)]
        return leaks


def snapshot() -> Snapshot:
    return Snapshot(_threads(), _children(), _sockets())


def _threads() -> dict[int, str]:
    return {thread.ident: thread.name for thread in threading.enumerate() if thread.ident is not None}


def _children() -> dict[int, str]:
    """This process's child processes, zombies included (a child never waited for)."""
    me = os.getpid()
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            command, fields = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue  # the process ended while we looked
        if int(fields.split()[1]) == me:
            children[int(stat.parent.name)] = command.split("(", 1)[1]
    return children


def _sockets() -> frozenset[str]:
    inodes = set()
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue  # closed while we looked (the listing's own descriptor, too)
        if target.startswith("socket:"):
            inodes.add(target)
    return frozenset(inodes)


def wait_for_no_leaks(before: Snapshot, release_pools: Callable[[], None]) -> list[str]:
    """The leaks still there after the grace period; pooled connections of the session's app
    (kept open between tests on purpose) are closed first if sockets are left over."""
    deadline = time.monotonic() + GRACE_SECONDS
    released = False
    while True:
        leaks = snapshot().leaked_since(before)
        if not leaks:
            return []
        if not released and any(leak.startswith("open socket") for leak in leaks):
            release_pools()
            released = True
            continue
        if time.monotonic() > deadline:
            return leaks
        time.sleep(POLL_SECONDS)
