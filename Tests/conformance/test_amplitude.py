"""Amplitude conformance: the official `amplitude-analytics` SDK and the gateway's `amplitude`
destination send the same logical events; their event objects must agree in field names and value
types, except for the differences listed in destinations/amplitude/README.md (vendor-formats §6.3)."""

from __future__ import annotations

import datetime

import pytest

from conftest import REPO_ROOT, known_differences, shape

amplitude = pytest.importorskip("amplitude")
from amplitude import Amplitude, BaseEvent, Config, EventOptions, Identify  # noqa: E402

README = REPO_ROOT / "destinations" / "amplitude" / "README.md"
API_KEY = "AMPLITUDE-CONFORMANCE-KEY"
MIN_ID_LENGTH = 1

# Fields either side generates or fills differently on purpose (vendor-formats §6.3).
NORMALISED = {"insert_id", "library", "time"}
# Headers the HTTP clients add for transport, not for Amplitude.
TRANSPORT_HEADERS = {"host", "content-length", "connection", "accept-encoding", "user-agent"}


def iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


BASE_MS = 1795929900000
SERVER_LIBRARY = {"name": "analytics-python", "version": "2.4.0"}
IOS_CONTEXT = {
    "library": {"name": "analytics-swift", "version": "1.5.11"},
    "app": {"name": "Shop", "version": "4.2.0"},
    "device": {"id": "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB", "advertisingId": "7A3CBEA0-BDF5-11E4-8DFC-AA07A5B093DB",
               "manufacturer": "Apple", "model": "iPhone15,2", "type": "ios"},
    "os": {"name": "iOS", "version": "18.1"},
    "network": {"carrier": "T-Mobile"},
    "location": {"city": "Berlin", "country": "Germany", "region": "Berlin", "latitude": 52.52, "longitude": 13.405},
    "locale": "de-DE",
}


