"""Shared harness for the SDK conformance tests (vendor-formats §6.3).

An official vendor SDK and the real `switchyard serve` binary each send the same logical events
to their own loopback capture server; the tests then compare what arrived. Fixtures:

- ``capture_server(vendor)``: starts a threaded HTTP server on 127.0.0.1:0 that records every
  request (``CapturedRequest``) and answers with the vendor's success body. Returns a
  ``CaptureServer``; all are stopped when the test ends.
- ``gateway(destinations, extra_config="")``: writes a config (listen 127.0.0.1:0, SQLite in the
  test's tmp dir, one source ``website`` with write key ``conformance-key``, the given
  destinations), starts ``.build/debug/switchyard serve`` and returns a ``Gateway`` once it
  logs that it is listening. The process is terminated when the test ends.

Nothing here talks to anything but 127.0.0.1: connections and name lookups for other hosts raise
``EgressRefused`` (an SDK falling back to its public default host fails loudly instead of leaking).

Dependencies: the standard library and pytest only.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WRITE_KEY = "conformance-key"
# The admin API always needs the token (no loopback exemption); ``request`` sends it.
ADMIN_TOKEN = "conformance-admin-token-0123"
SOURCE_NAME = "website"


# --- Egress guard --------------------------------------------------------------------------------

class EgressRefused(ConnectionRefusedError):
    """A test tried to reach a host other than the loopback address."""


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def _is_loopback(host: Any) -> bool:
    if host is None or host == "":
        return True  # a bind to "any" / a passive lookup, not a connection elsewhere
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        raise EgressRefused(f"conformance tests only talk to 127.0.0.1; refused lookup of {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        if not _is_loopback(address[0]):
            raise EgressRefused(f"conformance tests only talk to 127.0.0.1; refused connection to {address!r}")


def _guarded_connect(self, address):
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check_address(self, address)
    return _real_connect_ex(self, address)


# A proxy from the environment would turn loopback requests into requests to the proxy.
for _variable in ("NO_PROXY", "no_proxy"):
    os.environ[_variable] = ",".join(filter(None, [os.environ.get(_variable, ""), "127.0.0.1,localhost,::1"]))

# Installed at import, before any SDK module is imported by a test module, and kept for the session.
socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


# --- Capture server ------------------------------------------------------------------------------

@dataclass
class CapturedRequest:
    """One request as the capture server received it."""

    vendor: str
    method: str
    path: str
    """The path without the query string, e.g. ``/import``."""
    raw_query: str
    query: dict[str, str]
    """Query parameters, first value of each."""
    headers: dict[str, str]
    """Header names lowercased."""
    raw: bytes
    """The body as received (possibly gzipped)."""
    text: str
    """The body after Content-Encoding was undone, as UTF-8 text."""
    form: dict[str, str]
    """Form fields (``application/x-www-form-urlencoded``), first value of each; empty otherwise."""
    body: Any
    """Decoded body: the JSON of form field ``data`` for form posts (Mixpanel), the JSON body
    otherwise, a list of objects for NDJSON, ``None`` when the body is empty or not JSON."""
    received_at: float = field(default_factory=time.time)

    @property
    def records(self) -> list[Any]:
        """The event-like records this request carries: the body array, or the vendor's batch
        array (``events`` for Amplitude, ``batch`` for PostHog), or the single body object."""
        return _records_of(self.body)

    def basic_auth(self) -> tuple[str, str] | None:
        """The decoded ``Authorization: Basic`` user and password, or ``None``."""
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        decoded = base64.b64decode(value[6:].strip()).decode("utf-8")
        user, _, password = decoded.partition(":")
        return user, password


def _records_of(body: Any) -> list[Any]:
    if body is None:
        return []
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("events", "batch"):
            if isinstance(body.get(key), list):
                return body[key]
    return [body]


def _decode_body(raw: bytes, headers: dict[str, str]) -> tuple[str, dict[str, str], Any]:
    data = raw
    encoding = headers.get("content-encoding", "").lower()
    if encoding == "gzip" or (not encoding and raw[:2] == b"\x1f\x8b"):
        data = gzip.decompress(raw)
    elif encoding == "deflate":
        data = zlib.decompress(data)
    text = data.decode("utf-8")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    form: dict[str, str] = {}
    if content_type == "application/x-www-form-urlencoded":
        form = {key: values[0] for key, values in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
        payload = form.get("data")
        if payload is None:
            return text, form, None
        try:
            return text, form, json.loads(payload)
        except ValueError:
            # Older Mixpanel SDKs base64-encoded `data`.
            return text, form, json.loads(base64.b64decode(payload))
    if not text.strip():
        return text, form, None
    if content_type == "application/x-ndjson":
        return text, form, [json.loads(line) for line in text.splitlines() if line.strip()]
    try:
        return text, form, json.loads(text)
    except ValueError:
        return text, form, None


def _success_reply(vendor: str, request: CapturedRequest) -> tuple[int, dict[str, str], bytes]:
    """The vendor's success answer (vendor-formats §6.1, "The capture server must reply")."""
    count = len(request.records)
    if vendor == "mixpanel":
        if request.path.rstrip("/").endswith("/import"):
            # `status: 1` satisfies the Mixpanel SDK, `code: 200` our adapter.
            reply: Any = {"code": 200, "num_records_imported": count, "status": 1}
        else:
            reply = {"status": 1, "error": None}
    elif vendor == "amplitude":
        reply = {"code": 200, "events_ingested": count, "payload_size_bytes": 0, "server_upload_time": 0}
    elif vendor == "posthog":
        if request.path.startswith("/i/v1/"):
            # posthog-python's v1 capture mode insists on a per-uuid result.
            uuids = [record.get("uuid") for record in request.records if isinstance(record, dict)]
            reply = {"results": {uuid: {"result": "ok"} for uuid in uuids if uuid}}
        else:
            reply = {"status": 1}
    else:
        reply = {"ok": True}
    return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode()


