"""Who holds a claimed run, and whether that process is still alive.

A claim records the claiming process as host, pid and a start token. On Linux the start token is
the boot id and the process start time from /proc, so a pid that the kernel has since handed to
another process, or a pid from before a reboot, is not mistaken for the claimant.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessId:
    """A process, named so that another process can later tell whether it still runs."""

    host: str
    pid: int
    start: str | None  # "boot-id:start-ticks" on Linux, None where /proc is missing


def current_process() -> ProcessId:
    pid = os.getpid()
    return ProcessId(host=socket.gethostname(), pid=pid, start=_start_token(pid))


def is_alive(owner: ProcessId) -> bool | None:
    """True or False for a process of this host, None when it cannot be told from here.

    None means another host, or a pid of this host whose identity cannot be checked (no /proc,
    or no start token recorded); the caller then falls back on the claim's heartbeat.
    """
    if owner.host != socket.gethostname():
        return None
    if owner.start is None or not _PROC.is_dir():
        return None if _pid_exists(owner.pid) else False
    stat = _proc_stat(owner.pid)
    if stat is None:
        return False
    state, _ = stat
    # A zombie has finished; it only waits for a parent that may never reap it.
    if state in ("Z", "X"):
        return False
    return _start_token(owner.pid) == owner.start


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat, or None."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    after_name = text[text.rfind(")") + 2 :].split()
    return after_name[0], after_name[19]


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def _start_token(pid: int) -> str | None:
    stat = _proc_stat(pid)
    if stat is None:
        return None
    return f"{_boot_id()}:{stat[1]}"
