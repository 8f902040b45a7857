"""Test-only launcher: `bme-cds serve`'s own gunicorn settings around the real app plus fault routes.

Run as `python -m tests.faults.gunicorn_faults FD TIMEOUT WORKERS`: gunicorn serves on the already bound and
listening socket FD (the test holds the port from the start, so no other process can take it) with a worker
timeout of TIMEOUT seconds. The fault routes exist only here, never in the shipped app:

- /__fault/hold-gil?seconds=N  C code that keeps the GIL for N s: the worker's main loop cannot tell the
                               master it is alive, so the master logs WORKER TIMEOUT and kills it
- /__fault/sleep?seconds=N     a request that waits N s without the GIL (a slow but healthy request)
- /__fault/raise               an exception that escapes the WSGI app, so gunicorn itself answers
- /__fault/crash               the worker process dies at once (SIGKILL, as the kernel's OOM killer does)
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from gunicorn.app.base import BaseApplication

from service.cli import gunicorn_settings
from service.config import load_settings
from service.web.app import create_app
from service.web.logs import configure_logging

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_LIBC = ctypes.PyDLL(None)  # PyDLL: its calls keep the GIL (CDLL's release it)


class FaultRoutes:
    """The real app, with the fault routes in front of it."""

    def __init__(self, app: Wsgi) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Serve a fault route, or pass the request to the real app."""
        path = environ.get("PATH_INFO", "")
        seconds = int(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["1"])[0])
        if path == "/__fault/hold-gil":
            # Signals go to other threads (the master's SIGABRT included), so nothing cuts the sleep short:
            # like C code stuck in a loop, the GIL stays taken for the whole time.
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            _LIBC.sleep(seconds)
        elif path == "/__fault/sleep":
            time.sleep(seconds)
        elif path == "/__fault/raise":
            raise RuntimeError("a fault route raised")
        elif path == "/__fault/crash":
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            return self.app(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"fault":"survived"}']


def main(argv: list[str]) -> None:
    """Serve until the master is stopped."""
    fd, timeout, workers = (int(value) for value in argv)
    settings = load_settings()
    configure_logging(settings.log_level)
    options = {**gunicorn_settings("127.0.0.1", 0, workers), "bind": f"fd://{fd}", "timeout": timeout}

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            return FaultRoutes(create_app(settings))

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # As `bme-cds serve` does: build the app once in the master, so the tables exist before workers start
    # (two workers creating them at once on PostgreSQL collide).
    probe = create_app(settings).extensions["bme"]
    probe.pool.close()
    probe.engine.dispose()
    Server().run()


if __name__ == "__main__":
    main(sys.argv[1:])
