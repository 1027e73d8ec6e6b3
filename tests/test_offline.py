"""README.md: "Nothing is downloaded at run time: pretrained weights load only from local
folders."

A fresh interpreter in which every network connection is refused and recorded runs the
commands that load weights or could be tempted to fetch something: ``paint`` on the
bundled example with the embedded defaults, ``paint --engine diffusion`` with the bundled
checkpoint, ``paint --depth-backend transformers`` with a local Depth Anything folder,
``lesson`` and ``viewer``. The Hugging Face offline switches are removed from the
environment, so a library that wanted to fetch would try, and be caught. The script
ends by opening a URL itself, to show that the guard sees an attempt (the test fails if
it does not).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import save_tiny_depth_model

SCRIPT = textwrap.dedent(
    r'''
    import json, socket, sys
    from pathlib import Path

    attempts = []
    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _is_local(sock):
        return sock.family == getattr(socket, "AF_UNIX", None)

    def connect(self, address):
        if not _is_local(self):
            attempts.append(repr(address))
            raise OSError(101, "network blocked by the test")
        return _connect(self, address)

    def connect_ex(self, address):
        if not _is_local(self):
            attempts.append(repr(address))
            return 101
        return _connect_ex(self, address)

    def getaddrinfo(host, *a, **k):
        attempts.append(f"getaddrinfo {host!r}")
        raise socket.gaierror(-3, "name resolution blocked by the test")

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo

    tmp, example, depth_model = (Path(p) for p in sys.argv[1:4])
    from animatepainter.cli import main

    runs = {
        "paint": ["-q", "paint", str(example), "-o", str(tmp / "paint"), "-n", "300", "--size", "96", "--video-px", "64"],
        "paint-diffusion": ["-q", "paint", str(example), "-o", str(tmp / "diff"), "--engine", "diffusion", "--sample-steps", "2", "--video-px", "64"],
        "paint-transformers-depth": ["-q", "paint", str(example), "-o", str(tmp / "tdepth"), "-n", "100", "--size", "48", "--video-px", "64",
                                     "--depth-backend", "transformers", "--depth-model", str(depth_model)],
        "lesson": ["-q", "lesson", str(tmp / "paint"), "-o", str(tmp / "lesson.pdf")],
        "viewer": ["-q", "viewer", str(tmp / "paint"), "-o", str(tmp / "viewer.html")],
    }
    codes = {}
    for name, args in runs.items():
        before = len(attempts)
        codes[name] = (main(args), attempts[before:])
    import urllib.request
    before = len(attempts)
    try:
        urllib.request.urlopen("http://example.com/weights.bin", timeout=5)
        probe = "not blocked"
    except OSError:
        probe = "blocked"
    print(json.dumps({"codes": codes, "probe": probe, "probe_attempts": attempts[before:]}))
    '''
)


def test_nothing_is_downloaded_at_run_time(tmp_path, example_image_path):
    depth_model = save_tiny_depth_model(tmp_path / "depth-anything-tiny")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "DIFFUSERS_OFFLINE")}
    env["HF_HOME"] = str(tmp_path / "hf-home")  # an empty cache: nothing to fall back on
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(example_image_path), str(depth_model)], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for name, (code, attempts) in out["codes"].items():
        assert attempts == [], f"{name} tried the network: {attempts}"
        assert code == 0, (name, r.stderr[-3000:])
    # the guard sees a real attempt, so an empty list above means something
    assert out["probe"] == "blocked" and out["probe_attempts"], out
    assert (tmp_path / "diff" / "plan.json").exists() and (tmp_path / "lesson.pdf").exists() and (tmp_path / "viewer.html").exists()
