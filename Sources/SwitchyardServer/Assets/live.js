// The Live page (SPEC §6 "Live view"): follows /live/stream (Server-Sent Events, the session cookie
// authorizes it) and shows one row per event, newest first, with its route decisions and delivery
// outcomes; a click on an outcome shows the request as sent (secrets masked) and the response.
// Served by the gateway itself: the page's Content-Security-Policy allows scripts from 'self' only,
// so everything is built with DOM calls and textContent (never innerHTML).
(function () {
  "use strict";
  var rows = document.getElementById("live-rows");
  if (!rows) return;
  var statusText = document.getElementById("live-status");
  var pauseButton = document.getElementById("live-pause");
  var detail = document.getElementById("live-detail");
  var detailTitle = document.getElementById("live-detail-title");
  var detailBody = document.getElementById("live-detail-body");
  var maxRows = 500;
  var byMessage = new Map();
  var paused = false;
  var held = [];

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (text !== undefined && text !== null) td.textContent = String(text);
    return td;
  }

  function timeOf(iso) {
    return typeof iso === "string" ? iso.replace("T", " ").replace("Z", "").slice(11, 23) : "";
  }

  function rowFor(messageId, data) {
    var row = byMessage.get(messageId);
    if (row) return row;
    var tr = document.createElement("tr");
    tr.className = "live-event";
    tr.dataset.messageId = messageId;
    var cells = {
      at: cell(timeOf(data && data.at)), source: cell(""), type: cell(""), event: cell(""), user: cell(""),
      routes: cell("", "live-routes"), deliveries: cell("", "live-deliveries")
    };
    ["at", "source", "type", "event", "user", "routes", "deliveries"].forEach(function (key) {
      tr.appendChild(cells[key]);
    });
    row = { tr: tr, cells: cells };
    byMessage.set(messageId, row);
    rows.insertBefore(tr, rows.firstChild);
    while (rows.children.length > maxRows) {
      var last = rows.lastChild;
      if (last.dataset && last.dataset.messageId) byMessage.delete(last.dataset.messageId);
      rows.removeChild(last);
    }
    return row;
  }

  function badge(text, kind) {
    var span = document.createElement("span");
    span.className = "badge live-" + kind;
    span.textContent = text;
    return span;
  }

  function showDetail(data) {
    detailTitle.textContent = data.destination + " · " + data.outcome + " · attempt " + data.attempt;
    // A JSON body shows as JSON rather than as one escaped string; anything else as it is.
    function readable(part) {
      if (!part || typeof part.body !== "string") return part;
      try { return Object.assign({}, part, { body: JSON.parse(part.body) }); } catch (e) { return part; }
    }
    var shown = { request: readable(data.request), response: readable(data.response), durationMs: data.durationMs };
    if (data.error) shown.error = data.error;
    detailBody.textContent = JSON.stringify(shown, null, 2);
    detail.hidden = false;
  }

  function apply(kind, data) {
    if (kind === "ingest") {
      var row = rowFor(data.messageId, data);
      row.cells.at.textContent = timeOf(data.at);
      row.cells.source.textContent = data.source || "";
      row.cells.type.textContent = data.type || "";
      row.cells.event.textContent = data.event || data.name || "";
      row.cells.user.textContent = data.userId || data.resolvedUserId || data.anonymousId || "";
      row.tr.title = "messageId " + data.messageId;
    } else if (kind === "route") {
      var routeRow = rowFor(data.messageId, data);
      var route = badge(data.destination + ": " + data.decision, data.decision);
      if (data.reason) route.title = data.reason;
      routeRow.cells.routes.appendChild(route);
      routeRow.cells.routes.appendChild(document.createTextNode(" "));
    } else if (kind === "delivery") {
      (data.messageIds || []).forEach(function (messageId) {
        var deliveryRow = rowFor(messageId, data);
        var status = data.response && data.response.status ? " " + data.response.status : "";
        var link = document.createElement("a");
        link.href = "#live-detail";
        link.className = "live-outcome";
        link.appendChild(badge(data.destination + ": " + data.outcome + status, data.outcome));
        link.addEventListener("click", function (event) {
          event.preventDefault();
          showDetail(data);
        });
        deliveryRow.cells.deliveries.appendChild(link);
        deliveryRow.cells.deliveries.appendChild(document.createTextNode(" "));
      });
    } else if (kind === "identity") {
      var tr = document.createElement("tr");
      tr.className = "live-identity";
      tr.appendChild(cell(timeOf(data.at)));
      var text = data.kind + ": " + (data.anonymousId || "") + " → " + (data.userId || "");
      if (data.reason) text += " (" + data.reason + ")";
      var td = cell(text);
      td.colSpan = 6;
      tr.appendChild(td);
      rows.insertBefore(tr, rows.firstChild);
    } else if (kind === "gap") {
      var gap = document.createElement("tr");
      gap.className = "live-gap";
      var gapCell = cell(data.missed + " items were missed (this page fell behind, or nobody watched)");
      gapCell.colSpan = 7;
      gap.appendChild(gapCell);
      rows.insertBefore(gap, rows.firstChild);
    }
  }

  function receive(kind, message) {
    var data;
    try { data = JSON.parse(message.data); } catch (e) { return; }
    if (paused) {
      held.push([kind, data]);
      if (held.length > 5000) held.shift();
      statusText.textContent = "Paused: " + held.length + " items waiting.";
      return;
    }
    apply(kind, data);
  }

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      held.forEach(function (item) { apply(item[0], item[1]); });
      held = [];
      statusText.textContent = "Following.";
    } else {
      statusText.textContent = "Paused: 0 items waiting.";
    }
  });

  // The filters of this page's address, plus last_event_id=0: the buffered recent items first.
  var query = new URLSearchParams(window.location.search);
  var streamQuery = new URLSearchParams();
  ["source", "destination", "type", "event", "user"].forEach(function (name) {
    var value = query.get(name);
    if (value) streamQuery.set(name, value);
  });
  streamQuery.set("last_event_id", "0");
  var source = new EventSource(rows.dataset.stream + "?" + streamQuery.toString());
  ["ingest", "route", "delivery", "identity", "gap"].forEach(function (kind) {
    source.addEventListener(kind, function (message) { receive(kind, message); });
  });
  source.addEventListener("open", function () {
    if (!paused) statusText.textContent = "Following.";
  });
  source.addEventListener("error", function () {
    statusText.textContent = "Disconnected; reconnecting…";
  });
})();
