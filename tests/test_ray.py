"""The Ray backend, tested in a private network namespace that has only loopback.

Ray advertises and connects to the machine's network address; inside `unshare -rn` (a user and
network namespace this test makes itself) that address is 127.0.0.1, so no traffic can leave.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")
CASES = Path(__file__).with_name("netns_ray_cases.py")
GIVE_UP = Path(__file__).with_name("netns_ray_giveup.py")


def test_ray_backend_in_a_loopback_only_namespace(tmp_path):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.decode().strip()}")
    run = f"{sys.executable} -m pytest -q -p no:cacheprovider"
    # Two runs, two Ray runtimes: the give-up case kills every actor it sees.
    inner = f"ip link set lo up && {run} {CASES} --basetemp {tmp_path}/a && {run} {GIVE_UP} --basetemp {tmp_path}/b"
    env = {**os.environ, "MKDOCS_WAN_NETNS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(["unshare", "-rn", "sh", "-c", inner], env=env, capture_output=True, text=True, timeout=900)
    print(result.stdout[-4000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^4 passed", result.stdout, re.MULTILINE), result.stdout[-2000:]
    assert re.search(r"^1 passed", result.stdout, re.MULTILINE), result.stdout[-2000:]
