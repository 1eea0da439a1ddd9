"""Mixpanel conformance: the official `mixpanel` SDK and switchyard's `mixpanel` destination send the
same logical events; every record the gateway sends must have the SDK record's field names and value
types, apart from the differences listed in destinations/mixpanel/README.md ("Known differences from
the official SDK"). Transport envelopes differ by design (JSON `/import` vs form `data=`) and are
not compared; authentication is.

Normalised before comparing (vendor-formats §6.3): `time` (SDK float seconds vs our integer ms,
compared as rounded seconds), `$insert_id` (compared for equality when both sides have it),
`mp_lib`, `$lib_version`, `token`; for profiles `$time` and `$token`.
"""

from __future__ import annotations

import base64
import copy
import functools
import time
from datetime import datetime

import mixpanel
import pytest

from conftest import REPO_ROOT, ScriptedReply, known_differences, shape

README = REPO_ROOT / "destinations" / "mixpanel" / "README.md"
TOKEN = "conformance-token"
SECRET = "conformance-secret"
CLIENT_IP = "127.0.0.1"  # what ingest puts in context.ip for a loopback sender
ANON = "a7c6e5d4-0000-4000-8000-000000000001"
USER = "user-1"

IDENTIFY = {"type": "identify", "messageId": "0b7a8f1d-0000-4000-8000-000000000001", "userId": USER,
            "anonymousId": ANON, "traits": {"email": "ada@example.com", "name": "Ada Lovelace", "plan": "pro"},
            "timestamp": "2026-01-02T03:04:05.100Z"}
TRACK = {"type": "track", "messageId": "0b7a8f1d-0000-4000-8000-000000000002", "userId": USER, "anonymousId": ANON,
         "event": "Order Completed", "properties": {"total": 49.9, "currency": "EUR", "items": 2, "gift": False,
                                                    "tags": ["a", "b"], "shipping": {"method": "post"}},
         "timestamp": "2026-01-02T03:04:05.678Z"}
PAGE = {"type": "page", "messageId": "0b7a8f1d-0000-4000-8000-000000000003", "userId": USER, "name": "Pricing",
        "category": "Docs", "properties": {"path": "/pricing", "url": "https://www.example.com/pricing", "title": "Pricing"},
        "timestamp": "2026-01-02T03:04:06.000Z"}
SCREEN = {"type": "screen", "messageId": "0b7a8f1d-0000-4000-8000-000000000004", "userId": USER, "name": "Home",
          "properties": {"tab": "feed"}, "timestamp": "2026-01-02T03:04:07.250Z"}
GROUP = {"type": "group", "messageId": "0b7a8f1d-0000-4000-8000-000000000005", "userId": USER, "groupId": "acme",
         "traits": {"name": "Acme Inc", "employees": 120}, "timestamp": "2026-01-02T03:04:08.000Z"}
# An alias merging a second anonymous id (another device) into the user: the gateway accepts it, so
# `original` mode sends $create_alias. An alias of two user ids would be refused and send nothing.
OLD_ANON = "c3d2e1f0-0000-4000-8000-000000000002"
ALIAS = {"type": "alias", "messageId": "0b7a8f1d-0000-4000-8000-000000000006", "userId": USER,
         "previousId": OLD_ANON, "timestamp": "2026-01-02T03:04:09.000Z"}
SEGMENT_EVENTS = [IDENTIFY, TRACK, PAGE, SCREEN, GROUP, ALIAS]


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def send_with_sdk(capture, monkeypatch) -> None:
    """The same logical events through the official SDK, the way its docs say to send them."""
    consumer = mixpanel.Consumer(events_url=capture.url + "/track", people_url=capture.url + "/engage",
                                 groups_url=capture.url + "/groups", import_url=capture.url + "/import")
    client = mixpanel.Mixpanel(TOKEN, consumer=consumer)
    # alias() ignores the consumer and builds a default one for api.mixpanel.com (vendor-formats §6.1).
    monkeypatch.setattr(mixpanel, "Consumer", functools.partial(mixpanel.Consumer, events_url=capture.url + "/track"))

    def event_properties(message, extra=None):
        properties = {"time": seconds(message["timestamp"]), "$insert_id": message["messageId"], "ip": CLIENT_IP}
        properties.update(extra or {})
        properties.update(message.get("properties", {}))
        return properties

    client.merge(None, USER, ANON, api_secret=SECRET)
    client.people_set(USER, {"$email": "ada@example.com", "$name": "Ada Lovelace", "plan": "pro"}, meta={"$ip": CLIENT_IP})
    client.track(USER, TRACK["event"], event_properties(TRACK))
    client.track(USER, "Loaded a Page", event_properties(PAGE, {"name": "Pricing", "category": "Docs"}))
    client.track(USER, "Loaded a Screen", event_properties(SCREEN, {"name": "Home"}))
    client.group_set("company", "acme", {"$name": "Acme Inc", "employees": 120})
    client.alias(USER, OLD_ANON)


