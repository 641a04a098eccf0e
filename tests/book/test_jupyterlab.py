"""The self-study route: `make lab` starts JupyterLab (as root too, as in a container), the server lists every
chapter notebook through its REST API, and shuts down when asked."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, token: str, method: str = "GET"):
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with LOCAL.open(request, timeout=10) as response:
        return response.status, response.read().decode("utf-8", errors="replace")


@pytest.mark.slow
def test_make_lab_serves_the_notebooks(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    log = (tmp_path / "lab.log").open("w")
    # -o: take the environment as set up (the test must not install anything)
    lab = subprocess.Popen(["make", "--no-print-directory", "-o", ".venv/.installed", "lab", f"LAB_ARGS={args}"],
                           cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                           env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    try:
        deadline = time.monotonic() + 120
        while True:
            assert lab.poll() is None, f"make lab exited ({lab.returncode}):\n{(tmp_path / 'lab.log').read_text()}"
            try:
                if call(f"{base}/api/status", token)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, f"no server after 120 s:\n{(tmp_path / 'lab.log').read_text()}"
            time.sleep(1)
        status, body = call(f"{base}/api/contents/notebooks", token)
        listed = {item["name"] for item in json.loads(body)["content"]}
        assert status == 200 and set(NOTEBOOKS) <= listed, f"not listed: {sorted(set(NOTEBOOKS) - listed)}"
        status, page = call(f"{base}/lab/tree/notebooks", token)
        assert status == 200 and "JupyterLab" in page
        if os.getuid() == 0:
            assert "running as root" in (tmp_path / "lab.log").read_text()
        call(f"{base}/api/shutdown", token, method="POST")
        assert lab.wait(timeout=60) == 0, (tmp_path / "lab.log").read_text()
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            lab.wait(timeout=30)
        log.close()
