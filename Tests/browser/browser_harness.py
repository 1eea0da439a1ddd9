"""Helpers for the browser tests of ``/analytics.js`` (fixtures are in conftest.py).

- ``Site``: a static page server on ``127.0.0.1:0`` (``.origin``, ``.url(name)``, ``.write(name, html)``).
- ``Capture``: a loopback server recording what the gateway's webhook destination posts
  (``.messages(**fields)``: whole stored messages, context included).
- ``Gateway``: the real ``.build/debug/switchyard serve`` (or ``$SWITCHYARD_BINARY``) with a config in
  a tmp dir: ``server.cors_origins`` = the site's origin, SQLite under the dir, source ``website``
  with write key ``browser-key``, admin token ``ADMIN_TOKEN`` (always required), a webhook
  destination to a ``Capture``. ``.stop()`` sends SIGTERM and waits; ``.start()`` starts it again on
  the same port and data. ``.activity(tab)``, ``.anonymous_activity(id)``, ``.admin(path)`` query the
  admin API; ``.get(path)`` sends the admin token unless ``token=False``.
- ``BrowserSetup``: a WebDriver, the site, the gateway and the capture together; ``open(page)`` waits
  for the client, ``wait_for_events`` / ``wait_for_message`` wait for what the gateway stored or
  delivered, failing with the browser console and the gateway log.
- ``wait_until(condition, timeout, message)``: polls ``condition`` until it returns something truthy
  (returned) or fails the test after ``timeout`` seconds.

Standard library and pytest only; selenium is imported by the ``browser`` fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WRITE_KEY = "browser-key"
ADMIN_TOKEN = "browser-admin-token-0123456789"
SOURCE_NAME = "website"
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
INSTALL_HINT = ("apt-get install -y chromium chromium-driver && python3 -m pip install selenium "
                "(chromedriver expected at /usr/bin/chromedriver, or set $CHROMEDRIVER)")

# A proxy from the environment would send loopback requests to the proxy.
for _variable in ("NO_PROXY", "no_proxy"):
    os.environ[_variable] = ",".join(filter(None, [os.environ.get(_variable, ""), "127.0.0.1,localhost,::1"]))
# Selenium Manager must not download browsers or drivers: the tests use the system's.
os.environ.setdefault("SE_OFFLINE", "true")


# --- Tools --------------------------------------------------------------------------------------

def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_tools() -> list[str]:
    missing = []
    if chromium_binary() is None:
        missing.append("chromium")
    if not (CHROMEDRIVER.is_file() and os.access(CHROMEDRIVER, os.X_OK)):
        missing.append(f"chromedriver ({CHROMEDRIVER})")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium Python package")
    return missing


def wait_until(condition: Callable[[], Any], timeout: float = 20, message: Callable[[], str] | str = "",
               interval: float = 0.1) -> Any:
    """Polls ``condition`` until it returns a truthy value, which is returned. Fails the test after
    ``timeout`` seconds; the failure shows ``message`` (a string or a function called then)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = message() if callable(message) else message
            pytest.fail(f"condition not met within {timeout}s: {detail}", pytrace=False)
        time.sleep(interval)


# --- Static site --------------------------------------------------------------------------------

class Site:
    """Serves files from a directory on 127.0.0.1:PORT, uncached."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

        class Handler(SimpleHTTPRequestHandler):
            def end_headers(self) -> None:
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(directory)))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="site", daemon=True)
        self._thread.start()

    def write(self, name: str, html: str) -> None:
        (self.directory / name).write_text(html)

    def url(self, name: str) -> str:
        return f"{self.origin}/{name}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- Webhook capture ----------------------------------------------------------------------------

class Capture:
    """Records the JSON bodies the gateway's webhook destination posts."""

    def __init__(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with capture._lock:
                    capture._messages.extend(body if isinstance(body, list) else [body])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, name="capture", daemon=True).start()

    def messages(self, **match: Any) -> list[dict[str, Any]]:
        """Delivered messages whose top-level fields equal ``match`` (all of them without)."""
        with self._lock:
            return [m for m in self._messages if all(m.get(key) == value for key, value in match.items())]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- Gateway ------------------------------------------------------------------------------------

