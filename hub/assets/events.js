// Events (motion, camera alarms, health) for every page that shows them:
// one data source, one live feed, and their wording and colours.
//
// The hub says on each page whether it serves the events API
// (`data-events`) and its live push (`data-event-stream`); when it does not,
// `hubEvents.enabled` is false, nothing is requested and the pages leave
// their event widgets out. The API (ARCHITECTURE.md, "Events API"):
//   GET /api/events?camera=&start=&end=&kind=motion,alarm&limit=&before=
//     -> {"events":[{id,camera,kind,label,start_ms,end_ms,score,zone,thumbnail,message}],"next_before"}
//   GET /api/events/stream (SSE): `event: event`, data = one such object,
//     sent when an event starts and again when it ends.
// `hubEvents.source` fetches one page of that API; anything that answers the
// same way can replace it (`hubEvents.setSource(fn)`): the pages reload.
"use strict";

(function () {
  const body = document.body;
  const KINDS = ["motion", "alarm", "health"];
  const KIND_NAMES = { motion: "Motion", alarm: "Alarm", health: "Camera health" };
  const PAGE = 500; // events per request
  const listeners = new Set();
  const changeListeners = new Set();
  let stream = null;

  // One page of `GET /api/events`; `null` when the hub has no events API.
  async function apiSource(q) {
    const p = new URLSearchParams();
    if (q.camera) p.set("camera", q.camera);
    for (const k of ["start", "end", "limit", "before"]) {
      if (q[k] != null && Number.isFinite(Number(q[k]))) p.set(k, String(Math.round(Number(q[k]))));
    }
    if (q.kind && q.kind.length) p.set("kind", q.kind.join(","));
    const r = await fetch("/api/events?" + p, { credentials: "same-origin" });
    if (r.status === 404) return null;
    if (!r.ok) throw new Error("events: HTTP " + r.status);
    return r.json();
  }

  // An event as the pages use it, or null if it is not one: fields checked,
  // unknown kinds kept as "other" (drawn grey), text never parsed as HTML.
  function normalize(e) {
    if (!e || typeof e !== "object") return null;
    const start = Number(e.start_ms);
    if (!Number.isFinite(start)) return null;
    const end = e.end_ms == null ? null : Number(e.end_ms);
    const str = (v) => (v == null || v === "" ? null : String(v));
    const thumb = str(e.thumbnail);
    return {
      id: e.id,
      camera: String(e.camera || ""),
      kind: KINDS.includes(e.kind) ? e.kind : "other",
      label: str(e.label),
      start_ms: start,
      end_ms: Number.isFinite(end) ? Math.max(start, end) : null,
      score: Number.isFinite(Number(e.score)) && e.score != null ? Number(e.score) : null,
      zone: str(e.zone),
      // Only our own URLs (or inline images): an event never points the page elsewhere.
      thumbnail: thumb && (/^\/[^/\\]/.test(thumb) || /^data:image\//.test(thumb)) ? thumb : null,
      message: str(e.message),
    };
  }

  const E = {
    /** Whether this hub has events (or a test gave the page a source). */
    enabled: body.dataset.events === "1",
    /** Whether new events are pushed live. */
    live: body.dataset.eventStream === "1",
    /** Footage played before an event's start, and kept after its end in a clip. */
    preRollMs: Number(body.dataset.preRollMs) || 0,
    postRollMs: Number(body.dataset.postRollMs) || 0,
    KINDS,
    /** One page: `source({camera, start, end, kind: [..], limit, before})` ->
     *  `{events, next_before}`, or null when there are no events here. */
    source: apiSource,

    /** Replaces the data source (the pages then reload their events). */
    setSource(fn) {
      E.source = fn;
      E.enabled = true;
      changeListeners.forEach((f) => f());
    },
    /** Calls `fn` whenever the data source changes. */
    onChange(fn) {
      changeListeners.add(fn);
    },

    /** Every event matching `q`, newest first, up to `q.max` (default 2000).
     *  Resolves `{events, more}` (`more`: some were left out), or null when
     *  this hub has no events. */
    async list(q) {
      if (!E.enabled) return null;
      const max = q.max || 2000;
      const out = [];
      let before = null;
      for (;;) {
        const limit = Math.min(PAGE, max - out.length);
        const page = await E.source(Object.assign({}, q, { limit, before, max: undefined }));
        if (!page) {
          E.enabled = false;
          return null;
        }
        for (const e of page.events || []) {
          const n = normalize(e);
          if (n) out.push(n);
        }
        before = page.next_before;
        if (before == null || out.length >= max) return { events: out, more: before != null };
      }
    },

    /** Calls `fn(event)` for each event pushed live (new or updated);
     *  returns a function that stops it. */
    subscribe(fn) {
      listeners.add(fn);
      if (E.enabled && E.live && !stream && window.EventSource) {
        stream = new EventSource("/api/events/stream");
        stream.addEventListener("event", (m) => {
          try {
            E.emit(JSON.parse(m.data));
          } catch (err) {
            // A malformed message is skipped; the next one is read.
          }
        });
      }
      return () => listeners.delete(fn);
    },
    /** Hands `event` to every subscriber (what the live push does with each message). */
    emit(event) {
      const n = normalize(event);
      if (n) listeners.forEach((f) => f(n));
    },

    normalize,
    /** What happened, for people: the label ("Person"), else a health
     *  event's message ("Camera offline"), else the kind ("Motion"). */
    title(e) {
      if (e.label) return e.label.charAt(0).toUpperCase() + e.label.slice(1);
      if (e.kind === "health" && e.message) return e.message;
      return KIND_NAMES[e.kind] || "Event";
    },
    /** The kind's name: "Motion", "Alarm", "Camera health". */
    kindName: (k) => KIND_NAMES[k] || "Event",
    /** Where playback of an event starts: its start minus the pre-roll. */
    playFrom: (e) => e.start_ms - E.preRollMs,
    /** The events of `list` with `e` added or replaced (same id), sorted by start. */
    upsert(list, e) {
      const out = list.filter((x) => x.id !== e.id || x.camera !== e.camera);
      out.push(e);
      out.sort((a, b) => a.start_ms - b.start_ms);
      return out;
    },
    /** An export link of the event's footage with pre- and post-roll. */
    clipUrl(e) {
      const end = (e.end_ms == null ? Date.now() : e.end_ms) + E.postRollMs;
      return "/api/recordings/export?camera=" + encodeURIComponent(e.camera) +
        "&start=" + Math.round(e.start_ms - E.preRollMs) + "&end=" + Math.round(end);
    },
  };

  window.hubEvents = E;
})();
