"""A real S3-compatible server (moto, as a subprocess) and a fault-injecting HTTP proxy for the storage tests.

`MotoServer` runs `python -m moto.server` on 127.0.0.1 so a test can stop it mid-run; its admin calls (create a
bucket, set a policy, upload, delete) are plain HTTP with a dummy signature, which moto accepts. Moto enforces bucket
policies and object ACLs on reads: unsigned reads of a private object, and any read under a Deny, get 403.
`FaultProxy` sits in front of it and can answer 503/500/429, reset connections, truncate bodies, deny access (403,
S3's own XML), stall, or stop listening, for the first N requests that match a key pattern.
The pytest fixtures that use these live in `tests/conftest_s3.py`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"
TEST_KEY, TEST_SECRET = "AKIACLIMNORMTEST", "s3cr3t/CLIMNORM+never-shown"  # test credentials: must never be shown
# moto checks a HEAD against "s3:HeadObject" (AWS itself checks s3:GetObject), so policies name both
_READ_ACTIONS = ["s3:GetObject", "s3:HeadObject"]
# moto does not check signatures, only whether a request is signed: admin calls look signed so that they may
# overwrite objects that anonymous requests could not
_ADMIN_AUTH = "AWS4-HMAC-SHA256 Credential=admin/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Block until something accepts connections on `port`, or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s")


class MotoServer:
    """`moto_server` in a subprocess on 127.0.0.1, with admin calls for the test set-up."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        """Start the server and wait until it answers."""
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        cmd = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)]
        self._proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        """Stop the server (the port then refuses connections)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def _call(
        self,
        method: str,
        path: str,
        body: object = None,
        size: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
        headers = {"Authorization": _ADMIN_AUTH, **(headers or {})}
        if size is not None:
            headers["Content-Length"] = str(size)
        try:
            conn.request(method, path, body=body, headers=headers)  # type: ignore[arg-type]
            resp = conn.getresponse()
            data = resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"moto {method} {path}: {resp.status} {data[:200]!r}")
            return data
        finally:
            conn.close()

    def create_bucket(self, bucket: str) -> None:
        """Create a bucket (in us-east-1)."""
        self._call("PUT", f"/{bucket}")

    def put(self, bucket: str, key: str, data: bytes | Path, public: bool = False) -> None:
        """Upload bytes, or a local file streamed from disk, as `bucket/key` (with a public-read ACL if asked)."""
        headers = {"x-amz-acl": "public-read"} if public else {}
        if isinstance(data, Path):
            with data.open("rb") as fh:
                self._call("PUT", f"/{bucket}/{key}", fh, data.stat().st_size, headers)
        else:
            self._call("PUT", f"/{bucket}/{key}", data, len(data), headers)

    def set_policy(self, bucket: str, public_read: bool = False, deny_prefixes: tuple[str, ...] = ()) -> None:
        """A bucket policy: anonymous reads for everyone if `public_read`; reads denied to all under prefixes.

        Moto enforces both on object reads: an explicit Deny gives 403 even to signed requests, and an unsigned
        request for an object that neither the policy nor the object's ACL makes public gives 403 too.
        """
        statements: list[dict[str, object]] = []
        if public_read:
            statements.append(
                {"Effect": "Allow", "Principal": "*", "Action": _READ_ACTIONS, "Resource": f"arn:aws:s3:::{bucket}/*"}
            )
        for prefix in deny_prefixes:
            statements.append(
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": _READ_ACTIONS,
                    "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
                }
            )
        body = json.dumps({"Version": "2012-10-17", "Statement": statements}).encode()
        self._call("PUT", f"/{bucket}?policy", body, len(body))

    def delete(self, bucket: str, key: str) -> None:
        """Delete one object."""
        self._call("DELETE", f"/{bucket}/{key}")

    def reset(self) -> None:
        """Drop every bucket and object (moto's own reset endpoint)."""
        self._call("POST", "/moto-api/reset")


@dataclass
class Fault:
    """One rule of the proxy: what to do to the first `count` requests matching `pattern` (None: all of them)."""

    pattern: str
    action: str  # "status", "reset", "truncate", "stall", "deny", "deny-unsigned"
    count: int | None = None
    status: int = 503
    keep: int = 0  # bytes of the body sent before a truncation
    seconds: float = 0.0  # how long a stall lasts
    methods: frozenset[str] = frozenset({"GET", "HEAD"})
    hits: int = 0

    def takes(self, method: str, path: str) -> bool:
        """Whether this rule applies to the request, counting it if so."""
        if method not in self.methods or not re.search(self.pattern, path):
            return False
        if self.count is not None and self.hits >= self.count:
            return False
        self.hits += 1
        return True


@dataclass(frozen=True)
class Seen:
    """One request the proxy received and what it did with it."""

    method: str
    path: str
    range: str | None
    signed: bool
    outcome: str


_ERROR_CODES = {
    403: "AccessDenied",
    404: "NoSuchKey",
    429: "SlowDown",
    500: "InternalError",
    502: "BadGateway",
    503: "SlowDown",
    504: "GatewayTimeout",
}


def _s3_error(status: int) -> bytes:
    code = _ERROR_CODES.get(status, "Error")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>injected {status}</Message></Error>"
    ).encode()