def destination(name: str, capture, **settings) -> dict:
    return {"name": name, "type": "mixpanel", "token": TOKEN, "endpoint": capture.url,
            "batch": {"max_wait": "50ms"}, **settings}


def record_kind(request, record) -> str:
    """`/engage`, `/groups`, or the event name of an `/import` / `/track` record."""
    path = request.path.rstrip("/")
    if path.endswith("/engage") or path.endswith("/groups"):
        return path[path.rindex("/"):]
    return record.get("event", "?")


def records_by_kind(capture) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for request in capture.requests:
        for record in request.records:
            found.setdefault(record_kind(request, record), []).append(record)
    return found


def normalise(kind: str, ours: dict, theirs: dict) -> tuple[dict, dict]:
    """Checks and drops the fields each side generates; returns comparable copies."""
    ours, theirs = copy.deepcopy(ours), copy.deepcopy(theirs)
    if kind in ("/engage", "/groups"):
        for record in (ours, theirs):
            record.pop("$token", None)
            record.pop("$time", None)
        return ours, theirs
    mine, sdk = ours.get("properties", {}), theirs.get("properties", {})
    if "time" in mine and "time" in sdk:
        assert round(mine["time"] / 1000) == round(sdk["time"]), f"{kind}: time {mine['time']} ms vs {sdk['time']} s"
    if "$insert_id" in mine and "$insert_id" in sdk:
        assert mine["$insert_id"] == sdk["$insert_id"], f"{kind}: $insert_id"
    for properties in (mine, sdk):
        for key in ("time", "$insert_id", "mp_lib", "$lib_version", "token"):
            properties.pop(key, None)
    return ours, theirs


def differences(ours: dict, theirs: dict) -> list[str]:
    """Field paths whose presence or JSON type differs."""
    mine, sdk = shape(ours), shape(theirs)
    found = []
    for path in sorted(set(mine) | set(sdk)):
        if mine.get(path) != sdk.get(path):
            found.append(f"{path} (gateway {mine.get(path, 'absent')}, SDK {sdk.get(path, 'absent')})")
    return found


def allowed(kind: str, difference: str, known: list[str]) -> bool:
    path = difference.split(" ", 1)[0]
    for entry in known:
        scope, _, field = entry.rpartition(" ")
        if field == path and scope in ("", kind):
            return True
    return False


def compare(gateway_records, sdk_records, pairs, known, label) -> list[str]:
    problems = []
    for kind in pairs:
        ours, theirs = gateway_records.get(kind, []), sdk_records.get(kind, [])
        if not ours or not theirs:
            problems.append(f"{label}: {kind}: gateway sent {len(ours)}, SDK sent {len(theirs)}")
            continue
        assert len(ours) == 1 and len(theirs) == 1, f"{label}: {kind}: one record each expected"
        mine, sdk = normalise(kind, ours[0], theirs[0])
        for difference in differences(mine, sdk):
            if not allowed(kind, difference, known):
                problems.append(f"{label}: {kind}: {difference} is not a known difference")
    for kind in gateway_records:
        if kind not in pairs and kind not in known:
            problems.append(f"{label}: gateway sent {kind}, which has no SDK counterpart and is not a known difference")
    return problems


def test_known_differences_are_listed_in_the_readme():
    known = known_differences(README)
    assert known, "destinations/mixpanel/README.md has no 'Known differences from the official SDK' list"
    assert "properties.$device_id" in known


