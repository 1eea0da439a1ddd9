"""``/analytics.js`` in headless Chromium against the real gateway (see conftest.py)."""

from __future__ import annotations

import hashlib
import re

import pytest

from browser_harness import REPO_ROOT, WRITE_KEY, BrowserSetup, Gateway, page_html, wait_until

UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def gateway_version() -> str:
    source = (REPO_ROOT / "Sources" / "SwitchyardCore" / "SwitchyardVersion.swift").read_text()
    match = re.search(r'static let current = "([^"]+)"', source)
    assert match, "SwitchyardVersion.current not found"
    return match.group(1)


# --- The script as served ------------------------------------------------------------------------

def test_script_is_served_with_its_version_a_strong_etag_and_304s(gateway: Gateway) -> None:
    status, headers, body = gateway.get("/analytics.js", token=False)
    assert status == 200
    assert headers["content-type"] == "application/javascript; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=300"
    assert headers["etag"] == '"' + hashlib.sha256(body).hexdigest() + '"'
    text = body.decode("utf-8")
    assert f"var VERSION = '{gateway_version()}';" in text
    assert "__SWITCHYARD_VERSION__" not in text

    status, not_modified_headers, not_modified_body = gateway.get(
        "/analytics.js", {"If-None-Match": headers["etag"]}, token=False)
    assert status == 304
    assert not_modified_body == b""
    assert not_modified_headers["etag"] == headers["etag"]

    status, _, _ = gateway.get("/analytics.js", {"If-None-Match": '"something-else"'}, token=False)
    assert status == 200


# --- Page events and the anonymous id --------------------------------------------------------------

