"""``.ci/run`` checks what it needs first, in seconds, and names each missing piece."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_INSTALLED = Path("/usr/sbin/nginx").exists()  # the script looks there too


async def test_missing_prerequisites_are_named_in_seconds(tmp_path: Path) -> None:
    # A PATH with a Python and coreutils but no npm, no nginx and no apt-get.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    for tool in ("id", "timeout"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "/bin/bash",
        str(ROOT / ".ci" / "prerequisites"),
        env={**os.environ, "PATH": str(bin_dir)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert time.monotonic() - started < 10
    text = err.decode()
    assert proc.returncode == 2 and out == b"", text
    assert text.startswith(".ci/run cannot start; missing:")
    assert "npm, for the Steady mock server" in text and "apt-get install npm" in text
    assert "nginx" in text or NGINX_INSTALLED
    assert "python3, 3.11" not in text  # the one it has is enough


def test_ci_run_checks_them_before_anything_else() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    first_command = next(
        line
        for line in script.splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    )
    assert first_command == "newest=$(bash .ci/prerequisites)"
