"""The shipped nginx front proxy (deploy/nginx/bme-cds.conf) in front of the shipped gunicorn settings.

nginx -t accepts the file as shipped (only ports and certificate paths replaced); through it, many more slow
uploads than gunicorn has threads do not delay health checks or hook calls (nginx holds the bodies), and the
answers nginx writes itself (a killed worker's 502, a body over the limit) are OperationOutcomes, not HTML.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.faults.served import Gunicorn
from tests.faults.served import serve
from tests.processes import stop
from tests.security.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "nginx" / "bme-cds.conf"
EXAMPLE = (ROOT / "examples" / "patient-view-extensive-vertebral-bme.json").read_bytes()
SLOW_UPLOADS = 40  # more than gunicorn's 2 workers x 8 threads
START_ATTEMPTS = 5


def _nginx() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if found is None:
        if os.environ.get("BME_TEST_REQUIRE_NGINX") == "1":
            pytest.fail("nginx was installed for this run but is not on PATH")
        pytest.skip("nginx is not installed (Debian package nginx; .ci/run installs it)")
    return found


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the shipped file terminates TLS)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "proxy.crt", folder / "proxy.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _configure(folder: Path, upstream_port: int, listen_port: int) -> Path:
    """The shipped file with only its ports and certificate paths replaced, inside a minimal nginx.conf."""
    cert, key = _certificate(folder)
    text = SHIPPED.read_text(encoding="utf-8")
    for old, new in (
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{listen_port} ssl;"),
        ("/etc/nginx/tls/bme.example.org.crt", str(cert)),
        ("/etc/nginx/tls/bme.example.org.key", str(key)),
    ):
        assert text.count(old) == 1, f"{SHIPPED} no longer has exactly one {old!r}"
        text = text.replace(old, new)
    (folder / "bme-cds.conf").write_text(text, encoding="utf-8")
    main = folder / "nginx.conf"
    temp = " ".join(f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                        "scgi"))
    user = "user root;" if os.geteuid() == 0 else ""  # worker processes must reach the temporary folders
    main.write_text(
        f"daemon off; {user} worker_processes 1; pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'};\n"
        f"events {{ worker_connections 512; }}\n"
        f"http {{ access_log off; {temp} include {folder / 'bme-cds.conf'}; }}\n",
        encoding="utf-8",
    )
    return main


class Proxy:
    """nginx listening with TLS on `port`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate

    def connect(self, timeout: float = 10) -> ssl.SSLSocket:
        """A TLS connection to the proxy."""
        return self.context.wrap_socket(socket.create_connection(("127.0.0.1", self.port), timeout=timeout))

    def exchange(self, raw: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        """Send a whole request; status, headers (lower-case names) and body of the answer."""
        with self.connect(timeout) as sock:
            sock.sendall(raw)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}
        return int(lines[0].split(" ", 2)[1]), headers, body


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Gunicorn]]:
    """nginx (the shipped file) in front of two gthread workers (the shipped settings, fault routes added)."""
    nginx = _nginx()
    tmp = tmp_path_factory.mktemp("proxy")
    with serve(tmp, {"BME_AUTH": "off"}, timeout=30, workers=2) as served:
        # nginx binds its port itself: if another process takes it first, nginx exits and we take a new one.
        for _ in range(START_ATTEMPTS):
            port = free_port()
            main = _configure(tmp, served.port, port)
            checked = subprocess.run([nginx, "-t", "-c", str(main), "-p", str(tmp)], capture_output=True,
                                     text=True)
            assert checked.returncode == 0, checked.stderr  # the shipped file is valid nginx configuration
            process = subprocess.Popen([nginx, "-c", str(main), "-p", str(tmp)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            proxy = Proxy(port)
            if _answers(proxy, process):
                break
            stop(process)
        else:
            pytest.fail(f"nginx did not start: {(tmp / 'error.log').read_text()[-2000:]}")
        try:
            yield proxy, served
        finally:
            stop(process)


def _answers(proxy: Proxy, process: subprocess.Popen[bytes]) -> bool:
    for _ in range(100):  # at most about 10 s; not a timing assertion
        if process.poll() is not None:
            return False  # most likely the port was taken
        try:
            if proxy.exchange(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _outcome(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict[str, object]:
    assert status == expected, body[:300]
    assert headers["content-type"] == "application/json"
    assert b"<html" not in body.lower()
    outcome: dict[str, object] = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome


def test_slow_uploads_beyond_every_thread_wait_in_the_proxy(stack: tuple[Proxy, Gunicorn]) -> None:
    proxy, _served = stack
    slow = []
    try:
        for _ in range(SLOW_UPLOADS):
            sock = proxy.connect(timeout=30)
            sock.sendall(b"POST /cds-services/bme-patient-view HTTP/1.1\r\nHost: t\r\nContent-Type: "
                         b"application/json\r\nContent-Length: 10000\r\n\r\n{\"hook\": \"")
            slow.append(sock)
        time.sleep(0.5)
        hook = (b"POST /cds-services/bme-patient-view HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(EXAMPLE)) + EXAMPLE
        for _ in range(10):
            started = time.monotonic()
            assert proxy.exchange(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200
            assert time.monotonic() - started < 1.0
        status, _headers, body = proxy.exchange(hook, timeout=30)
        assert status == 200 and json.loads(body)["cards"]
    finally:
        for sock in slow:
            sock.close()


def test_a_killed_worker_is_a_json_502_from_the_proxy(stack: tuple[Proxy, Gunicorn]) -> None:
    proxy, served = stack
    booted = len(served.messages("Booting worker"))
    status, headers, body = proxy.exchange(b"GET /__fault/crash HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    outcome = _outcome(status, headers, body, 502)
    assert headers["retry-after"] == "5"
    assert "BME-0502" in json.dumps(outcome)
    served.wait_for_workers(booted + 1)


def test_a_body_over_the_limit_is_a_json_413_from_the_proxy(stack: tuple[Proxy, Gunicorn]) -> None:
    proxy, _served = stack
    status, headers, body = proxy.exchange(
        b"POST /cds-services/bme-patient-view HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 17000000\r\n\r\n{")
    outcome = _outcome(status, headers, body, 413)
    assert "BME-0413" in json.dumps(outcome)


def test_the_service_own_errors_pass_through_the_proxy_untouched(stack: tuple[Proxy, Gunicorn]) -> None:
    proxy, _served = stack
    status, headers, body = proxy.exchange(b"GET /no-such-page HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    outcome = _outcome(status, headers, body, 404)
    assert "BME-0404" in json.dumps(outcome)