def test_loading_the_page_sets_the_cookie_and_stores_a_page_event(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")

    cookie = wait_until(lambda: setup.cookie("ajs_anonymous_id"), 10,
                        lambda: "no ajs_anonymous_id cookie\n" + setup.diagnostics())
    assert UUID_V4.match(cookie), f"the cookie holds {cookie!r}, not a bare UUID v4"
    assert setup.js("return localStorage.getItem('ajs_anonymous_id')") == cookie
    assert setup.anonymous_id() == cookie

    [event] = setup.wait_for_events(cookie, type="page")
    assert event["anonymousId"] == cookie
    assert event["userId"] is None

    message = setup.wait_for_message(type="page", anonymousId=cookie)
    page = message["context"]["page"]
    assert page["path"] == "/index.html"
    assert page["url"] == setup.site.url("index.html")
    assert page["title"] == "Home"
    assert message["context"]["library"] == {"name": "switchyard.js", "version": gateway_version()}
    assert "Chrome" in message["context"]["userAgent"]
    assert message["context"]["locale"]
    assert message["properties"]["path"] == "/index.html"
    assert message["sentAt"] and message["timestamp"] and UUID_V4.match(message["messageId"])


def test_a_push_state_navigation_stores_a_second_page_event(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")
    anonymous_id = setup.anonymous_id()
    setup.wait_for_events(anonymous_id, type="page")

    setup.js("document.title = 'Pricing'; history.pushState({}, '', '/pricing?plan=pro')")
    setup.wait_for_events(anonymous_id, count=2, type="page")

    pricing = wait_until(
        lambda: [m for m in setup.capture.messages(type="page", anonymousId=anonymous_id)
                 if m["context"]["page"]["path"] == "/pricing"], 30,
        lambda: f"no /pricing page delivered: {setup.capture.messages()!r}\n" + setup.diagnostics())[0]
    assert pricing["context"]["page"]["search"] == "?plan=pro"
    assert pricing["context"]["page"]["title"] == "Pricing"
    assert pricing["context"]["page"]["referrer"] == setup.site.url("index.html")

    # Back: popstate is a navigation too. A pushState to the same path and query is not.
    setup.js("history.back()")
    setup.wait_for_events(anonymous_id, count=3, type="page")
    setup.js("history.pushState({tab: 2}, '', location.pathname + location.search + '#details')")
    setup.js("analytics.track('Marker')")
    setup.wait_for_events(anonymous_id, type="track", event="Marker")
    assert len([e for e in setup.gateway.anonymous_activity(anonymous_id) if e.get("type") == "page"]) == 3


def test_a_second_page_of_the_site_keeps_the_anonymous_id(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")
    anonymous_id = setup.anonymous_id()
    setup.open("second.html")
    assert setup.anonymous_id() == anonymous_id
    setup.wait_for_events(anonymous_id, count=2, type="page")


# --- Calls -----------------------------------------------------------------------------------------

def test_track_arrives_with_its_properties(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")
    anonymous_id = setup.anonymous_id()
    setup.js("analytics.track('Signed Up', {plan: 'pro', seats: 3})")

    [event] = setup.wait_for_events(anonymous_id, type="track", event="Signed Up")
    assert event["anonymousId"] == anonymous_id
    message = setup.wait_for_message(type="track", event="Signed Up")
    assert message["properties"] == {"plan": "pro", "seats": 3}


def test_identify_sends_the_anonymous_id_and_the_gateway_merges(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")
    anonymous_id = setup.anonymous_id()
    setup.wait_for_events(anonymous_id, type="page")

    setup.js("analytics.identify('user-42', {email: 'ada@example.com'})")

    def merge() -> dict | None:
        return next((entry for entry in setup.gateway.activity("identified")
                     if entry["kind"] == "anonymous_merge" and entry["anonymousId"] == anonymous_id), None)

    entry = wait_until(merge, 30, lambda: (
        f"no anonymous_merge for {anonymous_id}: {setup.gateway.activity('identified')!r}\n" + setup.diagnostics()))
    assert entry["userId"] == "user-42"
    message = setup.wait_for_message(type="identify")
    assert message["userId"] == "user-42"
    assert message["anonymousId"] == anonymous_id
    assert message["traits"] == {"email": "ada@example.com"}

    assert setup.js("return analytics.userId()") == "user-42"
    assert setup.cookie("ajs_user_id") == "user-42"
    assert setup.js("return localStorage.getItem('ajs_user_id')") == "user-42"
    # The page seen before identifying now belongs to the person.
    person = setup.gateway.admin("/api/people/user-42")
    assert anonymous_id in person["anonymousIds"]

    setup.js("analytics.track('Upgraded')")
    tracked = setup.wait_for_message(type="track", event="Upgraded")
    assert tracked["userId"] == "user-42" and tracked["anonymousId"] == anonymous_id


def test_reset_starts_a_new_anonymous_id_and_forgets_the_user(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")
    before = setup.anonymous_id()
    setup.js("analytics.identify('user-7', {plan: 'free'})")

    setup.js("analytics.reset()")
    after = setup.anonymous_id()
    assert after != before and UUID_V4.match(after)
    assert setup.cookie("ajs_anonymous_id") == after
    assert setup.js("return analytics.userId()") is None
    assert setup.cookie("ajs_user_id") is None
    assert setup.js("return analytics.user().traits()") == {}

    setup.js("analytics.track('After Reset')")
    [event] = setup.wait_for_events(after, type="track", event="After Reset")
    assert event["userId"] is None
    # What was queued before the reset still goes out under the old ids.
    setup.wait_for_message(type="identify", userId="user-7", anonymousId=before)


def test_alias_and_group_are_sent(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")
    anonymous_id = setup.anonymous_id()
    setup.js("analytics.group('acme', {name: 'Acme'}); analytics.alias('user-9')")

    group = setup.wait_for_message(type="group")
    assert group["groupId"] == "acme" and group["traits"] == {"name": "Acme"}
    alias = setup.wait_for_message(type="alias")
    assert alias["userId"] == "user-9" and alias["previousId"] == anonymous_id


# --- The documented snippet ------------------------------------------------------------------------

def documented_snippet() -> str:
    text = (REPO_ROOT / "docs" / "browser-client.md").read_text()
    match = re.search(r"```html\n(<script>\n.*?</script>)\n```", text, re.S)
    assert match, "docs/browser-client.md has no ```html snippet block"
    return match.group(1)


@pytest.mark.parametrize("queued_page", ["", "analytics.page();"], ids=["automatic page", "queued page"])
def test_the_documented_snippet_replays_calls_made_before_the_script_loaded(
        browser_setup: BrowserSetup, queued_page: str) -> None:
    setup = browser_setup
    snippet = (documented_snippet()
               .replace("https://events.example.com", setup.gateway.url)
               .replace("YOUR_WRITE_KEY", WRITE_KEY))
    setup.site.write("snippet.html", (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Snippet</title>\n" + snippet + "\n"
        f"<script>{queued_page} analytics.track('Before Load', {{early: true}});\n"
        "analytics.ready(function () { window.readyCalled = true; });</script>\n"
        "</head><body>snippet</body></html>\n"))
    setup.open("snippet.html")
    wait_until(lambda: setup.js("return window.readyCalled === true"), 10,
               lambda: "ready() callback never ran\n" + setup.diagnostics())
    anonymous_id = setup.anonymous_id()
    setup.wait_for_events(anonymous_id, type="page")
    [event] = setup.wait_for_events(anonymous_id, type="track", event="Before Load")
    assert event["anonymousId"] == anonymous_id
    # Queued calls go out in order with the first page, so the page count is final by now:
    # a page() queued by the snippet stands for the automatic one.
    pages = [e for e in setup.gateway.anonymous_activity(anonymous_id) if e.get("type") == "page"]
    assert len(pages) == 1


# --- Delivery when the gateway is away -------------------------------------------------------------

def test_events_tracked_while_the_gateway_is_down_arrive_after_it_is_back(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")
    anonymous_id = setup.anonymous_id()
    setup.wait_for_events(anonymous_id, type="page")

    setup.gateway.stop()
    setup.js("analytics.track('Offline Event', {n: 1})")
    # The client tried, failed, and kept the event queued (not dropped) for a later attempt.
    wait_until(lambda: any("/v1/batch" in line and "ERR_CONNECTION_REFUSED" in line for line in setup.console()),
               20, lambda: "no failed attempt to reach the stopped gateway\n" + setup.diagnostics())
    assert setup.js(
        "var q = JSON.parse(localStorage.getItem('switchyard_queue:' + arguments[0]) || '[]');"
        "return q.some(function (e) { return e.event.event === 'Offline Event'; });", WRITE_KEY)

    setup.gateway.start()
    events = setup.wait_for_events(anonymous_id, type="track", event="Offline Event", timeout=60)
    assert len(events) == 1


def test_events_queued_while_the_gateway_is_down_survive_a_reload(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    setup.open("index.html")
    anonymous_id = setup.anonymous_id()
    setup.wait_for_events(anonymous_id, type="page")

    setup.gateway.stop()
    setup.js("analytics.track('Queued Before Reload')")
    setup.driver.get("about:blank")  # the page goes away with the event undelivered

    setup.gateway.start()
    setup.open("second.html")
    events = setup.wait_for_events(anonymous_id, type="track", event="Queued Before Reload", timeout=60)
    # The pagehide beacon and the next page may both send it; the gateway stores it once.
    assert len(events) == 1
    wait_until(lambda: setup.js(
        "return (JSON.parse(localStorage.getItem('switchyard_queue:' + arguments[0]) || '[]')).length === 0",
        WRITE_KEY), 30, lambda: "the queue never drained\n" + setup.diagnostics())


def test_page_hide_sends_the_queue_with_a_beacon(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    # A long flush interval: the event can only leave through the pagehide beacon.
    setup.site.write("slow.html", page_html(setup.gateway.url, "Slow",
                                            load=f"analytics.load({WRITE_KEY!r}, {{flushInterval: 600000}});"))
    setup.open("slow.html")
    anonymous_id = setup.anonymous_id()
    setup.js("analytics.track('Left The Page')")
    setup.driver.get("about:blank")
    [event] = setup.wait_for_events(anonymous_id, type="track", event="Left The Page")
    assert event["anonymousId"] == anonymous_id