def logical_events() -> list[dict]:
    """Each logical event: the Segment message for the gateway, and how an SDK caller sends it."""
    def at(offset: int) -> tuple[int, str]:
        return BASE_MS + offset * 1000, iso(BASE_MS + offset * 1000)

    events = []

    ms, ts = at(0)
    properties = {"plan": "pro", "seats": 3, "trial": False, "tags": ["a", "b"], "meta": {"source": "ads"}}
    events.append({
        "segment": {"type": "track", "messageId": "amp-conf-track-1", "userId": "user-0001",
                    "anonymousId": "anon-device-0001", "event": "Signed Up", "properties": properties,
                    "context": {"library": SERVER_LIBRARY}, "timestamp": ts},
        "sdk": [("track", BaseEvent("Signed Up", user_id="user-0001", device_id="anon-device-0001", time=ms,
                                    insert_id="amp-conf-track-1", event_properties=properties))],
    })

    ms, ts = at(1)
    revenue = {"orderId": "A-1001", "revenue": 49.9, "price": 24.95, "quantity": 2, "productId": "sku-7",
               "revenueType": "purchase", "currency": "EUR"}
    device = IOS_CONTEXT["device"]
    location = IOS_CONTEXT["location"]
    events.append({
        "segment": {"type": "track", "messageId": "amp-conf-track-2", "userId": "user-0002",
                    "event": "Order Completed", "properties": revenue, "context": IOS_CONTEXT, "timestamp": ts},
        "sdk": [("track", BaseEvent(
            "Order Completed", user_id="user-0002", device_id=device["id"], time=ms, insert_id="amp-conf-track-2",
            event_properties=revenue, app_version="4.2.0", platform="iOS", os_name="iOS", os_version="18.1",
            device_manufacturer="Apple", device_model="iPhone15,2", carrier="T-Mobile", country="Germany",
            region="Berlin", city="Berlin", location_lat=52.52, location_lng=13.405, language="de-DE",
            idfa=device["advertisingId"], price=24.95, quantity=2, revenue=49.9, product_id="sku-7",
            revenue_type="purchase", currency="EUR"))],
    })

    ms, ts = at(2)
    page_properties = {"path": "/pricing", "url": "https://www.example.com/pricing", "title": "Pricing"}
    events.append({
        "segment": {"type": "page", "messageId": "amp-conf-page-1", "anonymousId": "anon-device-0003",
                    "name": "Pricing", "category": "Docs", "properties": page_properties,
                    "context": {"library": SERVER_LIBRARY}, "timestamp": ts},
        "sdk": [("track", BaseEvent("Loaded a Page", device_id="anon-device-0003", time=ms,
                                    insert_id="amp-conf-page-1", event_properties=page_properties))],
    })

    ms, ts = at(3)
    events.append({
        "segment": {"type": "screen", "messageId": "amp-conf-screen-1", "userId": "user-0001", "name": "Checkout",
                    "properties": {"step": 2}, "context": {"library": SERVER_LIBRARY}, "timestamp": ts},
        "sdk": [("track", BaseEvent("Loaded a Screen", user_id="user-0001", time=ms, insert_id="amp-conf-screen-1",
                                    event_properties={"step": 2}))],
    })

    ms, ts = at(4)
    traits = {"email": "ada@example.com", "plan": "pro", "logins": 12, "address": {"city": "Berlin"}}
    identify = Identify()
    for key, value in traits.items():
        identify.set(key, value)
    events.append({
        "segment": {"type": "identify", "messageId": "amp-conf-identify-1", "userId": "user-0001",
                    "anonymousId": "anon-device-0001", "traits": traits, "context": {"library": SERVER_LIBRARY},
                    "timestamp": ts},
        "sdk": [("identify", identify, EventOptions(user_id="user-0001", device_id="anon-device-0001", time=ms,
                                                    insert_id="amp-conf-identify-1"))],
    })

    ms, ts = at(5)
    plan = Identify().set("plan", "enterprise")
    events.append({
        "segment": {"type": "identify", "messageId": "amp-conf-identify-2", "userId": "user-0002",
                    "traits": {"plan": "enterprise"}, "context": {"library": SERVER_LIBRARY}, "timestamp": ts},
        "sdk": [("identify", plan, EventOptions(user_id="user-0002", time=ms, insert_id="amp-conf-identify-2"))],
    })

    ms, ts = at(6)
    group_traits = {"groupType": "company", "name": "Acme Inc", "employees": 420}
    group_identify = Identify()
    for key, value in group_traits.items():
        group_identify.set(key, value)
    events.append({
        "segment": {"type": "group", "messageId": "amp-conf-group-1", "userId": "user-0001", "groupId": "acme-inc",
                    "traits": group_traits, "context": {"library": SERVER_LIBRARY}, "timestamp": ts},
        "sdk": [
            ("set_group", "company", "acme-inc",
             EventOptions(user_id="user-0001", time=ms, insert_id="amp-conf-group-1")),
            ("group_identify", "company", "acme-inc", group_identify,
             EventOptions(user_id="user-0001", time=ms, insert_id="amp-conf-group-1:groupidentify")),
        ],
    })

    # An anonymous visitor, then an alias that merges their anonymous id into a user: Amplitude gets
    # the `$identify` that links the device (an SDK caller sends it as a plain `$identify` event).
    ms, ts = at(7)
    events.append({
        "segment": {"type": "track", "messageId": "amp-conf-track-3", "anonymousId": "anon-device-0009",
                    "event": "Docs Read", "context": {"library": SERVER_LIBRARY}, "timestamp": ts},
        "sdk": [("track", BaseEvent("Docs Read", device_id="anon-device-0009", time=ms,
                                    insert_id="amp-conf-track-3"))],
    })
    ms, ts = at(8)
    events.append({
        "segment": {"type": "alias", "messageId": "amp-conf-alias-1", "userId": "user-0009",
                    "previousId": "anon-device-0009", "context": {"library": SERVER_LIBRARY}, "timestamp": ts},
        "sdk": [("track", BaseEvent("$identify", user_id="user-0009", device_id="anon-device-0009", time=ms,
                                    insert_id="amp-conf-alias-1"))],
    })
    return events


def send_with_sdk(url: str, events: list[dict]) -> None:
    client = Amplitude(API_KEY, Config(server_url=url, min_id_length=MIN_ID_LENGTH, flush_queue_size=100,
                                       flush_interval_millis=60_000, flush_max_retries=1))
    for logical in events:
        for call, *arguments in logical["sdk"]:
            getattr(client, call)(*arguments)
    client.flush()
    client.shutdown()


