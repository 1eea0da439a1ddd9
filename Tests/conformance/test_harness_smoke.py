"""Tests of the conformance harness itself (conftest.py): capture server decoding, the egress
guard, and a gateway → webhook → capture server round trip through the real binary."""

import gzip
import json
import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import EgressRefused, ScriptedReply, known_differences, shape


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_capture_server_decodes_gzip_json_and_mixpanel_form(capture_server):
    capture = capture_server("mixpanel")
    status, reply = post(capture.url + "/import?strict=1", gzip.compress(b'[{"event":"A"},{"event":"B"}]'),
                         {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert (status, reply) == (200, {"code": 200, "num_records_imported": 2, "status": 1})
    form = urllib.parse.urlencode({"data": '{"$token":"T","$distinct_id":"u","$set":{"a":1}}', "verbose": "1"})
    status, reply = post(capture.url + "/engage", form.encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, reply) == (200, {"status": 1, "error": None})

    imported, engaged = capture.wait_for(3)
    assert imported.path == "/import" and imported.query == {"strict": "1"}
    assert imported.headers["content-encoding"] == "gzip"
    assert imported.body == [{"event": "A"}, {"event": "B"}]
    assert engaged.form["verbose"] == "1"
    assert engaged.body == {"$token": "T", "$distinct_id": "u", "$set": {"a": 1}}
    assert capture.records("/engage") == [engaged.body]


def test_capture_server_vendor_replies_and_scripted_answers(capture_server):
    amplitude = capture_server("amplitude")
    assert post(amplitude.url + "/2/httpapi", b'{"api_key":"K","events":[{},{}]}',
                {"Content-Type": "application/json"})[1]["events_ingested"] == 2
    posthog = capture_server("posthog")
    assert post(posthog.url + "/batch/", b'{"batch":[]}', {"Content-Type": "application/json"}) == (200, {"status": 1})
    posthog.script(ScriptedReply(503, {"error": "busy"}, {"Retry-After": "1"}))
    with pytest.raises(urllib.error.HTTPError) as failure:
        post(posthog.url + "/batch/", b'{"batch":[]}', {"Content-Type": "application/json"})
    assert failure.value.code == 503 and failure.value.headers["Retry-After"] == "1"


def test_egress_guard_refuses_other_hosts():
    with pytest.raises(EgressRefused):
        socket.getaddrinfo("api.mixpanel.com", 443)
    with pytest.raises(EgressRefused):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(urllib.error.URLError) as failure:
        urllib.request.urlopen("http://93.184.215.14/", timeout=1)
    assert isinstance(failure.value.reason, EgressRefused)


def test_shape_and_known_differences(tmp_path):
    assert shape({"a": 1, "b": {"c": "x", "d": [1]}, "e": None}) == {
        "a": "number", "b": "object", "b.c": "string", "b.d": "array", "e": "null"}
    readme = tmp_path / "README.md"
    readme.write_text("# X\n- `not.this`: other section\n## Known differences from the official SDK\n"
                      "- `properties.mp_lib`: reason\n- `time`: reason\n\n## Next\n- `nope`: x\n")
    assert known_differences(readme) == ["properties.mp_lib", "time"]


def test_gateway_delivers_to_a_webhook_capture_server(capture_server, gateway):
    capture = capture_server("webhook")
    switchyard = gateway(f"""
- name: hook
  type: webhook
  url: {capture.url}/hook
  batch: {{ max_events: 10, max_wait: 50ms }}
""")
    events = [
        {"type": "track", "userId": "user-1", "event": "Signed Up", "messageId": "smoke-1",
         "properties": {"plan": "pro"}, "timestamp": "2026-01-02T03:04:05.678Z"},
        {"type": "identify", "userId": "user-1", "messageId": "smoke-2", "traits": {"email": "a@b.c"},
         "timestamp": "2026-01-02T03:04:06.000Z"},
    ]
    switchyard.send(events)
    requests = switchyard.wait_for(capture, 2)
    assert all(request.method == "POST" and request.path == "/hook" for request in requests)
    assert all(request.headers["content-type"].startswith("application/json") for request in requests)
    records = capture.records()
    assert [record["messageId"] for record in records] == ["smoke-1", "smoke-2"]
    assert records[0]["event"] == "Signed Up" and records[0]["properties"] == {"plan": "pro"}
    assert records[1]["traits"] == {"email": "a@b.c"}
    assert all(request.headers.get("webhook-id") for request in requests)
