"""`make run`: one command for a working portal on this machine.

Migrates, seeds demo data when the database is empty, then runs the web server, a Celery worker and Celery beat
side by side. Ctrl-C (or SIGTERM) stops all three and then the embedded Postgres, if that is what we used.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_CUSTOMERS = os.environ.get("DEMO_CUSTOMERS", "3000")


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def _start(name: str, args: list[str]) -> subprocess.Popen:
    print(f"→ starting {name}: {' '.join(args)}", flush=True)
    # Own process group, so Ctrl-C in the terminal reaches only us and we stop the children in order.
    return subprocess.Popen(args, cwd=ROOT, start_new_session=True)


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to each process itself, not to its group: each stops its own children. A Celery worker's warm
    shutdown waits for its pool processes and ends them; signalling the pool directly as well made them die under
    it, and the worker logged an ERROR for each. Whatever is left of a group after the deadline is killed."""
    for name, proc in processes.items():
        if proc.poll() is None:
            print(f"→ stopping {name}", flush=True)
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in processes.values():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers only: a clean stop leaves the group empty
        except ProcessLookupError:
            pass


def main() -> int:
    port = os.environ.get("PORT", "8000")
    embedded = not os.environ.get("DATABASE_URL")
    _manage("migrate", "--noinput")
    _manage("seed_demo", "--customers", DEMO_CUSTOMERS, "--if-empty")
    python = sys.executable
    processes = {
        "web": _start("web", [python, "manage.py", "runserver", f"127.0.0.1:{port}"]),
        "worker": _start("worker", [python, "-m", "celery", "-A", "portal", "worker", "--loglevel=INFO",
                                    "--concurrency=2"]),
        "beat": _start("beat", [python, "-m", "celery", "-A", "portal", "beat", "--loglevel=INFO"]),
    }
    print(f"\nPortal: http://127.0.0.1:{port}/  (demo users agent / manager / admin, password demo-pass-123)\n"
          "Press Ctrl-C to stop.\n", flush=True)

    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    try:
        while not stopping:
            for name, proc in processes.items():
                if proc.poll() is not None:
                    print(f"✗ {name} exited with code {proc.returncode}; stopping the rest.", flush=True)
                    stopping, exit_code = True, 1
            time.sleep(0.5)
    finally:
        _stop(processes)
        if embedded:
            from portal.embedded_db import stop

            print("→ stopping the embedded Postgres", flush=True)
            stop(Path(os.environ.get("EMBEDDED_PG_DIR", ROOT / ".data" / "pg")))
    print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
