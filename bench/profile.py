"""Profile the service under load: `python -m bench.profile [--seconds 15] [--idle]`.

Starts `bme-cds serve` (auth on), loads it with wrk as part 2 of the harness does, samples every
gunicorn worker with py-spy (`pip install py-spy`; needs ptrace: root or CAP_SYS_PTRACE) and prints
the functions with the most samples, by own time and including callees.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path

from bench.data import REPO
from bench.data import real_patient_request
from bench.httpbench import PATH
from bench.httpbench import start_service
from bench.load import BodyTemplate
from bench.load import run_wrk
from bench.servers import Signer


def _frame(frame: str) -> str:
    """'fn (path/to/file.py:12)' -> 'file.py:fn' (lines dropped so one function is one entry)."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in (str(REPO) + "/", "site-packages/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{name}"


# Functions whose own samples are a thread sleeping between batches, not CPU.
_SLEEPERS = frozenset({"service/store/feedback.py:_flush_periodically"})


def _package(frame: str) -> str:
    """'service/core/features.py:fn' -> that path; 'flask/app.py:fn' -> 'flask' (a third-party package)."""
    path = frame.split(":", 1)[0]
    return path if path.startswith(("service/", "bench/")) else path.split("/", 1)[0]


def summarize(raw_files: Sequence[Path], top: int) -> str:
    """Own and inclusive sample counts per function from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for raw in raw_files:
        for line in raw.read_text(encoding="utf-8").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame(f) for f in stack.split(";")]
            if frames[-1] in _SLEEPERS:
                continue  # a background thread asleep in time.sleep (py-spy cannot tell it from work)
            total += count
            own[frames[-1]] += count
            by_package[_package(frames[-1])] += count
            for name in set(frames):
                inclusive[name] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "own time by module or package:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_package.most_common(top)]
    lines += ["", "including callees:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service under wrk load and print py-spy's view of its workers."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--idle", action="store_true", help="sample idle threads too (wall time: I/O waits show)")
    args = parser.parse_args(argv)
    if shutil.which("py-spy") is None or shutil.which("wrk") is None:
        print("needs py-spy (pip install py-spy) and wrk (apt-get install -y wrk)", file=sys.stderr)
        return 2
    body = real_patient_request(datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="bme-profile-") as tmp:
        workdir = Path(tmp)
        signer = Signer()
        service = start_service(workdir, signer, [], "profile")
        try:
            tokens = [service.token() for _ in range(600 * (args.seconds + 5))]
            load = threading.Thread(
                target=run_wrk,
                args=(f"http://127.0.0.1:{service.port}{PATH}", BodyTemplate.of(body), tokens),
                kwargs={
                    "connections": args.connections,
                    "threads": 2,
                    "duration": args.seconds + 4,
                    "workdir": workdir / "wrk",
                },
                daemon=True,
            )
            load.start()
            raws = []
            spies = []
            for pid in service.process.children():
                raw = workdir / f"worker-{pid}.txt"
                raws.append(raw)
                spies.append(
                    subprocess.Popen(
                        [
                            "py-spy",
                            "record",
                            "-p",
                            str(pid),
                            "-d",
                            str(args.seconds),
                            "-r",
                            "200",
                            "--format",
                            "raw",
                            "-o",
                            str(raw),
                        ]
                        + (["--idle"] if args.idle else []),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for spy in spies:
                spy.wait(timeout=args.seconds + 60)
            load.join(timeout=args.seconds + 60)
        finally:
            service.process.stop()
        print(summarize([r for r in raws if r.exists()], args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