def test_gateway_records_match_the_official_sdk(capture_server, gateway, monkeypatch):
    sdk = capture_server("mixpanel")
    simplified = capture_server("mixpanel")
    original = capture_server("mixpanel")
    send_with_sdk(sdk, monkeypatch)
    switchyard = gateway([
        destination("mp-simplified", simplified),
        destination("mp-original", original, id_merge="original", secret=SECRET),
    ])
    switchyard.send(SEGMENT_EVENTS)
    # simplified: $identify, track, page, screen, $identify (the alias's merge of OLD_ANON); /engage; /groups
    switchyard.wait_for(simplified, 7)
    # original: $merge, track, page, screen, $create_alias; /engage; /groups
    switchyard.wait_for(original, 7)

    known = known_differences(README)
    sdk_records = records_by_kind(sdk)
    common = [TRACK["event"], "Loaded a Page", "Loaded a Screen", "/engage", "/groups"]
    problems = compare(records_by_kind(simplified), sdk_records, common, known, "simplified")
    problems += compare(records_by_kind(original), sdk_records, common + ["$merge", "$create_alias"], known, "original")
    assert not problems, "\n".join(problems)


def test_import_authentication_matches_the_sdk(capture_server, gateway, monkeypatch):
    sdk = capture_server("mixpanel")
    ours = capture_server("mixpanel")
    send_with_sdk(sdk, monkeypatch)
    switchyard = gateway([destination("mp", ours, id_merge="original", secret=SECRET)])
    switchyard.send([TRACK])
    switchyard.wait_for(ours, 1)

    sdk_import = next(request for request in sdk.requests if request.path == "/import")
    our_import = next(request for request in ours.requests if request.path == "/import")
    expected = "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()
    assert sdk_import.headers["authorization"] == expected
    assert our_import.headers["authorization"] == expected
    assert our_import.query == {"strict": "1"}
    assert our_import.headers["content-encoding"] == "gzip"
    assert our_import.headers["content-type"] == "application/json"
    # Profiles authenticate by the token inside each record, on both sides.
    assert all("authorization" not in request.headers for request in sdk.requests if request.path != "/import")


def wait_until(what: str, probe, timeout: float = 20):
    """Polls `probe` (a cheap admin API read) until it returns something truthy, with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def dead_letters(switchyard, name: str) -> list[dict]:
    status, reply = switchyard.request("GET", f"/api/destinations/{name}/dead-letters")
    assert status == 200, reply
    return reply["dead_letters"]


def test_refused_credentials_are_dead_lettered_with_the_reason_and_replay_once_fixed(capture_server, gateway):
    capture = capture_server("mixpanel")
    capture.script(ScriptedReply(401, {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}))
    switchyard = gateway([destination("mp", capture, secret=SECRET)])
    switchyard.send([TRACK])

    letters = wait_until("the dead letter", lambda: dead_letters(switchyard, "mp"))
    assert [letter["messageId"] for letter in letters] == [TRACK["messageId"]]
    assert letters[0]["last_status"] == 401
    _, listing = switchyard.request("GET", "/api/destinations")
    status = next(item for item in listing["destinations"] if item["name"] == "mp")
    assert "refused the API secret (`secret`) with HTTP 401: Invalid credentials" in status["last_error"]

    # The credential is fixed (the capture server now accepts): replaying delivers the event.
    assert switchyard.request("POST", "/api/destinations/mp/replay", {}) == (200, {"replayed": 1})
    switchyard.wait_for(capture, 2)
    assert capture.requests[-1].records[0]["properties"]["$insert_id"] == TRACK["messageId"]


def test_a_partial_failure_dead_letters_only_the_failed_event(capture_server, gateway):
    capture = capture_server("mixpanel")
    events = [dict(TRACK, messageId=f"0b7a8f1d-0000-4000-8000-00000000010{n}") for n in range(3)]
    failed = events[1]["messageId"]

    def reject_the_middle_event(request):
        ids = [record["properties"]["$insert_id"] for record in request.records]
        if failed not in ids:
            return None
        return ScriptedReply(400, {
            "code": 400, "error": "some data points in the request failed validation",
            "num_records_imported": len(ids) - 1, "status": "Bad Request",
            "failed_records": [{"index": ids.index(failed), "$insert_id": failed, "field": "properties.time",
                                "message": "'properties.time' is invalid"}],
        })

    capture.respond_with(reject_the_middle_event)
    switchyard = gateway([destination("mp", capture)])
    switchyard.send(events)

    letters = wait_until("the dead letter", lambda: dead_letters(switchyard, "mp"))
    assert [letter["messageId"] for letter in letters] == [failed]
    assert letters[0]["last_status"] == 400 and "properties.time" in letters[0]["last_error"]
    # The two that Mixpanel ingested were not sent again (however the gateway batched them).
    switchyard.wait_for(capture, 3)
    sent = [record["properties"]["$insert_id"] for record in capture.records("/import")]
    assert sorted(sent) == sorted(event["messageId"] for event in events)
