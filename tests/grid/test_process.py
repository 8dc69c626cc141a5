"""Telling whether the process that claimed a run still runs."""

import os
import subprocess
import sys
import time

import pytest

from minaction.grid.process import ProcessId, _start_token, current_process, is_alive

linux_only = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")


def test_this_process_is_alive_and_another_host_cannot_be_told():
    me = current_process()
    assert is_alive(me) is True
    assert is_alive(ProcessId("another-host", me.pid, me.start)) is None


@linux_only
def test_a_reused_pid_is_not_the_claimant():
    me = current_process()
    assert is_alive(ProcessId(me.host, me.pid, "another-boot:1")) is False


@linux_only
def test_a_zombie_counts_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    owner = ProcessId(current_process().host, child.pid, _start_token(child.pid))
    assert is_alive(owner) is True
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # not waited for: it stays a zombie until reaped
        with open(f"/proc/{child.pid}/stat") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.02)
    assert is_alive(owner) is False
    child.wait()
    assert is_alive(owner) is False
