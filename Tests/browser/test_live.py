"""The Live page (``/live``, SPEC §6 "Live view") in headless Chromium against the real gateway.

The page follows ``/live/stream`` with the gateway's own ``/live.js`` under a Content-Security-Policy
that allows scripts from 'self' only; an event sent to the gateway must show within seconds with its
route decision and delivery outcome, and a click shows the request as sent. The screenshot of the page
is ``Tests/artifacts/ui-live.png`` (the README's is a copy, ``docs/live-view.png``).
"""

from __future__ import annotations

from typing import Any

from browser_harness import Gateway, wait_until
# Fixtures and helpers of the UI tests: the signed-in browser and the gateway with its webhook receiver.
from test_ui import Receiver, receiver, screenshot, send, text_of, ui, ui_gateway  # noqa: F401


def live_row(driver: Any, message_id: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    try:
        found = driver.find_elements(By.CSS_SELECTOR, f'tr.live-event[data-message-id="{message_id}"]')
        return found[0] if found else None
    except StaleElementReferenceException:
        return None  # the table changed while reading it; look again


def test_the_live_page_shows_a_sent_event_within_seconds(ui: Any, ui_gateway: Gateway, receiver: Receiver) -> None:
    from selenium.webdriver.common.by import By

    receiver.status = 200
    ui.get(f"{ui_gateway.url}/live")
    status, headers, _ = ui_gateway.get("/live")
    policy = headers.get("content-security-policy", "")
    assert status == 200 and "script-src 'self'" in policy and "unsafe-inline" not in policy, policy
    wait_until(lambda: "Following" in text_of(ui, "#live-status"), 20,
               lambda: f"the stream did not open: {text_of(ui, '#live-status')!r}")

    send(ui_gateway, "track", {"userId": "user-1042", "event": "Checkout Completed", "messageId": "live-checkout",
                               "properties": {"revenue": 290, "currency": "EUR"}})
    send(ui_gateway, "page", {"anonymousId": "3f8b2c1e-9d4a-4e27-b6a5-0c1d2e3f4a5b", "name": "Pricing",
                              "messageId": "live-pricing", "properties": {"path": "/pricing"}})
    row = wait_until(lambda: (lambda r: r if r is not None and "capture: delivered" in r.text else None)(
        live_row(ui, "live-checkout")), 20, lambda: "no delivered row for live-checkout:\n" + text_of(ui, "table.live"))
    assert "Checkout Completed" in row.text
    assert "user-1042" in row.text
    assert "capture: queued" in row.text
    wait_until(lambda: (lambda r: r is not None and "capture: delivered" in r.text)(live_row(ui, "live-pricing")), 20)
    # Newest first.
    first = ui.find_elements(By.CSS_SELECTOR, "tr.live-event")[0]
    assert first.get_attribute("data-message-id") == "live-pricing"

    live_row(ui, "live-checkout").find_element(By.CSS_SELECTOR, "a.live-outcome").click()
    detail = wait_until(lambda: text_of(ui, "#live-detail-body") or None, 10)
    assert '"method": "POST"' in detail
    assert "live-checkout" in detail and "Checkout Completed" in detail, "the request body as sent"
    assert '"status": 200' in detail
    screenshot(ui, "live")

    # Pause holds new items back; Resume shows them.
    ui.find_element(By.ID, "live-pause").click()
    send(ui_gateway, "track", {"userId": "user-7", "event": "Signed In", "messageId": "live-paused"})
    wait_until(lambda: "Paused:" in text_of(ui, "#live-status") and "0 items" not in text_of(ui, "#live-status"), 20)
    assert live_row(ui, "live-paused") is None
    ui.find_element(By.ID, "live-pause").click()
    wait_until(lambda: live_row(ui, "live-paused"), 10)

    # Script errors and CSP violations; a missing /favicon.ico (network, 404) is not the page's.
    severe = [entry for entry in ui.get_log("browser")
              if entry.get("level") == "SEVERE" and "favicon.ico" not in entry.get("message", "")]
    assert not severe, f"browser console errors (a CSP violation would show here): {severe!r}"