@dataclass
class _ProxyState:
    upstream_port: int
    page_size: int | None = None  # forced max-keys of ListObjectsV2 requests, to test pagination
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self, method: str, path: str, signed: bool) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.action == "deny-unsigned" and signed:
                    continue
                if fault.takes(method, path):
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request log lines."""

    def _forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
        state = self.server.state
        conn = getattr(self, "_upstream", None)
        if conn is None:
            conn = self._upstream = http.client.HTTPConnection(HOST, state.upstream_port, timeout=60)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        path = self.path
        if state.page_size and "list-type=2" in path and "max-keys=" not in path:
            path += f"&max-keys={state.page_size}"
        try:
            conn.request(self.command, path, body=body, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._upstream = None
            raise
        data = resp.read()
        dropped = (
            ("transfer-encoding", "connection")
            if self.command == "HEAD"
            else ("transfer-encoding", "connection", "content-length")
        )
        kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in dropped]
        return resp.status, kept, data

    def _send(self, status: int, headers: list[tuple[str, str]], data: bytes, keep: int | None = None) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if self.command != "HEAD" or not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data if keep is None else data[:keep])
        self.wfile.flush()

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _record(self, outcome: str) -> None:
        state = self.server.state
        signed = "authorization" in {k.lower() for k in self.headers}
        with state.lock:
            state.seen.append(Seen(self.command, self.path, self.headers.get("Range"), signed, outcome))

    def _handle(self) -> None:
        signed = "authorization" in {k.lower() for k in self.headers}
        fault = self.server.state.pick(self.command, self.path, signed)
        action = fault.action if fault else "pass"
        self._record(action if action != "status" else f"status {fault.status}")  # type: ignore[union-attr]
        if fault is None:
            self._send(*self._forward())
        elif fault.action == "status":
            self._send(fault.status, [("Content-Type", "application/xml")], _s3_error(fault.status))
        elif fault.action in ("deny", "deny-unsigned"):
            self._send(403, [("Content-Type", "application/xml")], _s3_error(403))
        elif fault.action == "reset":
            self._reset()
        elif fault.action == "stall":
            time.sleep(fault.seconds)
            self._reset()
        elif fault.action == "truncate":
            status, headers, data = self._forward()
            self._send(status, headers, data, keep=fault.keep)
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, state: _ProxyState) -> None:
        self.state = state
        self.open_sockets: set[socket.socket] = set()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """Remember each connection so that `close_all` can cut it."""
        with self.state.lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)  # type: ignore[arg-type]

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        """Forget a connection once its handler is done with it."""
        with self.state.lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Cut every open client connection (as a server that goes away would)."""
        with self.state.lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of an S3 server that injects faults into chosen requests."""

    def __init__(self, upstream_port: int, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://{HOST}:{self.port}"
        self.state = _ProxyState(upstream_port)
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FaultProxy:
        """Start listening (in a background thread)."""
        self._server = _ProxyServer(self.port, self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open connections: from then on connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_all()
            self._server = None

    def add(self, pattern: str, action: str, count: int | None = None, **kwargs: object) -> Fault:
        """Add a fault rule (see `Fault`); rules are tried in the order they were added."""
        fault = Fault(pattern, action, count, **kwargs)  # type: ignore[arg-type]
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def set_page_size(self, keys: int | None) -> None:
        """Make every ListObjectsV2 page hold at most `keys` keys (None: the server's default of 1,000)."""
        self.state.page_size = keys

    def clear(self) -> None:
        """Remove every rule and forget the requests seen."""
        with self.state.lock:
            self.state.faults.clear()
            self.state.seen.clear()

    def seen(self, pattern: str = "", method: str | None = None) -> list[Seen]:
        """The requests received so far whose path matches `pattern` (and method, if given)."""
        with self.state.lock:
            return [s for s in self.state.seen if re.search(pattern, s.path) and method in (None, s.method)]


@contextlib.contextmanager
def running_moto() -> Iterator[MotoServer]:
    """A moto server for the duration of the block."""
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


def write_netcdf(path: Path, steps: int = 200, lat: int = 60, lon: int = 120, shuffle: bool = False) -> Path:
    """A NetCDF4 file shaped like a NEX-GDDP-CMIP6 one: float32 `tas` (time, lat, lon), zlib, one step per chunk."""
    import netCDF4

    rng = np.random.default_rng(7)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", lat)
        ds.createDimension("lon", lon)
        t = ds.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 1950-01-01", "standard"
        ds.createVariable("lat", "f8", ("lat",))[:] = np.linspace(-59.875, 89.875, lat)
        ds.createVariable("lon", "f8", ("lon",))[:] = np.linspace(0.125, 359.875, lon)
        tas = ds.createVariable(
            "tas",
            "f4",
            ("time", "lat", "lon"),
            zlib=True,
            complevel=1,
            shuffle=shuffle,
            chunksizes=(1, lat, lon),
            fill_value=np.float32(1e20),
        )
        tas.units = "K"
        base = 250 + 40 * np.cos(np.radians(np.linspace(-60, 90, lat)))[:, None] * np.ones((1, lon))
        for i in range(steps):
            t[i] = 20000 + i
            tas[i] = (base + rng.normal(0, 2, (lat, lon))).astype("f4")
    return path
