"""Run seeding tasks on one or more database sessions, in dependency order, printing one progress line per task.

A task is a named function of a cursor that returns how many rows it wrote (None for schema work). With several
sessions, independent tasks run at the same time (each session is one server process, so two sessions keep two
cores busy).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Sequence

# Session settings for the generating statements. Parallel query and synchronized scans are off so that a
# statement always emits its rows in the same order (identity columns then get the same ids on every run).
SESSION_SETTINGS = {
    "synchronous_commit": "off",
    "TimeZone": "UTC",
    "max_parallel_workers_per_gather": "0",
    "max_parallel_maintenance_workers": "0",
    "synchronize_seqscans": "off",
    "work_mem": "256MB",
    "maintenance_work_mem": "1GB",
}


def configure_session(cursor, local: bool) -> None:
    """Apply SESSION_SETTINGS; `local` limits them to the current transaction."""
    for name, value in SESSION_SETTINGS.items():
        cursor.execute("SELECT set_config(%s, %s, %s)", [name, value, local])


@dataclass
class Task:
    name: str
    run: Callable[[object], int | None]  # cursor -> rows written
    needs: frozenset[str] = field(default_factory=frozenset)


class Runner:
    def __init__(self, cursors: Sequence[object], write: Callable[[str], None]):
        self._cursors = list(cursors)
        self._write = write
        self._lock = threading.Lock()
        self.rows: dict[str, int] = {}

    def run(self, tasks: Sequence[Task]) -> None:
        """Run `tasks`, each once the tasks it needs are done; the list order decides among ready tasks."""
        unknown = {need for task in tasks for need in task.needs} - {task.name for task in tasks}
        if unknown:
            raise ValueError(f"tasks need steps that are not in the list: {sorted(unknown)}")
        pending, done, running = list(tasks), set(), {}
        if len(self._cursors) == 1:  # Django's own connection: stay on this thread
            while pending:
                task = next(t for t in pending if t.needs <= done)
                pending.remove(task)
                self._execute(task, self._cursors[0])
                done.add(task.name)
            return
        free = list(self._cursors)
        with ThreadPoolExecutor(max_workers=len(free)) as pool:
            while pending or running:
                for task in [t for t in pending if t.needs <= done][:len(free)]:
                    pending.remove(task)
                    cursor = free.pop()
                    running[pool.submit(self._execute, task, cursor)] = (task, cursor)
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task, cursor = running.pop(future)
                    future.result()
                    free.append(cursor)
                    done.add(task.name)

    def _execute(self, task: Task, cursor) -> None:
        started = time.monotonic()
        rows = task.run(cursor)
        seconds = time.monotonic() - started
        with self._lock:
            if rows is None:
                self._write(f"  {task.name:<78} {seconds:7.1f} s")
            else:
                self.rows[task.name] = rows
                self._write(f"  {task.name:<60} {rows:>12,} rows {seconds:7.1f} s")
