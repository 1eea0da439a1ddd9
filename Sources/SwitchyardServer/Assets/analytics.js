/*!
 * switchyard.js __SWITCHYARD_VERSION__ — the browser client served by a Switchyard gateway at /analytics.js.
 *
 * Speaks the analytics.js call style (analytics.load, page, track, identify, alias, group, reset) and
 * sends Segment-format events to the gateway's /v1/batch. No dependencies, no build step.
 *
 * Delivery: events are queued in localStorage (shared by the site's tabs, at most 1,000) and sent in
 * batches of up to 20 about once a second as text/plain, with the write key in the body, so the browser
 * needs no CORS preflight. Network errors, 408, 429 and 5xx are retried with exponential backoff
 * (1 s doubling to 30 s, jittered); an event leaves the queue only when the gateway has answered for it.
 * On page hide the queue is flushed with navigator.sendBeacon, which gives no answer: those events stay
 * queued and are sent again later, and the gateway's messageId dedupe makes the repeat harmless.
 */
(function (window, document) {
    'use strict';

    var VERSION = '__SWITCHYARD_VERSION__';
    var LIBRARY_NAME = 'switchyard.js';

    // The storage names analytics.js uses, so a site moving from Segment keeps its visitors' ids.
    var ANONYMOUS_ID_KEY = 'ajs_anonymous_id';
    var USER_ID_KEY = 'ajs_user_id';
    var USER_TRAITS_KEY = 'ajs_user_traits';
    var GROUP_ID_KEY = 'ajs_group_id';
    var GROUP_TRAITS_KEY = 'ajs_group_properties';
    var QUEUE_KEY_PREFIX = 'switchyard_queue:';

    var COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;
    var DEFAULT_FLUSH_AT = 20;
    var DEFAULT_FLUSH_INTERVAL_MS = 1000;
    var MAX_QUEUED_EVENTS = 1000;
    // Below the gateway's default server.limits.max_request_size (500 KB), leaving room for the envelope.
    var MAX_BATCH_BYTES = 450000;
    // Browsers refuse keepalive requests (and beacons) whose bodies add up to more than 64 KiB.
    var KEEPALIVE_MAX_BYTES = 60000;
    var REQUEST_TIMEOUT_MS = 10000;
    // A lease keeps one tab from sending events another tab has in flight; it outlives the request
    // timeout, so the events of a tab closed mid-request are picked up again once it expires.
    var SEND_LEASE_MS = 30000;
    // Beaconed events wait this long before a normal request confirms them.
    var BEACON_LEASE_MS = 5000;
    var INITIAL_BACKOFF_MS = 1000;
    var MAX_BACKOFF_MS = 30000;

    if (window.analytics && window.analytics.switchyard) {
        return; // loaded twice: the first copy keeps its state and timers
    }

    // Only set while this script runs for the first time, so read it now.
    var scriptSource = document.currentScript && document.currentScript.src;
    var preloadQueue = Array.isArray(window.analytics) ? window.analytics : null;

    // --- Small helpers ------------------------------------------------------------------------------

    function isObject(value) {
        return value !== null && typeof value === 'object' && !Array.isArray(value);
    }

    function assign(target) {
        for (var index = 1; index < arguments.length; index++) {
            var source = arguments[index];
            if (!isObject(source)) continue;
            for (var key in source) {
                if (Object.prototype.hasOwnProperty.call(source, key)) target[key] = source[key];
            }
        }
        return target;
    }

    function warn(message) {
        if (window.console && window.console.warn) window.console.warn('switchyard.js: ' + message);
    }

    function byteLength(text) {
        if (typeof TextEncoder === 'function') return new TextEncoder().encode(text).length;
        return unescape(encodeURIComponent(text)).length;
    }

    function originOf(url) {
        try {
            return new URL(url, window.location.href).origin;
        } catch (error) {
            return null;
        }
    }

    /** A version 4 UUID, from the platform when it has one (secure contexts only), else from random bytes. */
    function uuid() {
        var crypto = window.crypto;
        if (crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
        var bytes = new Uint8Array(16);
        if (crypto && typeof crypto.getRandomValues === 'function') {
            crypto.getRandomValues(bytes);
        } else {
            for (var index = 0; index < 16; index++) bytes[index] = Math.floor(Math.random() * 256);
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        var hex = '';
        for (var position = 0; position < 16; position++) {
            hex += (bytes[position] + 0x100).toString(16).slice(1);
            if (position === 3 || position === 5 || position === 7 || position === 9) hex += '-';
        }
        return hex;
    }

    function isoTimestamp(value) {
        if (value instanceof Date) return value.toISOString();
        if (typeof value === 'string' || typeof value === 'number') {
            var date = new Date(value);
            if (!isNaN(date.getTime())) return date.toISOString();
        }
        return new Date().toISOString();
    }

    // --- Cookies and localStorage -------------------------------------------------------------------

    var settings = {
        writeKey: null,
        endpoint: null,
        cookieDomain: null,
        flushAt: DEFAULT_FLUSH_AT,
        flushInterval: DEFAULT_FLUSH_INTERVAL_MS
    };

    function readCookie(name) {
        var cookies = document.cookie ? document.cookie.split(';') : [];
        for (var index = 0; index < cookies.length; index++) {
            var cookie = cookies[index].replace(/^\s+/, '');
            var separator = cookie.indexOf('=');
            if (separator > 0 && cookie.slice(0, separator) === name) {
                try {
                    return decodeURIComponent(cookie.slice(separator + 1));
                } catch (error) {
                    return cookie.slice(separator + 1);
                }
            }
        }
        return null;
    }

    function writeCookie(name, value, maxAgeSeconds) {
        var cookie = name + '=' + encodeURIComponent(value) + '; path=/; max-age=' + maxAgeSeconds + '; SameSite=Lax';
        if (settings.cookieDomain) cookie += '; domain=' + settings.cookieDomain;
        if (window.location.protocol === 'https:') cookie += '; Secure';
        try {
            document.cookie = cookie;
        } catch (error) {
            // Cookies can be disabled (sandboxed frames); localStorage still holds the value.
        }
    }

    var localStore = (function () {
        try {
            var probe = '__switchyard_probe__';
            window.localStorage.setItem(probe, probe);
            window.localStorage.removeItem(probe);
            return window.localStorage;
        } catch (error) {
            return null; // disabled storage or private mode: ids live in cookies, the queue in memory
        }
    })();

    function storageGet(key) {
        if (!localStore) return null;
        try {
            return localStore.getItem(key);
        } catch (error) {
            return null;
        }
    }

    function storageSet(key, value) {
        if (!localStore) return false;
        try {
            localStore.setItem(key, value);
            return true;
        } catch (error) {
            return false;
        }
    }

    function storageRemove(key) {
        if (!localStore) return;
        try {
            localStore.removeItem(key);
        } catch (error) {
            // Nothing to undo: a value that cannot be removed could not have been written either.
        }
    }

    /** Older analytics.js versions stored ids JSON-encoded (`"abc"`); newer ones bare. Both are read. */
    function plainId(value) {
        if (typeof value !== 'string' || value === '') return null;
        if (value.charAt(0) === '"') {
            try {
                var decoded = JSON.parse(value);
                return typeof decoded === 'string' && decoded !== '' ? decoded : null;
            } catch (error) {
                return null;
            }
        }
        return value;
    }

    // The last value of each id, used only on pages where neither cookies nor localStorage keep
    // anything; elsewhere storage is read every time, so a reset() in another tab is seen here too.
    var memoryIds = {};
    var idsInMemory = false;

    /** An id kept in both a cookie and localStorage: the cookie wins (it may span subdomains). */
    function readId(key) {
        var fromCookie = plainId(readCookie(key));
        var fromStorage = plainId(storageGet(key));
        var id = fromCookie || fromStorage;
        if (!id) return idsInMemory ? memoryIds[key] || null : null;
        if (fromCookie !== id || fromStorage !== id) writeId(key, id);
        return id;
    }

    function writeId(key, id) {
        memoryIds[key] = id;
        writeCookie(key, id, COOKIE_MAX_AGE_SECONDS);
        var stored = storageSet(key, id);
        if (!stored && plainId(readCookie(key)) !== id) idsInMemory = true;
    }

    function removeId(key) {
        delete memoryIds[key];
        writeCookie(key, '', 0);
        storageRemove(key);
    }

    function readTraits(key) {
        try {
            var traits = JSON.parse(storageGet(key) || '{}');
            return isObject(traits) ? traits : {};
        } catch (error) {
            return {};
        }
    }

    function writeTraits(key, traits) {
        storageSet(key, JSON.stringify(traits));
    }

    // --- Identity -----------------------------------------------------------------------------------

    function anonymousId() {
        var id = readId(ANONYMOUS_ID_KEY);
        if (!id) {
            id = uuid();
            writeId(ANONYMOUS_ID_KEY, id);
        }
        return id;
    }

    function userId() {
        return readId(USER_ID_KEY);
    }

    // --- The persisted queue ------------------------------------------------------------------------
    //
    // One JSON array in localStorage per write key, shared by the site's tabs: entries are
    // {event, lease} where lease is the time (ms) until which a tab has the event in flight. Every change
    // is a read-modify-write in one synchronous block, so tabs interleave whole operations. When
    // localStorage is unavailable or full, the queue lives in memory for this page only.

    var memoryQueue = [];
    var queueInMemory = !localStore;

    function queueKey() {
        return QUEUE_KEY_PREFIX + settings.writeKey;
    }

    function readQueue() {
        if (queueInMemory) return memoryQueue;
        try {
            var entries = JSON.parse(storageGet(queueKey()) || '[]');
            return Array.isArray(entries) ? entries : [];
        } catch (error) {
            return []; // a damaged queue cannot be sent anyway; starting afresh keeps the client working
        }
    }

    function writeQueue(entries) {
        if (queueInMemory) {
            memoryQueue = entries;
            return;
        }
        while (!storageSet(queueKey(), JSON.stringify(entries))) {
            if (entries.length <= 1) {
                warn('localStorage is full; events are kept in memory for this page only');
                queueInMemory = true;
                memoryQueue = entries;
                return;
            }
            // Over the storage quota: the oldest half goes, as the queue bound would drop them anyway.
            entries = entries.slice(Math.ceil(entries.length / 2));
        }
    }

    function enqueue(event) {
        var entries = readQueue();
        entries.push({ event: event, lease: 0 });
        if (entries.length > MAX_QUEUED_EVENTS) {
            var dropped = entries.length - MAX_QUEUED_EVENTS;
            entries = entries.slice(dropped);
            warn('the event queue is full (' + MAX_QUEUED_EVENTS + ' events); dropped the ' + dropped + ' oldest');
        }
        writeQueue(entries);
        return entries.length;
    }

    /** Leases up to `limit` events nobody has in flight, within `maxBytes`, and returns them. */
    function leaseEvents(limit, maxBytes, leaseMs) {
        var now = Date.now();
        var entries = readQueue();
        var taken = [];
        var bytes = 0;
        for (var index = 0; index < entries.length && taken.length < limit; index++) {
            var entry = entries[index];
            if (!entry || !isObject(entry.event) || entry.lease > now) continue;
            var size = byteLength(JSON.stringify(entry.event)) + 64; // 64: room for sentAt and a comma
            if (taken.length > 0 && bytes + size > maxBytes) break;
            bytes += size;
            entry.lease = now + leaseMs;
            taken.push(entry.event);
        }
        if (taken.length > 0) writeQueue(entries);
        return taken;
    }

    function settle(events, remove) {
        var ids = {};
        for (var index = 0; index < events.length; index++) ids[events[index].messageId] = true;
        var entries = readQueue();
        var kept = [];
        for (var position = 0; position < entries.length; position++) {
            var entry = entries[position];
            if (!entry || !isObject(entry.event)) continue;
            if (ids[entry.event.messageId]) {
                if (remove) continue;
                entry.lease = 0;
            }
            kept.push(entry);
        }
        writeQueue(kept);
    }

    /** Milliseconds until the first leased event becomes sendable again, or null when none is queued. */
    function nextLeaseExpiry() {
        var entries = readQueue();
        var now = Date.now();
        var soonest = null;
        for (var index = 0; index < entries.length; index++) {
            var entry = entries[index];
            if (!entry || !isObject(entry.event)) continue;
            var wait = Math.max(0, (entry.lease || 0) - now);
            if (soonest === null || wait < soonest) soonest = wait;
        }
        return soonest;
    }

    // --- Sending ------------------------------------------------------------------------------------

    var timer = null;
    var timerDue = 0;
    var inFlight = null;
    var failures = 0;
    var notBefore = 0;
    var batchLimit = DEFAULT_FLUSH_AT;

    function scheduleFlush(delay) {
        if (!settings.writeKey) return;
        var due = Math.max(Date.now() + delay, notBefore);
        if (timer !== null) {
            if (timerDue <= due) return;
            clearTimeout(timer);
        }
        timerDue = due;
        timer = setTimeout(function () {
            timer = null;
            // A timer set before a failure must not cut the backoff short.
            if (Date.now() < notBefore) scheduleFlush(0);
            else flush();
        }, Math.max(0, due - Date.now()));
    }

    function backoff(attempt) {
        var ceiling = Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * Math.pow(2, attempt - 1));
        return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    }

    function batchBody(events) {
        var sentAt = new Date().toISOString();
        var batch = [];
        for (var index = 0; index < events.length; index++) batch.push(assign({}, events[index], { sentAt: sentAt }));
        return JSON.stringify({ batch: batch, sentAt: sentAt, writeKey: settings.writeKey });
    }

    /** What to do with a batch after the gateway's answer: 'delivered', 'drop', 'split' or 'retry'. */
    function classify(status) {
        if (status >= 200 && status < 300) return 'delivered';
        if (status === 413) return 'split';
        if (status === 408 || status === 429 || status >= 500 || status === 0) return 'retry';
        return 'drop'; // 400 invalid events, 401 unknown write key: sending them again cannot succeed
    }

    function post(body) {
        var controller = typeof AbortController === 'function' ? new AbortController() : null;
        var timeout = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;
        return window
            .fetch(settings.endpoint, {
                method: 'POST',
                // text/plain keeps this a CORS "simple request": no preflight round trip.
                headers: { 'Content-Type': 'text/plain' },
                body: body,
                // keepalive lets a request started just before navigation finish; browsers cap its size.
                keepalive: byteLength(body) <= KEEPALIVE_MAX_BYTES,
                credentials: 'omit',
                signal: controller ? controller.signal : undefined
            })
            .then(
                function (response) {
                    if (timeout) clearTimeout(timeout);
                    if (response.status !== 200) return { status: response.status, answer: null };
                    return response.json().then(
                        function (answer) { return { status: 200, answer: answer }; },
                        function () { return { status: 200, answer: null }; }
                    );
                },
                function () {
                    if (timeout) clearTimeout(timeout);
                    return { status: 0, answer: null }; // network error, refused CORS, or timeout
                }
            );
    }

    /**
     * Sends what is queued, one batch at a time, until nothing sendable is left or a batch fails.
     * Resolves true when everything this tab could send was delivered.
     */
    function flush() {
        if (!settings.writeKey || typeof window.fetch !== 'function') return Promise.resolve(false);
        if (inFlight) return inFlight;
        var events = leaseEvents(batchLimit, MAX_BATCH_BYTES, SEND_LEASE_MS);
        if (events.length === 0) {
            var wait = nextLeaseExpiry();
            if (wait !== null) scheduleFlush(Math.max(wait, settings.flushInterval));
            return Promise.resolve(wait === null);
        }
        inFlight = post(batchBody(events)).then(function (result) {
            inFlight = null;
            var outcome = classify(result.status);
            if (outcome === 'delivered') {
                var answer = result.answer;
                if (answer && answer.success === false && Array.isArray(answer.rejected)) {
                    warn('the gateway refused ' + answer.rejected.length + ' event(s): ' +
                        answer.rejected.map(function (item) { return item.error; }).join(', '));
                }
                settle(events, true);
                failures = 0;
                notBefore = 0;
                return flush();
            }
            if (outcome === 'split' && events.length > 1) {
                batchLimit = Math.max(1, Math.floor(events.length / 2));
                settle(events, false);
                return flush();
            }
            if (outcome === 'retry') {
                settle(events, false);
                failures += 1;
                var delay = backoff(failures);
                notBefore = Date.now() + delay;
                scheduleFlush(delay);
                return false;
            }
            warn('the gateway answered ' + result.status + '; dropped ' + events.length + ' event(s)');
            settle(events, true);
            return flush();
        });
        return inFlight;
    }

    /** Page hide: hand what is queued to the browser, which sends it even as the page goes away. */
    function beaconQueue() {
        if (!settings.writeKey || !navigator.sendBeacon) return;
        var events;
        // Each beacon stays under the browser's 64 KiB budget; stop when the browser refuses one.
        while ((events = leaseEvents(settings.flushAt, KEEPALIVE_MAX_BYTES - 1000, BEACON_LEASE_MS)).length > 0) {
            var sent = false;
            try {
                sent = navigator.sendBeacon(settings.endpoint, batchBody(events));
            } catch (error) {
                sent = false;
            }
            if (!sent) {
                settle(events, false);
                break;
            }
        }
        // If the page lives on (a hidden tab), a normal request confirms the beaconed events later.
        scheduleFlush(BEACON_LEASE_MS);
    }

    // --- Building events ----------------------------------------------------------------------------

    function pageDefaults() {
        var location = window.location;
        return {
            path: location.pathname,
            referrer: document.referrer,
            search: location.search,
            title: document.title,
            url: location.href.split('#')[0]
        };
    }

    function timezone() {
        try {
            return Intl.DateTimeFormat().resolvedOptions().timeZone;
        } catch (error) {
            return undefined;
        }
    }

    function buildContext(options) {
        var extra = isObject(options.context) ? options.context : {};
        var context = {
            library: { name: LIBRARY_NAME, version: VERSION },
            locale: navigator.language,
            page: assign(pageDefaults(), extra.page),
            userAgent: navigator.userAgent
        };
        var zone = timezone();
        if (zone) context.timezone = zone;
        for (var key in extra) {
            if (key !== 'page' && Object.prototype.hasOwnProperty.call(extra, key)) context[key] = extra[key];
        }
        return context;
    }

    function emit(type, fields, options, callback) {
        options = isObject(options) ? options : {};
        var event = {
            type: type,
            messageId: uuid(),
            anonymousId: anonymousId(),
            timestamp: isoTimestamp(options.timestamp),
            context: buildContext(options),
            integrations: isObject(options.integrations) ? options.integrations : {}
        };
        var currentUserId = userId();
        if (currentUserId) event.userId = currentUserId;
        assign(event, fields);
        var length = enqueue(event);
        if (length >= settings.flushAt) scheduleFlush(0);
        else scheduleFlush(settings.flushInterval);
        if (typeof callback === 'function') setTimeout(callback, 0);
    }

    /** analytics.js's loose signatures: trailing (options, callback) where either may be missing. */
    function optionsAndCallback(args, from) {
        var options = args[from];
        var callback = args[from + 1];
        if (typeof options === 'function') {
            callback = options;
            options = undefined;
        }
        return { options: options, callback: callback };
    }

    // --- The API ------------------------------------------------------------------------------------

    var loaded = false;
    var readyCallbacks = [];
    var pendingCalls = []; // calls made before load(), replayed by it
    var autoPage = true;
    var snippetPaged = false; // the snippet queued a page() of its own, which stands for the automatic one
    var lastPagePath = null;
    var lastPageUrl = null;

    var analytics = {
        switchyard: true,
        VERSION: VERSION
    };

    function whenLoaded(name, body) {
        return function () {
            if (!loaded) {
                pendingCalls.push([name].concat(Array.prototype.slice.call(arguments)));
                return analytics;
            }
            body.apply(null, arguments);
            return analytics;
        };
    }

    /**
     * analytics.load(writeKey, options): starts the client. Options: host (the gateway's origin; default
     * the origin this script came from), cookieDomain (e.g. "example.com" to share ids across
     * subdomains), autoPage (default true), flushAt (default 20), flushInterval (ms, default 1000).
     */
    analytics.load = function (writeKey, options) {
        if (loaded) {
            warn('load() was called more than once; the first call wins');
            return analytics;
        }
        if (typeof writeKey !== 'string' || writeKey === '') {
            warn('load() needs the source\'s write key');
            return analytics;
        }
        options = isObject(options) ? options : {};
        var origin = scriptSource ? originOf(scriptSource) : null;
        if (typeof options.host === 'string' && options.host !== '') {
            var host = options.host.replace(/\/+$/, '');
            origin = originOf(/^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : 'https://' + host);
        }
        settings.writeKey = writeKey;
        settings.endpoint = (origin || window.location.origin) + '/v1/batch';
        settings.cookieDomain = typeof options.cookieDomain === 'string' ? options.cookieDomain : null;
        if (options.flushAt >= 1) settings.flushAt = Math.min(Math.floor(options.flushAt), 100);
        if (options.flushInterval >= 0) settings.flushInterval = options.flushInterval;
        batchLimit = settings.flushAt;
        if (options.autoPage === false) autoPage = false;
        loaded = true;

        anonymousId(); // the id exists (and the cookie is set) from the first load on
        lastPagePath = window.location.pathname + window.location.search;
        lastPageUrl = window.location.href;
        if (autoPage && !snippetPaged) analytics.page();

        var calls = pendingCalls;
        pendingCalls = [];
        for (var index = 0; index < calls.length; index++) invoke(calls[index]);

        scheduleFlush(0); // events an earlier page left in the queue
        var callbacks = readyCallbacks;
        readyCallbacks = [];
        for (var position = 0; position < callbacks.length; position++) setTimeout(callbacks[position], 0);
        return analytics;
    };

    /** page([category], [name], [properties], [options], [callback]) */
    analytics.page = whenLoaded('page', function () {
        var args = Array.prototype.slice.call(arguments);
        var category = null;
        var name = null;
        if ((typeof args[0] === 'string' || args[0] == null) && typeof args[1] === 'string') {
            category = args.shift();
            name = args.shift();
        } else if (typeof args[0] === 'string') {
            name = args.shift();
        } else if (args.length > 0 && args[0] == null) {
            args.shift();
        }
        var properties = isObject(args[0]) ? args.shift() : {};
        if (args.length > 0 && args[0] == null) args.shift();
        var rest = optionsAndCallback(args, 0);
        var context = isObject(rest.options) && isObject(rest.options.context) ? rest.options.context : {};
        properties = assign(pageDefaults(), context.page, properties);
        var fields = { properties: properties };
        if (name) {
            fields.name = name;
            properties.name = name;
        }
        if (category) {
            fields.category = category;
            properties.category = category;
        }
        emit('page', fields, rest.options, rest.callback);
    });

    /** track(event, [properties], [options], [callback]) */
    analytics.track = whenLoaded('track', function (event, properties, options, callback) {
        if (typeof event !== 'string' || event === '') {
            warn('track() needs an event name');
            return;
        }
        if (typeof properties === 'function') {
            callback = properties;
            options = undefined;
        }
        if (!isObject(properties)) properties = {};
        var rest = optionsAndCallback([options, callback], 0);
        emit('track', { event: event, properties: properties }, rest.options, rest.callback);
    });

    /**
     * identify([userId], [traits], [options], [callback]). The event carries the visitor's anonymousId,
     * which is how the gateway merges the anonymous history into the person. A different user than the
     * one remembered gets a fresh anonymousId and traits, as in analytics.js, so one browser's anonymous
     * history is never merged into two people.
     */
    analytics.identify = whenLoaded('identify', function (id, traits, options, callback) {
        if (isObject(id) || typeof id === 'function') {
            callback = options;
            options = traits;
            traits = id;
            id = null;
        }
        if (typeof id === 'number') id = String(id);
        if (typeof traits === 'function') {
            callback = traits;
            options = undefined;
        }
        if (!isObject(traits)) traits = {};
        var rest = optionsAndCallback([options, callback], 0);
        var current = userId();
        if (typeof id === 'string' && id !== '') {
            if (current && current !== id) {
                writeId(ANONYMOUS_ID_KEY, uuid());
                storageRemove(USER_TRAITS_KEY);
            }
            writeId(USER_ID_KEY, id);
        }
        var merged = assign(readTraits(USER_TRAITS_KEY), traits);
        writeTraits(USER_TRAITS_KEY, merged);
        emit('identify', { traits: merged }, rest.options, rest.callback);
    });

    /** alias(userId, [previousId], [options], [callback]); previousId defaults to the current id. */
    analytics.alias = whenLoaded('alias', function (to, from, options, callback) {
        if (typeof to === 'number') to = String(to);
        if (typeof to !== 'string' || to === '') {
            warn('alias() needs the new user id');
            return;
        }
        if (isObject(from) || typeof from === 'function') {
            callback = options;
            options = from;
            from = null;
        }
        var rest = optionsAndCallback([options, callback], 0);
        var previousId = typeof from === 'string' || typeof from === 'number' ? String(from) : userId() || anonymousId();
        emit('alias', { userId: to, previousId: previousId }, rest.options, rest.callback);
    });

    /** group(groupId, [traits], [options], [callback]); the group is remembered until reset(). */
    analytics.group = whenLoaded('group', function (groupId, traits, options, callback) {
        if (typeof groupId === 'number') groupId = String(groupId);
        if (typeof groupId !== 'string' || groupId === '') {
            warn('group() needs a group id');
            return;
        }
        if (typeof traits === 'function') {
            callback = traits;
            options = undefined;
        }
        if (!isObject(traits)) traits = {};
        var rest = optionsAndCallback([options, callback], 0);
        var remembered = readId(GROUP_ID_KEY) === groupId ? readTraits(GROUP_TRAITS_KEY) : {};
        var merged = assign(remembered, traits);
        writeId(GROUP_ID_KEY, groupId);
        writeTraits(GROUP_TRAITS_KEY, merged);
        emit('group', { groupId: groupId, traits: merged }, rest.options, rest.callback);
    });

    /** reset(): a new anonymousId; forgets the user, their traits and the group. Queued events still go. */
    analytics.reset = whenLoaded('reset', function () {
        removeId(USER_ID_KEY);
        removeId(GROUP_ID_KEY);
        storageRemove(USER_TRAITS_KEY);
        storageRemove(GROUP_TRAITS_KEY);
        writeId(ANONYMOUS_ID_KEY, uuid());
    });

    /** ready(callback): calls back once load() has run. */
    analytics.ready = function (callback) {
        if (typeof callback !== 'function') return analytics;
        if (loaded) setTimeout(callback, 0);
        else readyCallbacks.push(callback);
        return analytics;
    };

    /** Sends what is queued now; resolves true when it was all delivered. */
    analytics.flush = function () {
        return flush();
    };

    analytics.anonymousId = function () {
        return anonymousId();
    };

    analytics.userId = function () {
        return userId();
    };

    /** setAnonymousId(id): adopts an id from elsewhere (e.g. a server-rendered page). */
    analytics.setAnonymousId = function (id) {
        if (typeof id === 'string' && id !== '') writeId(ANONYMOUS_ID_KEY, id);
        return anonymousId();
    };

    /** analytics.js's user() accessor, read-only. */
    analytics.user = function () {
        return {
            id: userId,
            anonymousId: anonymousId,
            traits: function () { return readTraits(USER_TRAITS_KEY); }
        };
    };

    function invoke(call) {
        var method = call[0];
        if (method === 'load') return; // handled before the other calls
        if (typeof analytics[method] !== 'function') {
            warn('analytics.' + method + '() is not supported and was ignored');
            return;
        }
        analytics[method].apply(analytics, call.slice(1));
    }

    // --- Automatic page events ----------------------------------------------------------------------

    function pageAfterNavigation() {
        // Routers set the title after changing the URL; the next task sees the new one.
        setTimeout(function () {
            var path = window.location.pathname + window.location.search;
            if (!loaded || !autoPage || path === lastPagePath) return; // hash-only or state-only change
            var referrer = lastPageUrl;
            lastPagePath = path;
            lastPageUrl = window.location.href;
            analytics.page({}, { context: { page: { referrer: referrer } } });
        }, 0);
    }

    if (window.history && typeof window.history.pushState === 'function') {
        var pushState = window.history.pushState;
        window.history.pushState = function () {
            var result = pushState.apply(this, arguments);
            pageAfterNavigation();
            return result;
        };
    }
    window.addEventListener('popstate', pageAfterNavigation);

    // --- Page lifecycle -----------------------------------------------------------------------------

    window.addEventListener('pagehide', beaconQueue);
    document.addEventListener('visibilitychange', function () {
        if (document.visibilityState === 'hidden') beaconQueue();
    });
    window.addEventListener('online', function () {
        failures = 0;
        notBefore = 0;
        scheduleFlush(0);
    });

    // --- Start: replace the snippet's stub and replay what it queued --------------------------------

    window.analytics = analytics;
    if (preloadQueue) {
        var queued = preloadQueue.slice();
        var loadCall = null;
        for (var index = 0; index < queued.length; index++) {
            if (queued[index] && queued[index][0] === 'load' && !loadCall) loadCall = queued[index];
        }
        // Segment's snippet stores the key instead of queuing load().
        if (!loadCall && typeof preloadQueue._writeKey === 'string') {
            loadCall = ['load', preloadQueue._writeKey, preloadQueue._loadOptions];
        }
        for (var position = 0; position < queued.length; position++) {
            var call = queued[position];
            if (!Array.isArray(call) || call[0] === 'load') continue;
            if (call[0] === 'page') snippetPaged = true;
            pendingCalls.push(call);
        }
        if (loadCall) analytics.load.apply(analytics, loadCall.slice(1));
    }
})(window, document);