@dataclass
class ScriptedReply:
    """A programmed answer used instead of the success reply (for retry/failure scenarios)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class CaptureServer:
    """A loopback HTTP server recording requests and answering like ``vendor``.

    ``url`` is ``http://127.0.0.1:PORT`` (no trailing slash): point an SDK or a destination's
    ``endpoint`` at it. ``script(...)`` queues answers that are used, in order, before falling
    back to the vendor's success reply; ``respond_with(function)`` answers by content.
    """

    def __init__(self, vendor: str):
        self.vendor = vendor
        self._requests: list[CapturedRequest] = []
        self._scripted: list[ScriptedReply] = []
        self._responder: Callable[[CapturedRequest], ScriptedReply | None] | None = None
        self._condition = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                parsed = urllib.parse.urlsplit(self.path)
                query = {key: values[0] for key, values in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
                try:
                    text, form, body = _decode_body(raw, headers)
                except Exception as error:  # recorded, so the test shows what was wrong
                    text, form, body = f"<undecodable body: {error}>", {}, None
                request = CapturedRequest(
                    vendor=server.vendor, method=self.command, path=parsed.path, raw_query=parsed.query,
                    query=query, headers=headers, raw=raw, text=text, form=form, body=body)
                status, reply_headers, reply = server._reply(request)
                # Recorded before answering: a client that sends its next request on the answer must find
                # this one recorded first (recorded after, a loaded run saw the two in the wrong order).
                server._record(request)
                self.send_response(status)
                for name, value in reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_POST = _handle
            do_PUT = _handle
            do_GET = _handle
            do_PATCH = _handle
            do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the recorded requests are the log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"capture-{vendor}", daemon=True)
        self._thread.start()

    def script(self, *replies: ScriptedReply) -> None:
        """Queues answers for the next requests, in order."""
        with self._condition:
            self._scripted.extend(replies)

    def respond_with(self, responder: Callable[[CapturedRequest], ScriptedReply | None]) -> None:
        """Answers each request with ``responder(request)`` (after any queued ``script`` replies);
        ``None`` falls back to the success reply. For answers that depend on the content."""
        with self._condition:
            self._responder = responder

    def _reply(self, request: CapturedRequest) -> tuple[int, dict[str, str], bytes]:
        with self._condition:
            scripted = self._scripted.pop(0) if self._scripted else None
            responder = self._responder
        if scripted is None and responder is not None:
            scripted = responder(request)
        if scripted is None:
            return _success_reply(self.vendor, request)
        body = scripted.body
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json", **scripted.headers}
        return scripted.status, headers, data

    def _record(self, request: CapturedRequest) -> None:
        with self._condition:
            self._requests.append(request)
            self._condition.notify_all()

    @property
    def requests(self) -> list[CapturedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._condition:
            return list(self._requests)

    def records(self, path: str | None = None) -> list[Any]:
        """Every record received so far (see ``CapturedRequest.records``), optionally only from
        requests whose path is ``path`` (compared without a trailing ``/``)."""
        wanted = path.rstrip("/") if path is not None else None
        return [record for request in self.requests
                if wanted is None or request.path.rstrip("/") == wanted
                for record in request.records]

    def wait_for(self, count: int, timeout: float = 20, *, requests: bool = False) -> list[CapturedRequest]:
        """Waits until at least ``count`` records (or requests, with ``requests=True``) arrived;
        returns the requests. Fails the test with what did arrive on timeout."""
        def reached() -> bool:
            if requests:
                return len(self._requests) >= count
            return sum(len(request.records) for request in self._requests) >= count

        with self._condition:
            if not self._condition.wait_for(reached, timeout=timeout):
                got = [(r.method, r.path, r.body) for r in self._requests]
                unit = "requests" if requests else "records"
                pytest.fail(f"{self.vendor} capture server: expected {count} {unit} within {timeout}s, got {got!r}")
            return list(self._requests)

    def clear(self) -> None:
        with self._condition:
            self._requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def capture_server() -> Iterable[Callable[[str], CaptureServer]]:
    """``capture_server("mixpanel" | "amplitude" | "posthog" | "webhook")`` → a running ``CaptureServer``."""
    servers: list[CaptureServer] = []

    def start(vendor: str) -> CaptureServer:
        server = CaptureServer(vendor)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


# --- Gateway -------------------------------------------------------------------------------------

def switchyard_binary() -> Path:
    """``$SWITCHYARD_BINARY`` or ``.build/debug/switchyard``; fails the test when it is missing."""
    path = Path(os.environ.get("SWITCHYARD_BINARY", REPO_ROOT / ".build" / "debug" / "switchyard"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"the switchyard executable is missing at {path}; run `swift build` in {REPO_ROOT} first")
    return path


def _destinations_text(destinations: str | list[dict[str, Any]]) -> str:
    """YAML for the ``destinations:`` key: a YAML string of list items as given, or a list of
    mappings written as JSON (which YAML reads as flow style)."""
    if isinstance(destinations, str):
        text = destinations.strip("\n")
        if text.lstrip().startswith("destinations:"):
            return text + "\n"
        indented = "\n".join("  " + line if line.strip() else line for line in text.splitlines())
        return "destinations:\n" + indented + "\n"
    return "destinations: " + json.dumps(destinations) + "\n"


class Gateway:
    """A running ``switchyard serve``. ``url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, directory: Path, destinations: str | list[dict[str, Any]], extra_config: str = ""):
        self.directory = directory
        self.config_path = directory / "switchyard.yaml"
        config = (
            "server:\n"
            "  listen: 127.0.0.1:0\n"
            f"  admin_token: {ADMIN_TOKEN}\n"
            "storage:\n"
            f"  sqlite: {json.dumps(str(directory / 'data' / 'switchyard.db'))}\n"
            "sources:\n"
            f"  - name: {SOURCE_NAME}\n"
            f"    write_key: {WRITE_KEY}\n"
            + _destinations_text(destinations)
            + (extra_config.strip("\n") + "\n" if extra_config else "")
        )
        self.config_path.write_text(config)
        self.log: list[str] = []
        self._listening = threading.Event()
        self.port: int | None = None
        self.process = subprocess.Popen(
            [str(switchyard_binary()), "serve", "--config", str(self.config_path), "--log-level", "info"],
            cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_log, name="switchyard-stderr", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 60
        while not self._listening.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._reader.join(1)
                self.stop()
                pytest.fail("switchyard serve did not start listening:\n" + config + "\n" + "\n".join(self.log))
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # not a JSON log line (e.g. a config error message)
            if entry.get("message") == "switchyard is listening":
                address = str(entry.get("switchyard.address", ""))
                host, _, port = address.rpartition(":")
                if host == "127.0.0.1" and port.isdigit():
                    self.port = int(port)
                    self._listening.set()

    def log_entries(self) -> list[dict[str, Any]]:
        """The JSON log lines so far, parsed."""
        entries = []
        for line in list(self.log):
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass
        return entries

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
                ) -> tuple[int, Any]:
        """Sends a request to the gateway (with the admin token unless ``headers`` bring their own
        ``Authorization``); returns (status, parsed JSON body or text)."""
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        all_headers.update(headers or {})
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, payload.decode("utf-8", "replace")

    def send(self, events: list[dict[str, Any]]) -> Any:
        """POSTs ``{"batch": events}`` to ``/v1/batch`` with the source's write key; asserts 200."""
        credentials = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        status, reply = self.request("POST", "/v1/batch", {"batch": events},
                                     {"Authorization": f"Basic {credentials}"})
        assert status == 200, f"gateway answered {status}: {reply!r}"
        return reply

    def wait_for(self, capture: CaptureServer, count: int, timeout: float = 20, *, requests: bool = False
                 ) -> list[CapturedRequest]:
        """Waits until ``capture`` received ``count`` records (see ``CaptureServer.wait_for``);
        on timeout the failure message includes the gateway's log."""
        try:
            return capture.wait_for(count, timeout, requests=requests)
        except pytest.fail.Exception as failure:
            pytest.fail(f"{failure}\n--- switchyard log ---\n" + "\n".join(self.log[-60:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._reader.join(2)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterable[Callable[..., Gateway]]:
    """``gateway(destinations, extra_config="")`` → a running ``Gateway``.

    ``destinations``: YAML list items (a string) or a list of mappings. Give each destination
    ``endpoint`` (or ``url``) = a capture server's ``url`` and ``batch: {max_wait: 50ms}`` so
    deliveries are prompt. ``extra_config``: more top-level YAML (e.g. an ``identity:`` block).
    """
    gateways: list[Gateway] = []

    def start(destinations: str | list[dict[str, Any]], extra_config: str = "") -> Gateway:
        directory = tmp_path / f"gateway-{len(gateways)}"
        directory.mkdir()
        instance = Gateway(directory, destinations, extra_config)
        gateways.append(instance)
        return instance

    yield start
    for instance in gateways:
        instance.stop()


# --- Comparison helpers --------------------------------------------------------------------------

def type_name(value: Any) -> str:
    """JSON type of ``value``: null, bool, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape(value: Any, prefix: str = "") -> dict[str, str]:
    """Flattens a JSON value to ``{"a.b": type}`` for every field (arrays are leaves), so two
    objects can be compared by field names and value types."""
    if isinstance(value, dict):
        result: dict[str, str] = {}
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            result[path] = type_name(child)
            result.update(shape(child, path))
        return result
    return {}


def known_differences(readme: Path) -> list[str]:
    """The bullet items of the README section whose heading starts with "Known differences":
    the backticked field path at the start of each bullet (e.g. ``- `properties.mp_lib`: …``)."""
    fields: list[str] = []
    in_section = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            in_section = line.lstrip("#").strip().lower().startswith("known differences")
            continue
        if in_section and line.startswith(("- ", "* ")):
            item = line[2:].strip()
            if item.startswith("`") and "`" in item[1:]:
                fields.append(item[1:item.index("`", 1)])
    return fields
