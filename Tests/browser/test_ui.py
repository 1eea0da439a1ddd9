"""The web UI (``/``, ``/people/…``, ``/anonymous/…``, ``/destinations…``) in headless Chromium against
the real gateway (fixtures in conftest.py, helpers in browser_harness.py).

The browser signs in once with ``/?token=`` (the gateway redirects to the page without it and keeps
an HttpOnly session cookie), as an operator opening the logged sign-in URL does; the gateway's one webhook
destination posts to a ``Receiver`` whose answer the test programs (400 to dead-letter, then 200 to
accept the replay). Screenshots of every page go to ``Tests/artifacts/ui-*.png``.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable

import pytest

from browser_harness import ADMIN_TOKEN, REPO_ROOT, WRITE_KEY, Gateway, wait_until

ARTIFACTS = REPO_ROOT / "Tests" / "artifacts"


# --- Fixtures --------------------------------------------------------------------------------------

class Receiver:
    """A loopback webhook receiver answering ``status`` (settable) and recording every body."""

    def __init__(self, status: int) -> None:
        self.status = status
        self._bodies: list[Any] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with receiver._lock:
                    receiver._bodies.append(body)
                    status = receiver.status
                payload = b'{"error":"unknown field plan_tier"}' if status >= 400 else b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True).start()

    def message_ids(self) -> list[str]:
        """The messageId of every message received, in order (a batch body counts each element)."""
        with self._lock:
            bodies = list(self._bodies)
        ids = []
        for body in bodies:
            for message in body if isinstance(body, list) else [body]:
                if isinstance(message, dict) and "messageId" in message:
                    ids.append(message["messageId"])
        return ids

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterable[Receiver]:
    server = Receiver(status=400)
    yield server
    server.close()


@pytest.fixture
def ui_gateway(tmp_path: Path, receiver: Receiver) -> Iterable[Gateway]:
    """The real gateway; its destination ``capture`` posts to ``receiver``."""
    directory = tmp_path / "gateway"
    directory.mkdir()
    instance = Gateway(directory, "http://127.0.0.1", receiver.url)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def ui(browser: Any, ui_gateway: Gateway) -> Any:
    """The browser, sized like a laptop screen, signed in to the UI with the admin token."""
    browser.set_window_size(1440, 900)
    browser.get(f"{ui_gateway.url}/?token={ADMIN_TOKEN}")
    assert "token=" not in browser.current_url, "the sign-in redirect drops the token from the address"
    assert any(c["name"] == "switchyard_admin" and c.get("httpOnly") for c in browser.get_cookies())
    return browser


# --- Helpers ---------------------------------------------------------------------------------------

def send(gateway: Gateway, endpoint: str, message: dict[str, Any]) -> None:
    """Posts one message to the ingest API with the source's write key."""
    request = urllib.request.Request(
        f"{gateway.url}/v1/{endpoint}", data=json.dumps(message).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.read()


def seed(gateway: Gateway) -> None:
    """A visitor browses, then signs up (the identify merges their anonymous events); another
    visitor is still anonymous; a client library that sends a placeholder id has its merge refused."""
    visitor = "3f8b2c1e-9d4a-4e27-b6a5-0c1d2e3f4a5b"
    send(gateway, "page", {"anonymousId": visitor, "name": "Home", "messageId": "page-home",
                           "properties": {"path": "/"}})
    send(gateway, "page", {"anonymousId": visitor, "name": "Pricing", "messageId": "page-pricing",
                           "properties": {"path": "/pricing"}})
    send(gateway, "track", {"anonymousId": visitor, "event": "Plan Selected", "messageId": "track-plan",
                            "properties": {"plan": "team"}})
    send(gateway, "identify", {"anonymousId": visitor, "userId": "user-1042", "messageId": "identify-1042",
                               "traits": {"email": "ada@example.com", "plan": "team", "seats": 5}})
    send(gateway, "track", {"userId": "user-1042", "event": "Checkout Completed", "messageId": "track-checkout",
                            "properties": {"revenue": 290}})
    send(gateway, "page", {"anonymousId": "9c0d7e6f-1a2b-4c3d-8e9f-a0b1c2d3e4f5", "name": "Docs",
                           "messageId": "page-docs", "properties": {"path": "/docs"}})
    send(gateway, "identify", {"anonymousId": "undefined", "userId": "user-7", "messageId": "identify-7"})
    wait_until(lambda: len([e for e in gateway.activity("identified") if e.get("kind") == "event"]) >= 6, 20,
               lambda: f"events not stored: {gateway.activity('identified')!r}")


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"ui-{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot saved at {path}"
    return path


def rows(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, "table.log tbody tr")


def row_with(driver: Any, text: str) -> Any:
    """The first activity row containing ``text``, waiting for the page if needed."""
    from selenium.common.exceptions import StaleElementReferenceException

    def find() -> Any:
        try:
            return next((row for row in rows(driver) if text in row.text), None)
        except StaleElementReferenceException:
            return None  # the page changed while reading it; look again

    return wait_until(find, 10, lambda: f"no row with {text!r} in:\n" + "\n".join(row.text for row in rows(driver)))


def click_link(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By
    driver.find_element(By.LINK_TEXT, text).click()


def click_button(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By
    driver.find_element(By.XPATH, f"//button[normalize-space()={json.dumps(text, ensure_ascii=False)}]").click()


def text_of(driver: Any, css: str) -> str:
    """The text of the first element matching ``css``; "" while a navigation replaces the page."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    try:
        return driver.find_element(By.CSS_SELECTOR, css).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def heading(driver: Any) -> str:
    return text_of(driver, "h1")


# --- Tests -----------------------------------------------------------------------------------------

def test_the_tabs_list_the_right_events_and_mark_the_merge(ui: Any, ui_gateway: Gateway) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    seed(ui_gateway)
    ui.get(ui_gateway.url + "/")
    assert ui.title == "Activity · Switchyard"
    assert text_of(ui, "nav.tabs a.current") == "Identified"

    merge = row_with(ui, "anonymous merge")
    assert "3 events merged into the person" in merge.text
    assert "user-1042" in merge.text and "3f8b2c1e-9d4a-4e27-b6a5-0c1d2e3f4a5b" in merge.text
    for name in ("Home", "Pricing", "Plan Selected"):
        assert "was anonymous" in row_with(ui, name).text, f"{name} is not marked as merged"
    assert "was anonymous" not in row_with(ui, "Checkout Completed").text
    refusal = row_with(ui, "merge refused")
    assert "blocked_id" in refusal.text
    assert "a placeholder id value never takes part in a merge" in refusal.text
    assert not any("Docs" in row.text for row in rows(ui)), "an anonymous event is on the Identified tab"
    # Newest first.
    texts = [row.text for row in rows(ui)]
    assert texts.index(next(t for t in texts if "Checkout Completed" in t)) < texts.index(
        next(t for t in texts if "Plan Selected" in t))
    screenshot(ui, "activity")

    click_link(ui, "Anonymous")
    wait_until(lambda: text_of(ui, "nav.tabs a.current") == "Anonymous", 10)
    docs = row_with(ui, "Docs")
    assert "9c0d7e6f-1a2b-4c3d-8e9f-a0b1c2d3e4f5" in docs.text
    events = [row for row in rows(ui) if "row-event" in row.get_attribute("class")]
    assert [row.text for row in events if "Docs" not in row.text] == [], "a merged event is on the Anonymous tab"
    screenshot(ui, "activity-anonymous")

    # The filter: tracks only, on the Identified tab.
    click_link(ui, "Identified")
    Select(ui.find_element(By.NAME, "type")).select_by_value("track")
    click_button(ui, "Filter")
    wait_until(lambda: "type=track" in ui.current_url, 10)
    names = [row.find_element(By.CSS_SELECTOR, "td.name").text for row in rows(ui)]
    assert sorted(names) == ["Checkout Completed", "Plan Selected"]
    screenshot(ui, "activity-filtered")


def test_the_person_page_shows_both_ids_traits_and_history(ui: Any, ui_gateway: Gateway) -> None:
    from selenium.webdriver.common.by import By

    seed(ui_gateway)
    ui.get(ui_gateway.url + "/")
    row_with(ui, "Checkout Completed").find_element(By.LINK_TEXT, "user-1042").click()
    wait_until(lambda: heading(ui) == "Person user-1042", 10, lambda: heading(ui))
    facts = ui.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "user-1042" in facts
    assert "3f8b2c1e-9d4a-4e27-b6a5-0c1d2e3f4a5b" in facts
    traits = {row.find_element(By.TAG_NAME, "th").text: row.find_element(By.TAG_NAME, "td").text
              for row in ui.find_elements(By.CSS_SELECTOR, "table.traits tr")}
    assert traits == {"email": "ada@example.com", "plan": "team", "seats": "5"}
    for name in ("Home", "Pricing", "Plan Selected", "Checkout Completed"):
        row_with(ui, name)
    row_with(ui, "anonymous merge")
    screenshot(ui, "person")

    click_link(ui, "3f8b2c1e-9d4a-4e27-b6a5-0c1d2e3f4a5b")
    wait_until(lambda: heading(ui).startswith("Visitor"), 10, lambda: heading(ui))
    assert "Merged into the person user-1042" in ui.find_element(By.CSS_SELECTOR, "p.notice").text
    row_with(ui, "Pricing")
    screenshot(ui, "anonymous")


def test_erase_asks_for_confirmation_then_removes_the_person(ui: Any, ui_gateway: Gateway) -> None:
    seed(ui_gateway)
    ui.get(ui_gateway.url + "/people/user-1042")
    click_button(ui, "Erase…")
    wait_until(lambda: heading(ui) == "Erase user-1042?", 10, lambda: heading(ui))
    assert ui_gateway.get("/api/people/user-1042")[0] == 200, "asking erased the person"
    screenshot(ui, "erase-confirm")
    click_button(ui, "Erase permanently")
    wait_until(lambda: heading(ui) == "Erased user-1042", 10, lambda: heading(ui))
    assert ui_gateway.get("/api/people/user-1042")[0] == 404
    ui.get(ui_gateway.url + "/people/user-1042")
    assert heading(ui) == "Not found"
    screenshot(ui, "person-not-found")


def test_the_replay_button_redelivers_a_dead_letter(ui: Any, ui_gateway: Gateway, receiver: Receiver) -> None:
    from selenium.webdriver.common.by import By

    send(ui_gateway, "track", {"userId": "user-1042", "event": "Invoice Paid", "messageId": "invoice-77",
                               "properties": {"amount": 290}})
    wait_until(lambda: receiver.message_ids() == ["invoice-77"], 20, lambda: receiver.message_ids())

    def counters() -> dict[str, Any]:
        return next(d for d in ui_gateway.admin("/api/destinations")["destinations"] if d["name"] == "capture")

    wait_until(lambda: counters()["dead_lettered"] == 1, 20, lambda: counters())

    ui.get(ui_gateway.url + "/destinations")
    row = ui.find_element(By.CSS_SELECTOR, "table.counters tbody tr")
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == "capture webhook"
    assert cells[1] == "active"
    assert cells[2:7] == ["0", "0", "0", "0", "1"], cells  # delivered, failed, retrying, held, dead-lettered
    assert "unknown field plan_tier" in cells[9]
    screenshot(ui, "destinations")

    click_link(ui, "capture")
    wait_until(lambda: heading(ui).startswith("Destination capture"), 10, lambda: heading(ui))
    letter = ui.find_element(By.CSS_SELECTOR, "table.letters tbody tr")
    assert "invoice-77" in letter.text and "Invoice Paid" in letter.text and "400" in letter.text
    screenshot(ui, "destination-dead-letters")

    receiver.status = 200  # the destination is fixed
    click_button(ui, "Replay all dead letters")
    notice = wait_until(lambda: ui.find_elements(By.CSS_SELECTOR, "p.notice"), 10, lambda: ui.page_source[:2000])
    assert notice[0].text == "1 dead letter re-queued for delivery."
    wait_until(lambda: receiver.message_ids() == ["invoice-77", "invoice-77"], 20, lambda: receiver.message_ids())
    wait_until(lambda: counters()["delivered"] == 1, 20, lambda: counters())
    ui.refresh()
    assert "No dead letters." in ui.find_element(By.CSS_SELECTOR, "main").text
    screenshot(ui, "destination-replayed")
