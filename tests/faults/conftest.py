"""Fault fixtures: a real PostgreSQL (tests/pg.py) and small tmpfs mounts for read-only and full disks."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import TempPostgres
from tests.pg import postgres_unavailable


class Mount:
    """A tmpfs of a few hundred kB that can be remounted read-only or filled up."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], check=True)

    def read_only(self, on: bool) -> None:
        """Remount read-only (on) or read-write (off): root ignores file modes, not a read-only mount."""
        subprocess.run(["mount", "-o", f"remount,{'ro' if on else 'rw'}", str(self.path)], check=True)

    def fill(self) -> Path:
        """Fill the disk to the last byte; returns the filler file (delete it to free the space)."""
        filler = self.path / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\1" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: full
        finally:
            os.close(fd)
        return filler

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Mount]:
    """A 2 MB tmpfs for the database (needs root, as the development machines and CI run)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    path = tmp_path / "disk"
    path.mkdir()
    try:
        mount = Mount(path, 2048)
    except subprocess.CalledProcessError:
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield mount
    mount.unmount()


@pytest.fixture
def postgres() -> Iterator[TempPostgres]:
    """A throwaway PostgreSQL cluster on loopback (per test: faults stop and freeze it)."""
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    cluster = TempPostgres()
    cluster.url = cluster.start()  # type: ignore[attr-defined]
    yield cluster
    for pid in cluster_pids(cluster):
        _signal(pid, "CONT")
    cluster.stop()


def cluster_pids(cluster: TempPostgres) -> list[int]:
    """The postmaster and every backend of the cluster."""
    if cluster.proc is None:
        return []
    root = cluster.proc.pid
    found = subprocess.run(["pgrep", "-f", f"-p {cluster.port}"], capture_output=True, text=True).stdout.split()
    children = subprocess.run(["pgrep", "-P", str(root)], capture_output=True, text=True).stdout.split()
    pids = {root, *(int(p) for p in found), *(int(p) for p in children)}
    for pid in list(pids):
        grand = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids.update(int(p) for p in grand)
    return sorted(pids)


def _signal(pid: int, name: str) -> None:
    subprocess.run(["kill", f"-{name}", str(pid)], check=False, capture_output=True)


def freeze(cluster: TempPostgres, on: bool) -> None:
    """SIGSTOP (or SIGCONT) the postmaster and every backend: the database stops answering mid-call."""
    for pid in cluster_pids(cluster):
        _signal(pid, "STOP" if on else "CONT")


def stop(cluster: TempPostgres) -> None:
    """Stop the server but keep its files (a database outage): a fast shutdown that drops every client."""
    import socket
    import time

    assert cluster.proc is not None
    postmasters = subprocess.run(["pgrep", "-P", str(cluster.proc.pid)], capture_output=True, text=True).stdout
    for pid in postmasters.split():
        _signal(int(pid), "INT")
    cluster.proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", cluster.port)) != 0:
                return
        time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not stop")


def restart(cluster: TempPostgres) -> None:
    """Start the stopped server again on the same files and port."""
    import socket
    import time

    argv = ["postgres", "-D", str(cluster.dir / "data"), "-p", str(cluster.port), "-h", "127.0.0.1",
            "-k", str(cluster.dir), "-c", "fsync=off"]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "nobody", "--", *argv]
    cluster.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", cluster.port)) == 0:
                time.sleep(0.5)
                return
        time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not come back")


def immutable(folder: Path, on: bool) -> None:
    """chattr +i the database files and their folder: even root cannot write them (chmod does not stop root)."""
    # Not the -shm file: SQLite maps it into memory, and a write fault on an immutable mapping is SIGBUS,
    # which a plain read-only file (what an operator's chmod makes) never causes.
    files = [path for path in folder.iterdir() if not path.name.endswith("-shm")]
    paths = [*files, folder] if on else [folder, *files]
    for path in paths:
        subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True, capture_output=True)
