"""PostHog conformance: the official `posthog` SDK (posthog-python 7.x) and switchyard's `posthog`
destination send the same logical events to `/batch/`; every event the gateway sends must have the
SDK event's field names and value types, apart from the differences listed in
destinations/posthog/README.md ("Known differences from the official SDK"). Both sides use the v0
`/batch/` envelope, so the envelope and headers are compared too.

Events are paired by `uuid`: the Segment messageIds are UUIDs, which our adapter sends unchanged, and
the SDK is given the same `uuid`. Normalised before comparing (vendor-formats §6.3): the SDK's
description of its own Python process (`$python_runtime`, `$python_version`, `$os`, `$os_version`,
`$os_distro`); `timestamp` is compared as an instant; `$lib`/`$lib_version` only by type.

posthog-python 7.x has no `identify()` (vendor-formats §6.1): the SDK side uses `set()` for traits,
`alias()` for the merge of ids, `capture("$pageview" | "$screen")` for pages and screens, and
`group_identify()` for groups.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone

from posthog import Posthog

from conftest import REPO_ROOT, known_differences, shape

README = REPO_ROOT / "destinations" / "posthog" / "README.md"
API_KEY = "phc_conformance"
USER = "user-1"
OTHER_USER = "user-2"
ANON = "a7c6e5d4-0000-4000-8000-000000000001"
OLD_ANON = "a7c6e5d4-0000-4000-8000-000000000002"

TRACK = {"type": "track", "messageId": "1c9f0b7a-0000-4000-8000-000000000001", "userId": USER,
         "event": "Order Completed", "properties": {"total": 49.9, "currency": "EUR", "items": 2, "gift": False,
                                                    "tags": ["a", "b"], "shipping": {"method": "post"}},
         "timestamp": "2026-01-02T03:04:05.678Z"}
PAGE = {"type": "page", "messageId": "1c9f0b7a-0000-4000-8000-000000000002", "anonymousId": ANON, "name": "Pricing",
        "category": "Docs", "properties": {"url": "https://www.example.com/pricing", "path": "/pricing",
                                           "referrer": "https://www.google.com/", "title": "Pricing"},
        "timestamp": "2026-01-02T03:04:06.000Z"}
SCREEN = {"type": "screen", "messageId": "1c9f0b7a-0000-4000-8000-000000000003", "userId": USER, "name": "Cart",
          "properties": {"items": 3}, "timestamp": "2026-01-02T03:04:07.250Z"}
IDENTIFY = {"type": "identify", "messageId": "1c9f0b7a-0000-4000-8000-000000000004", "userId": USER,
            "anonymousId": ANON, "traits": {"email": "ada@example.com", "plan": "pro", "logins": 3},
            "timestamp": "2026-01-02T03:04:08.000Z"}
IDENTIFY_USER_ONLY = {"type": "identify", "messageId": "1c9f0b7a-0000-4000-8000-000000000005", "userId": OTHER_USER,
                      "traits": {"plan": "free"}, "timestamp": "2026-01-02T03:04:08.500Z"}
ALIAS = {"type": "alias", "messageId": "1c9f0b7a-0000-4000-8000-000000000006", "userId": USER,
         "previousId": OLD_ANON, "timestamp": "2026-01-02T03:04:09.000Z"}
GROUP = {"type": "group", "messageId": "1c9f0b7a-0000-4000-8000-000000000007", "userId": USER, "groupId": "acme",
         "traits": {"groupType": "organization", "name": "Acme Inc", "employees": 120},
         "timestamp": "2026-01-02T03:04:10.000Z"}
SEGMENT_EVENTS = [TRACK, PAGE, SCREEN, IDENTIFY, IDENTIFY_USER_ONLY, ALIAS, GROUP]

# Fields the SDK adds about the Python process it runs in: nothing to do with the events.
SDK_ENVIRONMENT = ("$python_runtime", "$python_version", "$os", "$os_version", "$os_distro")


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def send_with_sdk(capture) -> None:
    """The same logical events through the official SDK, the way its docs say to send them."""
    client = Posthog(API_KEY, host=capture.url, sync_mode=True, gzip=True)

    def common(message):
        return {"timestamp": when(message["timestamp"]), "uuid": message["messageId"]}

    client.capture(TRACK["event"], distinct_id=USER, properties=TRACK["properties"], **common(TRACK))
    client.capture("$pageview", distinct_id=ANON, properties={
        "$current_url": "https://www.example.com/pricing", "$pathname": "/pricing", "$host": "www.example.com",
        "$referrer": "https://www.google.com/", "title": "Pricing"}, **common(PAGE))
    client.capture("$screen", distinct_id=USER, properties={"$screen_name": "Cart", "items": 3}, **common(SCREEN))
    client.set(distinct_id=USER, properties=IDENTIFY["traits"], **common(IDENTIFY))
    client.set(distinct_id=OTHER_USER, properties=IDENTIFY_USER_ONLY["traits"], **common(IDENTIFY_USER_ONLY))
    client.alias(OLD_ANON, USER, **common(ALIAS))
    client.group_identify("organization", "acme", {"name": "Acme Inc", "employees": 120}, distinct_id=USER,
                          **common(GROUP))
    client.shutdown()


def send_through_gateway(gateway, capture) -> None:
    """The Segment events through the gateway. The anonymous page goes first and is delivered before the
    identify arrives, so it reaches PostHog under the anonymous id (`anonymous: forward`); once identity
    knows the person, the gateway sends an anonymous event under the user id instead."""
    switchyard = gateway([{"name": "posthog", "type": "posthog", "api_key": API_KEY, "endpoint": capture.url,
                           "batch": {"max_wait": "50ms"}}])
    switchyard.send([PAGE])
    switchyard.wait_for(capture, 1)
    switchyard.send([message for message in SEGMENT_EVENTS if message is not PAGE])
    switchyard.wait_for(capture, len(SEGMENT_EVENTS))


def batch_requests(capture):
    return [request for request in capture.requests if request.path.rstrip("/") == "/batch"]


def events_by_uuid(capture) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for request in batch_requests(capture):
        for record in request.records:
            assert record["uuid"] not in found, f"uuid {record['uuid']} sent twice"
            found[record["uuid"]] = record
    return found


def normalise(label: str, ours: dict, theirs: dict) -> tuple[dict, dict]:
    """Checks and drops the fields each side generates; returns comparable copies."""
    ours, theirs = copy.deepcopy(ours), copy.deepcopy(theirs)
    assert when(ours["timestamp"]) == when(theirs["timestamp"]), f"{label}: timestamp"
    for key in SDK_ENVIRONMENT:
        theirs.get("properties", {}).pop(key, None)
    return ours, theirs


def differences(ours: dict, theirs: dict) -> list[str]:
    """Field paths whose presence or JSON type differs, as `path (gateway T, SDK T)`."""
    mine, sdk = shape(ours), shape(theirs)
    return [f"{path} (gateway {mine.get(path, 'absent')}, SDK {sdk.get(path, 'absent')})"
            for path in sorted(set(mine) | set(sdk)) if mine.get(path) != sdk.get(path)]


def test_known_differences_are_listed_in_the_readme():
    known = known_differences(README)
    assert known, "destinations/posthog/README.md has no 'Known differences from the official SDK' list"
    assert "properties.$ip" in known


def test_gateway_events_match_the_official_sdk(capture_server, gateway):
    sdk = capture_server("posthog")
    ours = capture_server("posthog")
    send_with_sdk(sdk)
    send_through_gateway(gateway, ours)

    sdk_events, our_events = events_by_uuid(sdk), events_by_uuid(ours)
    expected_uuids = {message["messageId"] for message in SEGMENT_EVENTS}
    assert set(sdk_events) == expected_uuids, "the SDK kept every uuid it was given"
    assert set(our_events) == expected_uuids, "the gateway sends messageId UUIDs unchanged as uuid"

    known = known_differences(README)
    problems, seen = [], set()
    for message in SEGMENT_EVENTS:
        label = f"{message['type']} {message['messageId']}"
        mine, theirs = normalise(label, our_events[message["messageId"]], sdk_events[message["messageId"]])
        for difference in differences(mine, theirs):
            path = difference.split(" ", 1)[0]
            seen.add(path)
            if path not in known:
                problems.append(f"{label}: {difference} is not a known difference")
    stale = [path for path in known if path not in seen]
    assert not problems, "\n".join(problems)
    assert not stale, f"README lists differences that no longer occur: {stale}"


def test_envelope_and_headers_match_the_sdk(capture_server, gateway):
    sdk = capture_server("posthog")
    ours = capture_server("posthog")
    send_with_sdk(sdk)
    switchyard = gateway([{"name": "posthog", "type": "posthog", "api_key": API_KEY, "endpoint": ours.url,
                           "batch": {"max_wait": "50ms"}}])
    # A track of just now: the fixed dates of TRACK are months old, which the gateway marks historical.
    fresh = dict(TRACK, messageId="1c9f0b7a-0000-4000-8000-0000000000f1",
                 timestamp=datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    switchyard.send([fresh])
    switchyard.wait_for(ours, 1)

    sdk_request, our_request = batch_requests(sdk)[0], batch_requests(ours)[0]
    assert our_request.method == sdk_request.method == "POST"
    assert our_request.path == sdk_request.path == "/batch/"
    # No sent_at from the gateway: PostHog would move each (already corrected) timestamp by now - sent_at,
    # so leaving it out keeps the time right and every attempt's body the same (README, "What is sent").
    assert set(sdk_request.body) == {"api_key", "batch", "historical_migration", "sent_at"}
    assert set(our_request.body) == {"api_key", "batch", "historical_migration"}
    assert our_request.body["api_key"] == sdk_request.body["api_key"] == API_KEY
    assert our_request.body["historical_migration"] is sdk_request.body["historical_migration"] is False
    assert isinstance(sdk_request.body["sent_at"], str) and when(sdk_request.body["sent_at"])
    for name in ("content-type", "content-encoding"):
        assert our_request.headers[name] == sdk_request.headers[name], name
    assert our_request.headers["content-encoding"] == "gzip"


def test_events_48_hours_old_go_out_as_a_historical_migration(capture_server, gateway):
    ours = capture_server("posthog")
    switchyard = gateway([{"name": "posthog", "type": "posthog", "api_key": API_KEY, "endpoint": ours.url,
                           "batch": {"max_wait": "50ms"}}])
    switchyard.send([TRACK])  # dated 2026-01-02
    switchyard.wait_for(ours, 1)
    request = batch_requests(ours)[0]
    assert request.body["historical_migration"] is True
    assert "sent_at" not in request.body
    assert when(request.body["batch"][0]["timestamp"]) == when(TRACK["timestamp"]), "the time is sent unchanged"


def test_value_differences_named_in_the_readme(capture_server, gateway):
    """Same field names, different values: checked here so the README's account stays true."""
    sdk = capture_server("posthog")
    ours = capture_server("posthog")
    send_with_sdk(sdk)
    send_through_gateway(gateway, ours)
    sdk_events, our_events = events_by_uuid(sdk), events_by_uuid(ours)

    # alias: we keep the user id and merge the previous id into it; posthog-python's alias() the reverse.
    mine, theirs = our_events[ALIAS["messageId"]], sdk_events[ALIAS["messageId"]]
    assert mine["event"] == theirs["event"] == "$create_alias"
    assert (mine["distinct_id"], mine["properties"]["distinct_id"], mine["properties"]["alias"]) == (USER, USER, OLD_ANON)
    assert (theirs["distinct_id"], theirs["properties"]["distinct_id"], theirs["properties"]["alias"]) == (
        OLD_ANON, OLD_ANON, USER)

    # identify: posthog-js's $identify (merging the anonymous id) where the Python SDK can only set().
    mine, theirs = our_events[IDENTIFY["messageId"]], sdk_events[IDENTIFY["messageId"]]
    assert (mine["event"], theirs["event"]) == ("$identify", "$set")
    assert mine["$set"] == theirs["$set"] == IDENTIFY["traits"]
    assert mine["properties"]["$anon_distinct_id"] == ANON
    assert our_events[IDENTIFY_USER_ONLY["messageId"]]["event"] == "$identify"

    # Everything else carries the same values where both sides have them.
    for message in (TRACK, PAGE, SCREEN, GROUP):
        mine, theirs = our_events[message["messageId"]], sdk_events[message["messageId"]]
        assert (mine["event"], mine["distinct_id"]) == (theirs["event"], theirs["distinct_id"]), message["type"]
        for key, value in theirs["properties"].items():
            if key in mine["properties"] and not key.startswith("$lib"):
                assert mine["properties"][key] == value, f"{message['type']}: properties.{key}"