def by_insert_id(records: list[dict]) -> dict[str, dict]:
    keyed = {}
    for record in records:
        assert record.get("insert_id") not in keyed, f"two events with insert_id {record.get('insert_id')}"
        keyed[record.get("insert_id")] = record
    return keyed


def differences(sdk: dict, ours: dict) -> set[str]:
    """Field paths present on one side only or with different JSON types, minus the normalised ones."""
    sdk_shape = {path: kind for path, kind in shape(sdk).items() if path.split(".")[0] not in NORMALISED}
    our_shape = {path: kind for path, kind in shape(ours).items() if path.split(".")[0] not in NORMALISED}
    return {path for path in sdk_shape.keys() | our_shape.keys() if sdk_shape.get(path) != our_shape.get(path)}


def test_the_gateway_sends_what_the_sdk_sends(capture_server, gateway):
    events = logical_events()
    expected_count = sum(len(logical["sdk"]) for logical in events)

    sdk_capture = capture_server("amplitude")
    send_with_sdk(sdk_capture.url + "/2/httpapi", events)
    sdk_requests = sdk_capture.wait_for(expected_count)

    our_capture = capture_server("amplitude")
    switchyard = gateway(f"""
- name: product-analytics
  type: amplitude
  api_key: {API_KEY}
  endpoint: {our_capture.url}
  min_id_length: {MIN_ID_LENGTH}
  batch: {{ max_events: 100, max_wait: 50ms }}
""")
    # The alias goes in last, once the visitor's anonymous event was delivered (`anonymous: forward`):
    # sent together, the merge would be stored first and the gateway would send that event under the
    # user id already.
    switchyard.send([logical["segment"] for logical in events[:-1]])
    switchyard.wait_for(our_capture, expected_count - len(events[-1]["sdk"]))
    switchyard.send([events[-1]["segment"]])
    our_requests = switchyard.wait_for(our_capture, expected_count)

    sdk_records = by_insert_id(sdk_capture.records())
    our_records = by_insert_id(our_capture.records())
    assert sorted(our_records) == sorted(sdk_records), "the same Amplitude events, by insert_id"

    found: dict[str, set[str]] = {}
    for insert_id, sdk_record in sdk_records.items():
        ours = our_records[insert_id]
        assert ours["event_type"] == sdk_record["event_type"], insert_id
        for key in ("user_id", "device_id", "event_properties", "user_properties", "groups", "group_properties"):
            # Values the caller chose must arrive unchanged; only the extra fields listed may differ.
            if key in sdk_record:
                expected = sdk_record[key]
                got = ours.get(key)
                if key == "event_properties" and isinstance(got, dict):
                    got = {name: value for name, value in got.items() if name in expected}
                assert got == expected, f"{insert_id}: {key}"
        assert isinstance(ours["time"], int) and ours["time"] == sdk_record["time"], insert_id
        for path in differences(sdk_record, ours):
            found.setdefault(path, set()).add(insert_id)

    for sdk_request, our_request in [(sdk_requests[0], our_requests[0])]:
        assert our_request.method == sdk_request.method == "POST"
        assert our_request.path == sdk_request.path == "/2/httpapi"
        envelope_sdk = {key: value for key, value in sdk_request.body.items() if key != "events"}
        envelope_ours = {key: value for key, value in our_request.body.items() if key != "events"}
        assert envelope_ours == envelope_sdk == {"api_key": API_KEY, "options": {"min_id_length": MIN_ID_LENGTH}}
        assert our_request.headers["content-type"].split(";")[0] == "application/json"
        header_names = lambda request: set(request.headers) - TRANSPORT_HEADERS  # noqa: E731
        for name in header_names(sdk_request) ^ header_names(our_request):
            found.setdefault(f"header.{name}", set()).add("request")

    known = known_differences(README)
    unexplained = {path: sorted(ids) for path, ids in found.items() if path not in known}
    assert not unexplained, (
        "differences from the Amplitude SDK that destinations/amplitude/README.md does not list under "
        f"'Known differences from the official SDK': {unexplained}")
    stale = [path for path in known if path not in found]
    assert not stale, f"README lists differences the comparison no longer finds: {stale}"
