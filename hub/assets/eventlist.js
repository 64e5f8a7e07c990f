// Events page: one day's events (in the viewer's time zone) for one camera
// or all, newest first, with thumbnails, filtered by kind, label and zone.
// Each links to the timeline at its start minus the pre-roll, and to a clip
// with pre- and post-roll. New events arrive live where the hub pushes them.
"use strict";

(function () {
  const T = window.hubTime, E = window.hubEvents, H = window.hub;
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const list = $("events");
  const state = { events: [], more: false, ready: false, queries: 0 };
  window.eventList = state;

  const q = new URLSearchParams(location.search);
  const f = {
    camera: q.get("camera") || "",
    date: Number.isFinite(T.dayStart(q.get("date"))) ? q.get("date") : T.isoDay(Date.now()),
    kinds: (q.get("kind") || "").split(",").filter((k) => E.KINDS.includes(k)),
    label: q.get("label") || "",
    zone: q.get("zone") || "",
  };
  if (!f.kinds.length) f.kinds = E.KINDS.slice();

  function syncUrl() {
    const p = new URLSearchParams();
    if (f.camera) p.set("camera", f.camera);
    p.set("date", f.date);
    if (f.kinds.length !== E.KINDS.length) p.set("kind", f.kinds.join(","));
    if (f.label) p.set("label", f.label);
    if (f.zone) p.set("zone", f.zone);
    history.replaceState(null, "", "?" + p);
  }

  const dayRange = () => {
    const a = T.dayStart(f.date);
    return [a, T.nextDay(a)];
  };

  /** The events of the day that pass the filters (kind is asked of the hub). */
  function visible() {
    return state.events.filter((e) =>
      f.kinds.includes(e.kind) &&
      (!f.camera || e.camera === f.camera) &&
      (!f.label || e.label === f.label) &&
      (!f.zone || e.zone === f.zone));
  }

  function fillSelect(sel, values, current) {
    const keep = sel.options[0];
    sel.textContent = "";
    sel.appendChild(keep);
    for (const v of [...new Set(values)].sort()) {
      const o = document.createElement("option");
      o.value = o.textContent = v;
      sel.appendChild(o);
    }
    if (current && !values.includes(current)) {
      const o = document.createElement("option");
      o.value = o.textContent = current;
      sel.appendChild(o);
    }
    sel.value = current;
  }

  function item(e) {
    const li = H.el("li", "event-item kind-" + e.kind);
    li.dataset.id = e.id;
    li.dataset.start = e.start_ms;
    const play = "/timeline/" + enc(e.camera) + "?t=" + Math.round(E.playFrom(e));
    const thumb = H.el("a", "thumb");
    thumb.href = play;
    if (e.thumbnail) {
      const img = H.el("img");
      img.loading = "lazy";
      img.alt = E.title(e) + " at " + T.time(e.start_ms);
      img.src = e.thumbnail;
      thumb.appendChild(img);
    } else {
      thumb.appendChild(H.el("span", "no-thumb", "no picture"));
    }
    const text = H.el("div", "text");
    const head = H.el("div", "head");
    const title = E.title(e);
    head.append(H.el("span", "badge kind-" + e.kind, E.kindName(e.kind)));
    if (title !== E.kindName(e.kind)) head.append(" ", H.el("strong", "title", title));
    if (!f.camera) head.append(" ", H.el("span", "camera", e.camera));
    const when = T.time(e.start_ms) + " – " + (e.end_ms == null ? "ongoing" : T.time(e.end_ms) + " (" + T.duration(e.end_ms - e.start_ms) + ")");
    const details = [when];
    if (e.zone) details.push("zone " + e.zone);
    if (e.score != null) details.push(Math.round(e.score * 100) + "%");
    text.append(head, H.el("div", "when", details.join(" · ")));
    if (e.message && e.message !== title) text.appendChild(H.el("div", "message", e.message));
    const actions = H.el("div", "actions");
    const a1 = H.el("a", "play", "Play");
    a1.href = play;
    const a2 = H.el("a", "clip", "Clip");
    a2.href = E.clipUrl(e);
    a2.setAttribute("download", "");
    actions.append(a1, " · ", a2);
    text.appendChild(actions);
    li.append(thumb, text);
    return li;
  }

  function render() {
    const shown = visible().sort((a, b) => b.start_ms - a.start_ms);
    list.textContent = "";
    for (const e of shown) list.appendChild(item(e));
    const all = state.events.filter((e) => !f.camera || e.camera === f.camera);
    fillSelect($("label"), all.map((e) => e.label).filter(Boolean), f.label);
    fillSelect($("zone"), all.map((e) => e.zone).filter(Boolean), f.zone);
    const day = T.dayStart(f.date);
    $("summary").textContent = (shown.length ? shown.length + " event" + (shown.length === 1 ? "" : "s") : "No events") +
      " on " + T.dayLong(day) + " · times in " + T.zoneLabel(day);
    $("more").hidden = !state.more;
  }

  let seq = 0;
  async function load(max) {
    const mine = ++seq;
    const [a, b] = dayRange();
    state.queries++;
    $("summary").textContent = "Loading…";
    const r = await E.list({ camera: f.camera || undefined, start: a, end: b, kind: f.kinds, max: max || 500 });
    if (mine !== seq) return;
    if (!r) return unavailable();
    state.events = r.events;
    state.more = r.more;
    state.max = max || 500;
    render();
    state.ready = true;
  }

  function unavailable() {
    $("filters").hidden = true;
    list.hidden = true;
    $("more").hidden = true;
    $("summary").textContent = "";
    $("unavailable").hidden = false;
    state.ready = true;
  }

  async function cameras() {
    const r = await H.getJson("/api/cameras");
    const names = ((r && r.cameras) || []).map((c) => c.name);
    const sel = $("camera");
    for (const n of names) {
      const o = document.createElement("option");
      o.value = o.textContent = n;
      sel.appendChild(o);
    }
    sel.value = f.camera;
  }

  function wire() {
    $("date").value = f.date;
    document.querySelectorAll("input[name=kind]").forEach((c) => (c.checked = f.kinds.includes(c.value)));
    $("filters").addEventListener("change", (ev) => {
      const t = ev.target;
      if (t.id === "camera") f.camera = t.value;
      if (t.id === "date" && Number.isFinite(T.dayStart(t.value))) f.date = t.value;
      if (t.name === "kind") f.kinds = [...document.querySelectorAll("input[name=kind]:checked")].map((c) => c.value);
      if (t.id === "label") f.label = t.value;
      if (t.id === "zone") f.zone = t.value;
      syncUrl();
      if (t.id === "label" || t.id === "zone") render();
      else load().catch(fail);
    });
    $("filters").addEventListener("submit", (ev) => ev.preventDefault());
    $("more").addEventListener("click", () => load((state.max || 500) * 2).catch(fail));
  }

  function fail(e) {
    $("summary").textContent = "Could not load events: " + e.message;
  }

  let named = null;
  async function start() {
    $("unavailable").hidden = true;
    $("filters").hidden = false;
    list.hidden = false;
    named = named || cameras().catch(() => {});
    await named;
    await load();
  }
  async function main() {
    if (!E.enabled) return unavailable();
    await start();
  }
  wire();
  E.onChange(() => start().catch(fail));
  E.subscribe((e) => {
    const [a, b] = dayRange();
    if (e.start_ms < a || e.start_ms >= b || !f.kinds.includes(e.kind)) return;
    state.events = E.upsert(state.events, e);
    render();
  });
  main().catch(fail);
})();
