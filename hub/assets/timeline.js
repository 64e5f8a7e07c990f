// Timeline page: one camera's footage on an axis that zooms from a minute to
// a week, in the viewer's time zone. Stretches without footage are drawn as
// gaps (long ones labelled, outages named when the hub reports them); events
// are drawn over the footage, coloured by kind, and play from their start
// minus the pre-roll. Click or drag the axis to play from a moment; arrows
// step, space plays and pauses; playback runs on across segments.
"use strict";

(function () {
  const T = window.hubTime, E = window.hubEvents, H = window.hub;
  const MIN = 60e3, HOUR = 3600e3, DAY = 86400e3;
  /** The spans the zoom steps through. */
  const ZOOMS = [MIN, 5 * MIN, 15 * MIN, HOUR, 3 * HOUR, 12 * HOUR, DAY, 3 * DAY, 7 * DAY];
  /** Ruler steps: the first that leaves TICK_PX between labels is used. */
  const TICKS = [5e3, 10e3, 15e3, 30e3, MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN,
    HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY];
  const TICK_PX = 90;
  /** What the arrow keys step (with Shift: BIG_STEP). */
  const STEP = 10e3, BIG_STEP = MIN;
  /** Segments closer than this (or than a pixel) are one run of footage. */
  const JOIN_MS = 1500;
  /** Gaps at least this wide get a label. */
  const LABEL_PX = 80;
  /** The export API's longest range. */
  const EXPORT_MAX = DAY;

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const camera = body.dataset.camera;
  const enc = encodeURIComponent;
  const axis = $("axis"), footLane = $("footage-lane"), evLane = $("events-lane");
  const playhead = $("playhead"), nowLine = $("now-line"), tip = $("event-tip");
  const video = $("player");

  const view = { start: 0, span: DAY };
  const state = {
    camera, view,
    /** Loaded segments, oldest first, and the range they were loaded for. */
    segments: [], covered: null,
    /** Events of the loaded range (empty when the hub has none). */
    events: [],
    /** The segment in the player, its index in `segments`, and the player's
     *  time of its first frame (non-zero when an agent's run continued). */
    seg: null, current: -1,
    /** The moment the playhead shows (unix ms) and the time into the segment (s). */
    wallTime: undefined, segmentTime: 0,
    ready: false, scrubbing: false,
  };
  window.timeline = state;

  // ---- positions -------------------------------------------------------

  const pct = (ms) => ((ms - view.start) / view.span) * 100;
  const lanePx = () => footLane.getBoundingClientRect().width || 1;
  /** The moment under client x. */
  function timeAt(clientX) {
    const r = footLane.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - r.left) / (r.width || 1)));
    return view.start + f * view.span;
  }
  function place(el, a, b) {
    const l = Math.max(0, pct(a)), r = Math.min(100, pct(b));
    el.style.left = l + "%";
    el.style.width = Math.max(0, r - l) + "%";
  }
  const inView = (ms) => ms >= view.start && ms <= view.start + view.span;

  // ---- loading ---------------------------------------------------------

  async function fetchSegments(a, b) {
    const r = await H.getJson("/api/recordings?camera=" + enc(camera) + "&start=" + Math.floor(a) + "&end=" + Math.ceil(b));
    return (r && r.segments) || [];
  }

  function merge(list, replace) {
    const by = new Map(replace ? [] : state.segments.map((s) => [s.name, s]));
    for (const s of list) by.set(s.name, s);
    state.segments = [...by.values()].sort((x, y) => x.start_ms - y.start_ms);
    state.current = state.seg ? state.segments.findIndex((s) => s.name === state.seg.name) : -1;
  }

  let loading = Promise.resolve();
  /** Loads the footage of [a, b] with a margin, unless it is loaded; then
   *  the events of what is loaded. Calls run one after another. */
  function ensure(a, b) {
    loading = loading.then(() => load(a, b)).catch(fail);
    return loading;
  }
  async function load(a, b) {
    const margin = Math.min(DAY, Math.max(10 * MIN, (b - a) / 2));
    const lo = a - margin, hi = b + margin;
    const c = state.covered;
    if (c && lo >= c[0] && hi <= c[1]) return;
    $("summary").textContent = "Loading…";
    if (!c || hi < c[0] || lo > c[1] || Math.max(hi, c[1]) - Math.min(lo, c[0]) > 21 * DAY) {
      merge(await fetchSegments(lo, hi), true);
      state.covered = [lo, hi];
    } else {
      const parts = [];
      if (lo < c[0]) parts.push(fetchSegments(lo, c[0]));
      if (hi > c[1]) parts.push(fetchSegments(c[1], hi));
      merge((await Promise.all(parts)).flat(), false);
      state.covered = [Math.min(lo, c[0]), Math.max(hi, c[1])];
    }
    draw();
    await loadEvents();
  }

  /** New footage of the last minutes, while the present is loaded (new
   *  events come through the live feed). */
  async function refreshTail() {
    const c = state.covered, now = Date.now();
    if (!c || c[1] < now - 2 * MIN) return;
    merge(await fetchSegments(now - 15 * MIN, now + MIN), false);
    state.covered = [c[0], Math.max(c[1], now + MIN)];
    draw();
  }

  async function loadEvents() {
    const c = state.covered;
    if (!c || !E.enabled) {
      state.events = [];
      draw();
      return;
    }
    const r = await E.list({ camera, start: c[0], end: c[1] });
    state.events = r ? r.events.filter((e) => e.camera === camera).sort((x, y) => x.start_ms - y.start_ms) : [];
    state.eventsTruncated = !!(r && r.more);
    draw();
  }
  state.reloadEvents = () => {
    loading = loading.then(loadEvents).catch(fail);
    return loading;
  };

  function fail(e) {
    $("summary").textContent = "Could not load: " + e.message;
  }

  // ---- drawing ---------------------------------------------------------

  /** Runs of footage overlapping [a, b): back-to-back segments joined. */
  function runs(a, b) {
    const join = Math.max(JOIN_MS, view.span / lanePx());
    const out = [];
    for (const s of state.segments) {
      if (s.end_ms <= a || s.start_ms >= b) continue;
      const last = out[out.length - 1];
      if (last && s.start_ms - last.end <= join) {
        last.end = Math.max(last.end, s.end_ms);
        last.segments++;
        last.footage += s.duration_ms;
      } else {
        out.push({ start: s.start_ms, end: s.end_ms, segments: 1, footage: s.duration_ms });
      }
    }
    return out;
  }

  function drawRuler() {
    const ruler = $("ruler");
    ruler.textContent = "";
    axis.querySelectorAll(".tickline").forEach((e) => e.remove());
    const w = lanePx(), end = view.start + view.span;
    const step = TICKS.find((s) => (s / view.span) * w >= TICK_PX) || DAY;
    for (const t of tickTimes(view.start, end, step)) {
      const d = new Date(t);
      const midnight = d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0;
      const label = midnight ? T.dayShort(t) : step < MIN ? T.time(t) : T.hm(t);
      const at = pct(t);
      // Labels at the ends are kept inside the ruler.
      const edge = at < 4 ? " first" : at > 96 ? " last" : "";
      const s = H.el("span", "tick" + (midnight ? " day" : "") + edge, label);
      s.style.left = at + "%";
      s.dataset.ms = t;
      ruler.appendChild(s);
      const line = H.el("div", "tickline" + (midnight ? " day" : ""));
      line.style.left = pct(t) + "%";
      axis.insertBefore(line, axis.firstChild);
    }
  }

  /** Local-time-aligned tick times in [a, b]: every `step` from a local
   *  midnight (so 13:00 in Kolkata, not 12:30), or local midnights. */
  function tickTimes(a, b, step) {
    const out = [];
    if (step >= DAY) {
      const d = new Date(a);
      let t = new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
      if (t < a) t = T.nextDay(t);
      for (; t <= b && out.length < 400; t = T.nextDay(t)) out.push(t);
      return out;
    }
    const up = (t) => {
      const d = new Date(t);
      const into = ((d.getHours() * 60 + d.getMinutes()) * 60 + d.getSeconds()) * 1000 + d.getMilliseconds();
      return t + ((step - (into % step)) % step);
    };
    for (let t = up(a); t <= b && out.length < 400; t = up(t + 1)) out.push(t);
    return out;
  }

  /** The label of a stretch without footage: an outage the hub reported, or "No footage". */
  function gapText(a, b) {
    const out = state.events.find((e) => e.kind === "health" && e.start_ms < b && (e.end_ms == null || e.end_ms > a));
    const what = out ? out.message || E.title(out) : "No footage";
    return { what, outage: !!out };
  }

  function drawFootage() {
    footLane.textContent = "";
    const a = view.start, b = view.start + view.span, now = Date.now(), w = lanePx();
    const c = state.covered;
    if (!c) return;
    const rs = runs(Math.max(a, c[0]), Math.min(b, c[1]));
    const zone = T.zoneName(a + view.span / 2);
    // A stretch without footage drawn over [from, to); the whole stretch is
    // [gs, ge] (beyond the view if it goes on), `known` when both ends are footage.
    const gap = (from, to, gs, ge, known) => {
      if (to <= from) return;
      const { what, outage } = gapText(gs, ge);
      const el = H.el("div", "gap" + (outage ? " outage" : ""));
      place(el, from, to);
      el.dataset.start = gs;
      el.dataset.end = ge;
      const text = known ? what + " · " + T.duration(ge - gs) : what;
      el.title = text + (known ? " (" + T.time(gs) + " – " + T.time(ge) + " " + zone + ")" : "");
      if (((to - from) / view.span) * w >= LABEL_PX) el.appendChild(H.el("span", "label", text));
      footLane.appendChild(el);
    };
    let cursor = Math.max(a, c[0]);
    // Footage ending before the view, for the first gap's start.
    let before = null;
    for (const s of state.segments) {
      if (s.start_ms >= cursor) break;
      if (s.end_ms <= cursor + JOIN_MS && (!before || s.end_ms > before)) before = s.end_ms;
    }
    let prevEnd = before;
    for (const r of rs) {
      if (r.start > cursor) gap(cursor, Math.min(r.start, now), prevEnd == null ? cursor : prevEnd, r.start, prevEnd != null);
      const el = H.el("div", "run");
      place(el, r.start, r.end);
      el.dataset.start = r.start;
      el.dataset.end = r.end;
      el.dataset.segments = r.segments;
      el.title = T.time(r.start) + " – " + T.time(r.end) + " " + zone + " · " + T.duration(r.end - r.start);
      if (((Math.min(b, r.end) - Math.max(a, r.start)) / view.span) * w >= LABEL_PX) {
        el.appendChild(H.el("span", "label", T.time(r.start)));
      }
      footLane.appendChild(el);
      cursor = Math.max(cursor, r.end);
      prevEnd = r.end;
    }
    const pastEnd = Math.min(b, now, c[1]);
    if (cursor < pastEnd) {
      const next = state.segments.find((s) => s.start_ms >= pastEnd);
      const ge = next ? next.start_ms : Math.min(now, c[1]);
      gap(cursor, pastEnd, prevEnd == null ? cursor : prevEnd, ge, prevEnd != null && !!next);
    }
    if (now < b) {
      const f = H.el("div", "future");
      place(f, Math.max(a, now), b);
      f.title = "Not yet recorded";
      footLane.insertBefore(f, footLane.firstChild);
    }
    const inside = rs.reduce((n, r) => n + Math.min(b, r.end) - Math.max(a, r.start), 0);
    const hint = $("hint");
    hint.hidden = !!state.seg;
    const touch = window.matchMedia && matchMedia("(pointer: coarse)").matches;
    hint.textContent = !rs.length ? "No footage in view: zoom out, or pick another day."
      : touch ? "Tap the timeline below to play." : "Click the timeline below (or press Space) to play.";
    const nseg = state.segments.filter((s) => s.end_ms > a && s.start_ms < b).length;
    $("summary").textContent = nseg + " segment" + (nseg === 1 ? "" : "s") + ", " +
      T.duration(inside) + " of footage in view" +
      (E.enabled ? ", " + eventsInView().length + " events" + (state.eventsTruncated ? " (the latest shown)" : "") : "");
  }

  const eventsInView = () => state.events.filter((e) =>
    e.start_ms < view.start + view.span && (e.end_ms == null ? Date.now() : e.end_ms) > view.start);

  /** Markers of the events in view; same-kind markers that would touch
   *  are one marker (its count in `data-count`). */
  function drawEvents() {
    evLane.hidden = !E.enabled;
    axis.classList.toggle("with-events", E.enabled);
    const legend = $("legend");
    legend.hidden = !E.enabled;
    if (E.enabled && !legend.childElementCount) {
      for (const k of E.KINDS) legend.append(H.el("span", "kind-" + k), E.kindName(k));
    }
    evLane.textContent = "";
    if (!E.enabled) return;
    const w = lanePx(), now = Date.now(), MINW = 6;
    const x = (ms) => ((ms - view.start) / view.span) * w;
    const open = {};
    const markers = [];
    for (const e of eventsInView()) {
      const x0 = x(e.start_ms), x1 = Math.max(x0 + MINW, x(e.end_ms == null ? now : e.end_ms));
      const m = open[e.kind];
      if (m && x0 <= m.x1 + 2) {
        m.events.push(e);
        m.x1 = Math.max(m.x1, x1);
        continue;
      }
      open[e.kind] = { events: [e], x0, x1 };
      markers.push(open[e.kind]);
    }
    for (const m of markers) {
      const e = m.events[0];
      const el = H.el("div", "event kind-" + e.kind + (e.end_ms == null ? " ongoing" : ""));
      el.style.left = (m.x0 / w) * 100 + "%";
      el.style.width = ((m.x1 - m.x0) / w) * 100 + "%";
      el.dataset.id = e.id;
      el.dataset.start = e.start_ms;
      el.dataset.count = m.events.length;
      el.setAttribute("aria-label", E.title(e) + " at " + T.time(e.start_ms));
      el._events = m.events;
      evLane.appendChild(el);
    }
  }

  function drawPlayhead() {
    const t = state.wallTime;
    playhead.hidden = t === undefined || !inView(t);
    if (t !== undefined) {
      playhead.style.left = pct(t) + "%";
      $("now").textContent = T.full(t);
      axis.setAttribute("aria-valuetext", T.full(t));
    }
    const now = Date.now();
    nowLine.hidden = !inView(now);
    nowLine.style.left = pct(now) + "%";
  }

  function drawLabels() {
    const a = view.start, b = view.start + view.span;
    const withSecs = view.span <= 15 * MIN;
    const tm = withSecs ? T.time : T.hm;
    $("range").textContent = T.dayShort(a) + " " + tm(a) + " – " +
      (T.isoDay(a) === T.isoDay(b) ? "" : T.dayShort(b) + " ") + tm(b) + " " + T.zoneName(a);
    $("day").textContent = T.isoDay(a) === T.isoDay(b - 1) ? T.dayLong(a) : T.dayShort(a) + " – " + T.dayShort(b - 1);
    $("zone").textContent = T.zoneLabel(a + view.span / 2);
    $("date").value = T.isoDay(a + view.span / 2);
    const z = $("zoom");
    const near = ZOOMS.reduce((p, s) => (Math.abs(Math.log(s / view.span)) < Math.abs(Math.log(p / view.span)) ? s : p));
    z.value = String(near);
  }

  function draw() {
    drawLabels();
    drawRuler();
    drawEvents();
    drawFootage();
    drawPlayhead();
    exportDefaults();
  }

  // ---- view ------------------------------------------------------------

  /** Shows [start, start + span) and loads what it needs. */
  function setView(start, span) {
    view.span = Math.min(ZOOMS[ZOOMS.length - 1], Math.max(ZOOMS[0], span));
    view.start = start;
    draw();
    return ensure(view.start, view.start + view.span);
  }

  /** Zooms to `span`, keeping `anchor` (default: the playhead if it is in
   *  view, else the middle) at the same place on the axis. */
  function zoomTo(span, anchor) {
    span = Math.min(ZOOMS[ZOOMS.length - 1], Math.max(ZOOMS[0], span));
    if (anchor === undefined) {
      anchor = state.wallTime !== undefined && inView(state.wallTime) ? state.wallTime : view.start + view.span / 2;
    }
    const f = (anchor - view.start) / view.span;
    return setView(anchor - f * span, span);
  }
  /** One zoom level in (`dir` -1) or out (+1). */
  function zoomBy(dir, anchor) {
    let i = ZOOMS.findIndex((s) => s >= view.span - 1);
    if (i < 0) i = ZOOMS.length - 1;
    if (dir > 0 && ZOOMS[i] > view.span + 1) i--; // between levels: out goes to the next one up
    const j = Math.min(ZOOMS.length - 1, Math.max(0, i + dir));
    return zoomTo(ZOOMS[j], anchor);
  }
  const pan = (f) => setView(view.start + f * view.span, view.span);

  /** Keeps the playhead in view while playing. */
  function follow() {
    const t = state.wallTime;
    if (t === undefined || state.scrubbing || inView(t)) return;
    setView(t - 0.1 * view.span, view.span);
  }

  Object.assign(state, { setView, zoomTo, zoomBy, pan, timeAt });

  // ---- playback --------------------------------------------------------

  // Every segment file's media time starts at 0: a position in a file is the
  // time since its segment's start_ms.

  let loadSeq = 0;
  /** Plays (or shows, paused) segment `s` from `ms` into it. `play`
   *  undefined keeps playing or paused as it was. */
  function show(s, ms, play) {
    const seq = ++loadSeq;
    const wantPlay = play === undefined ? state.seg !== null && !video.paused : play;
    state.seg = s;
    $("hint").hidden = true;
    state.current = state.segments.indexOf(s);
    state.wallTime = s.start_ms + ms;
    state.segmentTime = ms / 1000;
    $("segment-name").textContent = s.name;
    if (!inView(state.wallTime)) setView(state.wallTime - 0.25 * view.span, view.span);
    drawPlayhead();
    const go = () => {
      if (seq !== loadSeq) return;
      const want = ms / 1000;
      if (Math.abs(video.currentTime - want) > 0.0005) video.currentTime = want;
      if (wantPlay) video.play().catch(() => {});
      else video.pause();
    };
    if (video.dataset.name === s.name && video.readyState >= 1) {
      go();
    } else {
      video.dataset.name = s.name;
      video.addEventListener("loadedmetadata", go, { once: true });
      video.src = s.url;
    }
  }

  /** Plays from `ms`: inside footage from there; in a gap, from the next
   *  footage (`dir` >= 0) or the last STEP before the gap (`dir` < 0). */
  async function seekTo(ms, opts) {
    const { play, dir = 1 } = opts || {};
    await ensure(ms, ms);
    const segs = state.segments;
    let s = segs.find((x) => x.start_ms <= ms && ms < x.end_ms);
    let at = s ? ms - s.start_ms : 0;
    if (!s && dir < 0) {
      s = segs.filter((x) => x.end_ms <= ms).pop();
      if (s) at = Math.max(0, s.duration_ms - STEP);
    }
    if (!s) s = segs.find((x) => x.start_ms > ms) || (await later(ms));
    if (!s) {
      note("No footage after " + T.full(ms));
      return false;
    }
    show(s, at, play);
    return true;
  }

  /** The first segment after `ms` beyond what is loaded (looks a day ahead). */
  async function later(ms) {
    const c = state.covered;
    if (!c || ms > Date.now()) return null;
    const from = Math.max(ms, c[1]);
    const more = await fetchSegments(from, from + DAY);
    merge(more, false);
    state.covered = [c[0], Math.max(c[1], from + DAY)];
    return state.segments.find((x) => x.start_ms > ms) || null;
  }

  function note(text) {
    const n = $("segment-name");
    n.textContent = text;
  }

  video.addEventListener("ended", async () => {
    const s = state.seg;
    if (!s) return;
    const i = state.segments.indexOf(s);
    const next = (i >= 0 && state.segments[i + 1]) || state.segments.find((x) => x.start_ms > s.start_ms) || (await later(s.end_ms));
    if (next) {
      show(next, 0, true);
      if (next.start_ms - s.end_ms > JOIN_MS) note(next.name + " (skipped " + T.duration(next.start_ms - s.end_ms) + " without footage)");
    } else {
      note("End of the recordings");
    }
  });

  function onTime() {
    const s = state.seg;
    if (!s || state.scrubbing || video.dataset.name !== s.name || video.readyState < 1) return;
    state.segmentTime = video.currentTime;
    state.wallTime = s.start_ms + state.segmentTime * 1000;
    drawPlayhead();
    follow();
  }
  video.addEventListener("timeupdate", onTime);
  video.addEventListener("seeked", onTime);
  const playBtn = $("play");
  const syncPlay = () => {
    const playing = !video.paused;
    playBtn.textContent = playing ? "❚❚" : "▶";
    playBtn.setAttribute("aria-label", playing ? "Pause" : "Play");
  };
  video.addEventListener("play", syncPlay);
  video.addEventListener("pause", syncPlay);

  /** Where to start when nothing was played yet: the first footage in view, else the latest. */
  function startingPoint() {
    const s = state.segments.find((x) => x.end_ms > view.start && x.start_ms < view.start + view.span) ||
      state.segments[state.segments.length - 1];
    return s ? Math.max(s.start_ms, view.start) : view.start;
  }

  function togglePlay() {
    if (!state.seg) return seekTo(startingPoint(), { play: true });
    if (video.paused) video.play().catch(() => {});
    else video.pause();
  }

  function step(delta) {
    const from = state.wallTime !== undefined ? state.wallTime : startingPoint();
    return seekTo(from + delta, { dir: Math.sign(delta) });
  }

  function playEvent(e) {
    return seekTo(E.playFrom(e), { play: true });
  }

  Object.assign(state, {
    seekTo, togglePlay, step, playEvent,
    playAt: (ms) => seekTo(ms, { play: true }),
  });

  // ---- pointer: click, drag to scrub, hover for events ------------------

  let drag = null;
  axis.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    axis.focus({ preventScroll: true });
    try {
      axis.setPointerCapture(ev.pointerId); // the drag goes on outside the axis
    } catch (err) {
      // A pointer the browser does not track: the drag ends at the axis' edge.
    }
    drag = { x: ev.clientX, moved: false, loaded: 0, wasPlaying: !video.paused, marker: ev.target.closest(".event") };
  });
  axis.addEventListener("pointermove", (ev) => {
    if (!drag) {
      hover(ev);
      return;
    }
    if (!drag.moved && Math.abs(ev.clientX - drag.x) < 4) return;
    if (!drag.moved) {
      drag.moved = true;
      state.scrubbing = true;
      hideTip();
      video.pause();
    }
    const ms = timeAt(ev.clientX);
    state.wallTime = ms;
    drawPlayhead();
    // Show the picture at that moment while dragging, one seek at a time.
    const s = state.segments.find((x) => x.start_ms <= ms && ms < x.end_ms);
    if (!s || video.seeking) return;
    if (s === state.seg && video.dataset.name === s.name && video.readyState >= 1) {
      video.currentTime = (ms - s.start_ms) / 1000;
    } else if (Date.now() - drag.loaded > 300) {
      drag.loaded = Date.now();
      show(s, ms - s.start_ms, false);
    }
  });
  function endDrag(ev, cancelled) {
    const d = drag;
    drag = null;
    state.scrubbing = false;
    if (!d) return;
    const ms = timeAt(ev.clientX);
    if (cancelled) {
      if (d.moved) seekTo(state.wallTime, { play: d.wasPlaying });
    } else if (!d.moved) {
      if (d.marker && d.marker._events) playEvent(d.marker._events[0]);
      else seekTo(ms, { play: true });
    } else {
      seekTo(ms, { play: d.wasPlaying });
    }
  }
  axis.addEventListener("pointerup", (ev) => endDrag(ev, false));
  axis.addEventListener("pointercancel", (ev) => endDrag(ev, true));
  axis.addEventListener("pointerleave", hideTip);
  axis.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY) || ev.shiftKey) {
      pan(((ev.deltaX || ev.deltaY) > 0 ? 1 : -1) * 0.1);
    } else if (ev.deltaY) {
      zoomBy(ev.deltaY > 0 ? 1 : -1, timeAt(ev.clientX));
    }
  }, { passive: false });

  function hover(ev) {
    const m = ev.target.closest && ev.target.closest(".event");
    if (!m || !m._events) return hideTip();
    const e = m._events[0];
    const img = tip.querySelector("img");
    img.hidden = !e.thumbnail;
    if (e.thumbnail && img.getAttribute("src") !== e.thumbnail) img.src = e.thumbnail;
    const text = tip.querySelector(".text");
    text.textContent = "";
    text.appendChild(H.el("strong", null, E.title(e)));
    const lines = [
      E.kindName(e.kind) + (e.zone ? " · zone " + e.zone : "") + (e.score != null ? " · " + Math.round(e.score * 100) + "%" : ""),
      T.time(e.start_ms) + " – " + (e.end_ms == null ? "ongoing" : T.time(e.end_ms)) + " " + T.zoneName(e.start_ms) +
        (e.end_ms == null ? "" : " (" + T.duration(e.end_ms - e.start_ms) + ")"),
    ];
    if (e.message) lines.push(e.message);
    if (m._events.length > 1) lines.push("and " + (m._events.length - 1) + " more here: zoom in");
    lines.push("Click to play from " + T.time(E.playFrom(e)));
    for (const l of lines) text.appendChild(H.el("div", null, l));
    tip.hidden = false;
    const box = tip.parentElement.getBoundingClientRect(), mr = m.getBoundingClientRect();
    const w = tip.offsetWidth;
    const left = Math.min(box.width - w, Math.max(0, mr.left + mr.width / 2 - box.left - w / 2));
    tip.style.left = left + "px";
  }
  function hideTip() {
    tip.hidden = true;
  }

  // ---- keys ------------------------------------------------------------

  // Captured before the player's own keys, so a key does one thing.
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && t.closest && t.closest("input, select, textarea, [contenteditable]")) return;
    switch (ev.key) {
      case "ArrowLeft": step(-(ev.shiftKey ? BIG_STEP : STEP)); break;
      case "ArrowRight": step(ev.shiftKey ? BIG_STEP : STEP); break;
      case " ": case "k": togglePlay(); break;
      case "+": case "=": zoomBy(-1); break;
      case "-": case "_": zoomBy(1); break;
      default: return;
    }
    ev.preventDefault();
    ev.stopPropagation();
  }, true);
  // A focused button must not also take the space bar as a click.
  document.addEventListener("keyup", (ev) => {
    if (ev.key === " " && ev.target && ev.target.closest && ev.target.closest("button")) ev.preventDefault();
  }, true);

  // ---- controls --------------------------------------------------------

  $("play").addEventListener("click", togglePlay);
  $("zoom-in").addEventListener("click", () => zoomBy(-1));
  $("zoom-out").addEventListener("click", () => zoomBy(1));
  $("zoom").addEventListener("change", (ev) => zoomTo(Number(ev.target.value)));
  $("earlier").addEventListener("click", () => pan(-0.5));
  $("later").addEventListener("click", () => pan(0.5));
  $("to-now").addEventListener("click", () => setView(Date.now() - 0.9 * view.span, view.span));
  $("date").addEventListener("change", (ev) => {
    const d = T.dayStart(ev.target.value);
    if (!Number.isFinite(d)) return;
    history.replaceState(null, "", "?date=" + ev.target.value);
    setView(d, T.nextDay(d) - d);
  });
  $("camera").addEventListener("change", (ev) => {
    const t = state.wallTime !== undefined ? "?t=" + Math.round(state.wallTime) : "?date=" + T.isoDay(view.start + view.span / 2);
    location.href = "/timeline/" + enc(ev.target.value) + t;
  });

  // Export: the visible span until the viewer picks times.
  let exportEdited = false;
  function exportDefaults() {
    if (exportEdited) return;
    const now = Date.now();
    $("export-start").value = T.inputValue(view.start);
    $("export-end").value = T.inputValue(Math.min(view.start + view.span, Math.max(view.start, now)) - 1000);
    exportLink();
  }
  function exportLink() {
    const a = T.fromInput($("export-start").value);
    const b = T.fromInput($("export-end").value) + 1000; // the end second is included
    const link = $("export-link"), note = $("export-note");
    const ok = Number.isFinite(a) && Number.isFinite(b) && b > a && b - a <= EXPORT_MAX;
    if (ok) link.href = "/api/recordings/export?camera=" + enc(camera) + "&start=" + a + "&end=" + b;
    else link.removeAttribute("href");
    note.textContent = ok ? T.duration(b - a) : "Pick a range of at most 24 hours.";
  }
  for (const id of ["export-start", "export-end"]) {
    $(id).addEventListener("change", () => {
      exportEdited = true;
      exportLink();
    });
  }

  // ---- start -----------------------------------------------------------

  async function cameras() {
    const list = await H.getJson("/api/cameras");
    const sel = $("camera");
    for (const c of (list && list.cameras) || []) {
      if (c.name === camera) continue;
      const o = document.createElement("option");
      o.value = o.textContent = c.name;
      sel.appendChild(o);
    }
  }

  async function main() {
    const q = new URLSearchParams(location.search);
    const t = Number(q.get("t"));
    E.onChange(() => state.reloadEvents());
    E.subscribe((e) => {
      if (e.camera !== camera) return;
      state.events = E.upsert(state.events, e);
      drawEvents();
      drawFootage();
    });
    window.addEventListener("resize", () => draw());
    cameras().catch(() => {});
    if (q.has("t") && Number.isFinite(t) && t > 0) {
      await setView(t - 0.25 * 15 * MIN, 15 * MIN);
      await seekTo(t, { play: true });
    } else {
      let d = T.dayStart(body.dataset.date || q.get("date"));
      if (!Number.isFinite(d)) d = T.dayStart(T.isoDay(Date.now()));
      await setView(d, T.nextDay(d) - d);
    }
    state.ready = true;
    setInterval(() => {
      refreshTail().catch(() => {});
      drawPlayhead();
    }, 30e3);
  }
  main().catch(fail);
})();