def switchyard_binary() -> Path:
    path = Path(os.environ.get("SWITCHYARD_BINARY", REPO_ROOT / ".build" / "debug" / "switchyard"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"the switchyard executable is missing at {path}; run `swift build` in {REPO_ROOT} first",
                    pytrace=False)
    return path


class Gateway:
    """A ``switchyard serve`` process; ``url`` is ``http://127.0.0.1:PORT``. The port and the data
    directory stay the same across ``stop()`` and ``start()``."""

    def __init__(self, directory: Path, cors_origin: str, webhook_url: str):
        self.directory = directory
        self.config_path = directory / "switchyard.yaml"
        self.cors_origin = cors_origin
        self.webhook_url = webhook_url
        self.port = 0
        self.log: list[str] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        self.config_path.write_text(
            "server:\n"
            f"  listen: 127.0.0.1:{self.port}\n"
            f"  admin_token: {ADMIN_TOKEN}\n"
            f"  cors_origins: [{json.dumps(self.cors_origin)}]\n"
            "storage:\n"
            f"  sqlite: {json.dumps(str(self.directory / 'data' / 'switchyard.db'))}\n"
            "sources:\n"
            f"  - name: {SOURCE_NAME}\n"
            f"    write_key: {WRITE_KEY}\n"
            "destinations:\n"
            "  - name: capture\n"
            "    type: webhook\n"
            f"    url: {json.dumps(self.webhook_url)}\n"
            "    batch: { max_events: 1, max_wait: 50ms }\n"
            "    retry: { initial_backoff: 100ms, max_backoff: 1s }\n")

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "the gateway is already running"
        self._write_config()
        listening = threading.Event()
        self.process = subprocess.Popen(
            [str(switchyard_binary()), "serve", "--config", str(self.config_path), "--log-level", "info"],
            cwd=self.directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_log, args=(self.process, listening),
                                        name="switchyard-stderr", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 60
        while not listening.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("switchyard serve did not start listening:\n" + self.log_text(), pytrace=False)

    def _read_log(self, process: subprocess.Popen[bytes], listening: threading.Event) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # not a JSON log line, e.g. a config error
            if entry.get("message") == "switchyard is listening":
                host, _, port = str(entry.get("switchyard.address", "")).rpartition(":")
                if host == "127.0.0.1" and port.isdigit():
                    self.port = int(port)
                    listening.set()

    def stop(self) -> None:
        """SIGTERM, then waits for the process to exit (it finishes in-flight requests first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(2)

    def log_text(self, last: int = 40) -> str:
        return "\n".join(self.log[-last:])

    def get(self, path: str, headers: dict[str, str] | None = None, token: bool = True
            ) -> tuple[int, dict[str, str], bytes]:
        """GET ``path`` (with the admin token as a bearer header unless ``token`` is false); returns
        (status, lowercased headers, body)."""
        all_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if token else {}
        all_headers.update(headers or {})
        request = urllib.request.Request(self.url + path, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()

    def admin(self, path: str) -> Any:
        """GET an admin API path with the admin token and return its JSON; fails on a non-200."""
        status, _, body = self.get(path)
        assert status == 200, f"GET {path} answered {status}: {body[:300]!r}"
        return json.loads(body)

    def activity(self, tab: str) -> list[dict[str, Any]]:
        return self.admin(f"/api/activity?tab={tab}&limit=500")["entries"]

    def anonymous_activity(self, anonymous_id: str) -> list[dict[str, Any]]:
        return self.admin(f"/api/anonymous/{urllib.request.quote(anonymous_id, safe='')}/activity?limit=500")["entries"]


# --- Browser ------------------------------------------------------------------------------------

def console_lines(driver: Any) -> list[str]:
    """Browser console lines logged since the last call (Chromium hands each line out once)."""
    try:
        return [f"{entry.get('level')}: {entry.get('message')}" for entry in driver.get_log("browser")]
    except Exception as error:  # a failed diagnostic must not hide the real failure
        return [f"<console log unavailable: {error}>"]


def page_html(gateway_url: str, title: str, body: str = "", load: str = f"analytics.load({WRITE_KEY!r});") -> str:
    return (
        "<!doctype html>\n"
        f"<html><head><meta charset=\"utf-8\"><title>{title}</title>\n"
        f"<script src=\"{gateway_url}/analytics.js\"></script>\n"
        f"<script>{load}</script>\n"
        f"</head><body><h1>{title}</h1>{body}</body></html>\n")


@dataclass
class BrowserSetup:
    site: Site
    gateway: Gateway
    capture: Capture
    driver: Any
    console_seen: list[str] = field(default_factory=list)

    def open(self, name: str = "index.html") -> None:
        """Opens a page of the site and waits until the client is loaded."""
        self.driver.get(self.site.url(name))
        self.wait_for_client()

    def wait_for_client(self) -> None:
        wait_until(lambda: self.js("return !!(window.analytics && window.analytics.switchyard)"), 20,
                   lambda: "window.analytics never became the client\n" + self.diagnostics())

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def cookie(self, name: str) -> str | None:
        found = self.driver.get_cookie(name)
        return found["value"] if found else None

    def anonymous_id(self) -> str:
        return self.js("return analytics.anonymousId()")

    def console(self) -> list[str]:
        """Every browser console line of this test so far."""
        self.console_seen.extend(console_lines(self.driver))
        return self.console_seen

    def diagnostics(self) -> str:
        return ("--- browser console ---\n" + "\n".join(self.console()[-40:])
                + "\n--- switchyard log ---\n" + self.gateway.log_text())

    def wait_for_events(self, anonymous_id: str, count: int = 1, timeout: float = 30,
                        **match: Any) -> list[dict[str, Any]]:
        """Waits until the gateway stored ``count`` events of ``anonymous_id`` whose activity entries
        match ``match`` (e.g. ``type="track", event="Signed Up"``); returns them, oldest first."""
        def found() -> list[dict[str, Any]] | None:
            entries = [entry for entry in self.gateway.anonymous_activity(anonymous_id)
                       if entry.get("kind") == "event" and all(entry.get(k) == v for k, v in match.items())]
            return list(reversed(entries)) if len(entries) >= count else None

        return wait_until(found, timeout, lambda: (
            f"expected {count} event(s) {match} for {anonymous_id}; stored: "
            f"{self.gateway.anonymous_activity(anonymous_id)!r}\n" + self.diagnostics()))

    def wait_for_message(self, timeout: float = 30, **match: Any) -> dict[str, Any]:
        """Waits for a delivered message (the whole stored event) with these top-level fields."""
        messages = wait_until(lambda: self.capture.messages(**match), timeout, lambda: (
            f"no delivered message with {match}; got {self.capture.messages()!r}\n" + self.diagnostics()))
        return messages[0]


