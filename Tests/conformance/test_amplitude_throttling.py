"""Amplitude throttling one device through the whole gateway (`switchyard serve`): a 429 naming one
device's events pauses only those events; the others of the batch are accepted at once, and only the
throttled ones are sent again after Amplitude's pause (15 s on the Batch API used here, 30 s on HTTP V2).

Answers follow Amplitude's documented 429 body (vendor-formats §2.3): `throttled_events` are positions
in the request's `events`, `throttled_devices` names the device.
"""

from __future__ import annotations

import threading
import time

from conftest import ScriptedReply

API_KEY = "conformance-amplitude-key"
THROTTLED = "device-bbbb"


def track(message_id: str, device: str) -> dict:
    return {"type": "track", "messageId": message_id, "anonymousId": device, "event": "Tapped",
            "properties": {"n": message_id}}


def test_one_throttled_device_waits_while_the_others_are_accepted(capture_server, gateway):
    capture = capture_server("amplitude")
    lock = threading.Lock()
    answered: list[tuple[float, int, list[str]]] = []  # (time, status, insert_ids) per request
    throttled_once = {"done": False}

    def respond(request):
        events = request.body.get("events", []) if isinstance(request.body, dict) else []
        positions = [index for index, event in enumerate(events) if event.get("device_id") == THROTTLED]
        ids = [event.get("insert_id") for event in events]
        with lock:
            if positions and not throttled_once["done"]:
                throttled_once["done"] = True
                answered.append((time.monotonic(), 429, ids))
                return ScriptedReply(429, {
                    "code": 429, "error": "Too many requests for some devices and users", "eps_threshold": 1000,
                    "throttled_devices": {THROTTLED: 1001}, "throttled_users": {},
                    "throttled_events": positions})
            answered.append((time.monotonic(), 200, ids))
        return ScriptedReply(200, {"code": 200, "events_ingested": len(events)})

    capture.respond_with(respond)
    switchyard = gateway(f"""
- name: product-analytics
  type: amplitude
  api_key: {API_KEY}
  endpoint: {capture.url}
  use_batch_api: true
  batch: {{ max_events: 100, max_wait: 50ms }}
""")
    first = [track(f"e-{device[-4:]}-{n}", device) for n in (1, 2) for device in
             ("device-aaaa", THROTTLED, "device-cccc")]
    switchyard.send(first)
    switchyard.wait_for(capture, 6 + 4, requests=False)  # the whole batch, then the others again

    with lock:
        throttle_time, status, sent = answered[0]
        _, second_status, resent = answered[1]
    assert status == 429 and sorted(sent) == sorted(event["messageId"] for event in first)
    others = sorted(event["messageId"] for event in first if event["anonymousId"] != THROTTLED)
    assert second_status == 200 and sorted(resent) == others, "the other devices' events are accepted at once"

    # Meanwhile the other devices keep sending, and their events go out while device-bbbb waits: the
    # throttled events wait in the replay queue, not in the delivery round.
    later = [track("e-aaaa-3", "device-aaaa"), track("e-cccc-3", "device-cccc")]
    switchyard.send(later)

    # The throttled device's events come again, alone, after the pause; the later ones are not lost.
    switchyard.wait_for(capture, 6 + 4 + 2 + 2, timeout=60)
    with lock:
        retry_time, retry_status, retried = next(entry for entry in answered[2:] if "e-bbbb-1" in entry[2])
        delivered_later = sorted(i for _, code, ids in answered[2:] if code == 200 for i in ids if i.endswith("-3"))
    assert delivered_later == ["e-aaaa-3", "e-cccc-3"]
    with lock:
        later_time = max(at for at, code, ids in answered[2:] if code == 200 for i in ids if i.endswith("-3"))
    assert later_time < retry_time, "the other devices' later events did not wait for the throttled device"
    throttled_ids = sorted(event["messageId"] for event in first if event["anonymousId"] == THROTTLED)
    assert retry_status == 200 and sorted(retried) == throttled_ids, "only the throttled events are sent again"
    assert retry_time - throttle_time >= 14.5, f"waited {retry_time - throttle_time:.1f} s, Amplitude asks 15 s"
