"""`Joiner`: the one thread that moves forked sandboxes into their cgroups.

Sandbox feature, node side. Writing a pid into a cgroup v1 ``cgroup.procs`` can wait for an
RCU grace period (milliseconds), so it must not run on the event loop; the kernel takes one
global lock for every such write anyway, so a single thread loses nothing. Handing it a
join costs a queue put and one loop callback, where an executor round trip costs two
futures chained across threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading

from dockyard.node.sandbox.isolation import OpenProcs

_Job = tuple[OpenProcs, int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Joiner:
    """Runs `OpenProcs.join_and_close` jobs in order on its own thread (started by the
    first job, ended by `close`; a job handed over after `close` starts it again)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def join(self, procs: OpenProcs, pid: int) -> asyncio.Future[None]:
        """Move `pid` into the cgroup of `procs` (whose files the job closes); the future
        completes on the running loop once it is in, or with the write's OSError. The
        job runs even when the future is cancelled."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-join", daemon=True)
                self._thread.start()
        self._jobs.put((procs, pid, loop, done))
        return done

    def close(self) -> None:
        """End the thread once the jobs handed to it are done."""
        with self._lock:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread = None

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            procs, pid, loop, done = job
            error: OSError | None = None
            try:
                procs.join_and_close(pid)
            except OSError as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, done, error)


def _settle(done: asyncio.Future[None], error: OSError | None) -> None:
    if done.done():  # cancelled meanwhile
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
