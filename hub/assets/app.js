// Live views: each picture is fed by the viewer websocket
// (/video-output-stream), authenticated by the session cookie; the hub sends
// only the newest frame, so a slow network skips frames instead of lagging.
// Cameras with encoded video (RTSP, Reolink, the demo) play on their own page
// through Media Source Extensions: fMP4 over a websocket, one fragment per
// frame, kept under a second behind the live edge.
"use strict";

function wsUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

// Open a live feed of camera `id` into <img> `img`; reconnects on loss.
const BLANK = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";

function liveFeed(id, img, onFrame) {
  let ws, lastUrl, closed = false, retry = 500;
  if (!img.src) img.src = BLANK;
  function open() {
    ws = new WebSocket(wsUrl("/video-output-stream"));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      const json = new TextEncoder().encode(JSON.stringify({ cameraId: id, token: "" }));
      const msg = new Uint8Array(4 + json.length);
      new DataView(msg.buffer).setUint32(0, json.length, true);
      msg.set(json, 4);
      ws.send(msg);
      retry = 500;
    };
    ws.onmessage = (ev) => {
      if (!(ev.data instanceof ArrayBuffer) || ev.data.byteLength === 0) return;
      const url = URL.createObjectURL(new Blob([ev.data], { type: "image/jpeg" }));
      img.src = url;
      if (lastUrl) URL.revokeObjectURL(lastUrl);
      lastUrl = url;
      if (onFrame) onFrame();
    };
    ws.onclose = () => {
      if (closed) return;
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  open();
  return { close() { closed = true; ws && ws.close(); } };
}

const H = window.hub, T = window.hubTime, E = window.hubEvents;

// One line about a camera's state: health, frame rate, video, source, last frame.
function stateText(c) {
  let t = H.health(c) + " · " + c.fps.toFixed(1) + " fps";
  const v = c.video;
  if (v && v.codec) t += " · " + v.codec + (v.width ? " " + v.width + "×" + v.height : "");
  if (v && v.source) {
    const s = v.source;
    if (s.state !== "playing" && s.state !== "sleeping") t += " · " + s.state;
    if (s.reconnects) t += " · " + s.reconnects + " reconnects";
    if (s.battery) t += " · battery " + s.battery.percent + "%" + (s.battery.charging ? " (charging)" : "");
    if (s.wifi_signal_dbm != null) t += " · Wi-Fi " + s.wifi_signal_dbm + " dBm";
    if (s.wakes != null) t += " · on demand, woken " + s.wakes + "×";
  }
  t += " · last frame " + T.ago(c.last_frame_ms);
  return t;
}

// Shows camera `c`'s health in element `el` (class `state`, `data-health`).
function showState(el, c) {
  el.textContent = stateText(c);
  el.dataset.health = H.health(c);
  el.classList.toggle("online", c.online);
}

// The sentence to show under a camera when something needs attention.
function problemText(c) {
  const s = c.video && c.video.source;
  if (s && s.message && s.state !== "playing") return s.message;
  const p = c.problems || [];
  if (p.length) return "Health: " + p.map((x) => PROBLEMS[x] || x).join(" · ");
  return "";
}

// Health problem codes, for people.
const PROBLEMS = {
  under_voltage: "under-voltage on the Pi",
  throttled: "the Pi is throttled",
  recording_stopped: "recording stopped",
  offline: "offline too long",
  disk_low: "the disk is filling up",
};

// One line about an agent's Pi: temperature, power, load, disk, backlog, version, uptime.
function agentText(a) {
  const parts = [];
  if (a.cpu_temp_c != null) parts.push(a.cpu_temp_c.toFixed(1) + " °C");
  if (a.throttled) {
    const t = a.throttled;
    if (t.under_voltage) parts.push("UNDER-VOLTAGE");
    if (t.throttled || t.frequency_capped) parts.push("THROTTLED");
    if (!t.under_voltage && t.under_voltage_occurred) parts.push("under-voltage since boot");
  }
  if (a.load) parts.push("load " + a.load[0].toFixed(2));
  if (a.disk_free_bytes != null) parts.push((a.disk_free_bytes / 1e9).toFixed(1) + " GB free");
  if (a.upload_backlog_segments != null) parts.push("backlog " + a.upload_backlog_segments);
  parts.push("agent " + a.version);
  const up = a.uptime_s;
  parts.push("up " + (up >= 86400 ? Math.floor(up / 86400) + " d" : up >= 3600 ? Math.floor(up / 3600) + " h" : Math.floor(up / 60) + " min"));
  parts.push("reported " + T.ago(a.received_ms));
  return "Pi: " + parts.join(" · ");
}

// Motion and alarms going on now, per camera, from the events feed: calls
// `onChange(camera, text or "")` when a camera's indicator changes. Does
// nothing where the hub has no events.
function motionWatch(onChange) {
  const active = new Map(); // camera -> Map(id -> event)
  function text(cam) {
    const evs = [...(active.get(cam) || new Map()).values()];
    if (!evs.length) return "";
    const alarm = evs.filter((e) => e.kind === "alarm").pop();
    return alarm ? E.title(alarm) : "Motion";
  }
  function apply(e) {
    if (e.kind !== "motion" && e.kind !== "alarm") return;
    const m = active.get(e.camera) || new Map();
    active.set(e.camera, m);
    const before = text(e.camera);
    if (e.end_ms == null) m.set(e.id, e);
    else m.delete(e.id);
    const after = text(e.camera);
    if (after !== before) onChange(e.camera, after);
  }
  async function start() {
    const now = Date.now();
    const r = await E.list({ start: now - 3600e3, end: now + 60e3, kind: ["motion", "alarm"], max: 500 });
    if (r) r.events.filter((e) => e.end_ms == null).reverse().forEach(apply);
  }
  E.subscribe(apply);
  E.onChange(() => start().catch(() => {}));
  start().catch(() => {});
}

function showMotion(el, text) {
  el.hidden = !text;
  el.textContent = text;
  el.title = text ? text + " now" : "";
}

// Live H.264 (or H.265 where the browser can) through Media Source
// Extensions. The hub sends a text message with the MIME type, then the init
// segment and one fMP4 fragment per frame. `onUnsupported(mime)` is called if
// this browser cannot play it.
//
// The playhead is kept LIVE_LAG seconds behind the end of what is buffered
// (the end includes the newest frame's duration): a frame's interval plus a
// margin for arrival jitter. Each stall widens the margin by 50 ms (up to
// half a second); ten seconds without one narrow it by 10 ms again. Further
// behind, the page plays a little faster until it is back; more than a
// second behind (after a long stall or a hidden tab) it jumps. `stats` counts fragments, jumps, rate changes and stalls
// (`waiting` events after playback started) and keeps the last frames'
// arrival and append times, which tell where the delay of the picture is.
const LIVE_LAG = 0.12;
function mseFeed(name, video, onUnsupported) {
  let ws, ms, sb, queue = [], closed = false, retry = 500, started = false, startedAt = 0;
  let target = LIVE_LAG, calmSince = Date.now();
  const stats = { mime: "", fragments: 0, jumps: 0, rateChanges: 0, stalls: 0, arrivals: [] };
  // Arrival time of each queued buffer (null for the init segment).
  let arrivedAt = [], appending = null;
  function setup(mime) {
    stats.mime = mime;
    if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) {
      closed = true;
      ws.close();
      onUnsupported(mime);
      return;
    }
    queue = [];
    arrivedAt = [];
    sb = null;
    ms = new MediaSource();
    const old = video.src;
    video.src = URL.createObjectURL(ms);
    if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
    ms.addEventListener("sourceopen", () => {
      sb = ms.addSourceBuffer(mime);
      sb.addEventListener("updateend", appended);
      pump();
    }, { once: true });
  }
  function appended() {
    // [media end time of the frame, ms it arrived, ms it was buffered]
    if (appending !== null && video.buffered.length) {
      stats.arrivals.push([video.buffered.end(video.buffered.length - 1), appending, Date.now()]);
      if (stats.arrivals.length > 150) stats.arrivals.shift();
    }
    appending = null;
    pump();
  }
  function pump() {
    if (!sb || sb.updating || queue.length === 0 || ms.readyState !== "open") return;
    const buf = queue.shift();
    const at = arrivedAt.shift();
    try {
      sb.appendBuffer(buf);
      appending = at;
      stats.fragments++;
    } catch (e) {
      // Buffer full: drop what was played and try again.
      queue.unshift(buf);
      arrivedAt.unshift(at);
      if (!sb.updating && video.buffered.length) sb.remove(0, Math.max(0, video.currentTime - 1));
    }
  }
  function open() {
    ws = new WebSocket(wsUrl("/api/v1/cameras/" + encodeURIComponent(name) + "/live.mp4.ws"));
    ws.binaryType = "arraybuffer";
    let init = true;
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") { setup(ev.data); init = true; return; }
      retry = 500;
      if (queue.length > 300) { queue = []; arrivedAt = []; } // far behind: the next MIME/init or key frame resyncs
      queue.push(ev.data);
      arrivedAt.push(init ? null : Date.now());
      init = false;
      pump();
    };
    ws.onclose = () => {
      if (closed) return;
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  function setRate(r) {
    if (video.playbackRate !== r) { video.playbackRate = r; stats.rateChanges++; }
  }
  // Stalls count (and widen the margin) from two seconds after the first
  // picture: the start (the current GOP at once, then the jump to its end)
  // is not a stall.
  video.addEventListener("playing", () => {
    if (!startedAt) startedAt = Date.now();
  });
  video.addEventListener("waiting", () => {
    started = startedAt > 0 && Date.now() - startedAt > 2000;
    if (!started || video.seeking) return;
    stats.stalls++;
    target = Math.min(target + 0.05, 0.5);
    calmSince = Date.now();
  });
  // Stay near the live edge; free what has been played.
  function follow() {
    if (!sb || !video.buffered.length) return;
    const end = video.buffered.end(video.buffered.length - 1);
    const lag = end - video.currentTime;
    if (target > LIVE_LAG && Date.now() - calmSince > 10000) {
      target = Math.max(LIVE_LAG, target - 0.01);
      calmSince = Date.now();
    }
    stats.target = target;
    started = startedAt > 0 && Date.now() - startedAt > 2000;
    if (lag > 1.0 || (!started && lag > target + 0.1)) {
      // The first picture (the start of the current GOP) or a long stall: the newest frame.
      video.currentTime = Math.max(0, end - target);
      if (started) stats.jumps++;
    }
    setRate(lag > target + 0.25 ? 1.25 : lag > target + 0.04 ? 1.1 : 1.0);
    if (video.paused) video.play().catch(() => {});
    const start = video.buffered.start(0);
    if (!sb.updating && video.currentTime - start > 20) sb.remove(start, video.currentTime - 5);
  }
  const timer = setInterval(follow, 100);
  open();
  return {
    stats,
    close() { closed = true; clearInterval(timer); ws && ws.close(); },
  };
}

async function fetchCameras() {
  const r = await H.getJson("/api/cameras");
  return r && r.cameras;
}

async function gridPage() {
  const grid = document.getElementById("grid");
  const tiles = new Map();
  const byName = new Map();
  async function refresh() {
    const cams = await fetchCameras();
    if (!cams) return;
    document.getElementById("empty").hidden = cams.length > 0;
    for (const c of cams) {
      let t = tiles.get(c.id);
      if (!t) {
        const el = H.el("div", "tile");
        el.dataset.cameraId = c.id;
        el.dataset.cameraName = c.name;
        const href = "/live/" + encodeURIComponent(c.name);
        const pic = H.el("a", "picture");
        pic.href = href;
        const img = H.el("img");
        img.alt = "live view of " + c.name;
        const motion = H.el("span", "motion");
        motion.hidden = true;
        const none = H.el("span", "nopic", "No picture yet");
        pic.append(img, motion, none);
        const meta = H.el("div", "meta");
        const name = H.el("a", "name", c.name);
        name.href = href;
        const links = H.el("span", "links");
        const tl = H.el("a", null, "Timeline");
        tl.href = "/timeline/" + encodeURIComponent(c.name);
        links.append(tl);
        if (E.enabled) {
          const ev = H.el("a", null, "Events");
          ev.href = "/events?camera=" + encodeURIComponent(c.name);
          links.append(" · ", ev);
        }
        meta.append(name, links);
        const st = H.el("div", "state");
        const pe = H.el("p", "problem error");
        pe.setAttribute("role", "alert");
        pe.hidden = true;
        el.append(pic, meta, st, pe);
        grid.appendChild(el);
        t = { el, feed: liveFeed(c.id, img, () => (none.hidden = true)) };
        tiles.set(c.id, t);
        byName.set(c.name, t);
      }
      showState(t.el.querySelector(".state"), c);
      t.el.dataset.health = H.health(c);
      const none = t.el.querySelector(".nopic");
      if (!none.hidden) none.textContent = c.online ? "Waiting for the first picture" : "Offline · no picture yet";
      const p = problemText(c);
      const pe = t.el.querySelector(".problem");
      pe.textContent = p;
      pe.hidden = !p;
    }
  }
  await refresh();
  motionWatch((cam, text) => {
    const t = byName.get(cam);
    if (t) showMotion(t.el.querySelector(".motion"), text);
  });
  setInterval(refresh, 2000);
}

async function cameraPage() {
  const id = Number(document.body.dataset.cameraId);
  const name = document.body.dataset.cameraName;
  const img = document.getElementById("live");
  const video = document.getElementById("video");
  const state = document.getElementById("state");
  const motion = document.getElementById("motion");
  const nopic = document.getElementById("nopic");
  const pictured = () => (nopic.hidden = true);
  const notice = document.getElementById("notice");
  const problem = document.getElementById("problem");
  // What the page is showing, for people (and tests): "mse" or "jpeg".
  window.hubLive = { mode: "jpeg", mse: null };
  let jpeg = null;
  function showJpeg() {
    video.hidden = true;
    img.hidden = false;
    window.hubLive.mode = "jpeg";
    if (!jpeg) jpeg = liveFeed(id, img, pictured);
  }
  function unsupported(mime) {
    const h265 = /hvc1|hev1/.test(mime);
    notice.textContent = h265
      ? "This camera sends H.265, which this browser cannot play. Showing still pictures instead."
      : "This browser cannot play this camera's video (" + mime + "). Showing still pictures instead.";
    notice.hidden = false;
    window.hubLive.unsupported = mime;
    showJpeg();
  }
  let started = false;
  async function refresh() {
    const cams = await fetchCameras();
    const c = cams && cams.find((x) => x.id === id);
    if (!c) return;
    showState(state, c);
    if (!nopic.hidden) nopic.textContent = c.online ? "Waiting for the first picture" : H.health(c) === "sleeping" ? "Waking the camera" : "Offline · no picture yet";
    const p = problemText(c);
    problem.textContent = p;
    problem.hidden = !p;
    const agent = document.getElementById("agent");
    agent.hidden = !c.agent;
    if (c.agent) agent.textContent = agentText(c.agent);
    if (!started) {
      started = true;
      // The JPEG picture shows at once; live video replaces it when it plays.
      jpeg = liveFeed(id, img, pictured);
      if (c.video && window.MediaSource) {
        window.hubLive.mode = "mse";
        window.hubLive.mse = mseFeed(name, video, unsupported);
        video.addEventListener("playing", () => {
          if (window.hubLive.mode !== "mse") return;
          pictured();
          video.hidden = false;
          img.hidden = true;
          // Keep the last picture; stop the JPEG feed once it has one (or after 5 s).
          const since = Date.now();
          const t = setInterval(() => {
            if (jpeg && (img.naturalWidth > 0 || Date.now() - since > 5000)) {
              jpeg.close();
              jpeg = null;
              clearInterval(t);
            }
          }, 500);
        }, { once: true });
      }
    }
  }
  if (!E.enabled) document.querySelectorAll(".events-link").forEach((a) => {
    a.previousSibling.textContent = "";
    a.remove();
  });
  await refresh();
  motionWatch((cam, text) => {
    if (cam === name) showMotion(motion, text);
  });
  setInterval(refresh, 1000);
}

// Bytes for people: "812 B", "12.3 kB", "4.1 MB", "27.5 GB" (powers of 1000).
function sizeText(b) {
  if (b < 1000) return b + " B";
  const units = ["kB", "MB", "GB", "TB"];
  let i = -1;
  do { b /= 1000; i++; } while (b >= 1000 && i < units.length - 1);
  return b.toFixed(1) + " " + units[i];
}

// Days for people: "3.5 days" under ten, "42 days" from ten.
function daysText(d) {
  return d >= 10 ? Math.round(d) + " days" : d.toFixed(1) + " days";
}

// The status table's own columns for one camera's row `r` of /api/status:
// last segment, upload backlog, health flags, disk use and forecast.
function statusCells(r, agent) {
  const flags = r.problems.map((p) => PROBLEMS[p] || p);
  if (!flags.length) flags.push("no problems");
  if (r.cpu_temp_c != null) flags.push(r.cpu_temp_c.toFixed(1) + " °C");
  const disk = [];
  if (r.stored_bytes) disk.push(sizeText(r.stored_bytes) + " on the hub");
  if (r.pi_disk) disk.push("Pi: " + sizeText(r.pi_disk.free_bytes) + " free" + (r.pi_disk.total_bytes != null ? " of " + sizeText(r.pi_disk.total_bytes) : ""));
  const forecast = [];
  if (r.forecast.hub_days != null) forecast.push("hub: room for " + daysText(r.forecast.hub_days));
  if (r.forecast.agent_days != null) forecast.push("Pi full in " + daysText(r.forecast.agent_days));
  const b = r.upload_backlog;
  return {
    segment: r.last_segment_ms != null ? T.dayShort(r.last_segment_ms) + " " + T.time(r.last_segment_ms) : "none",
    backlog: b ? b.segments + " segments" + (b.bytes != null ? " · " + sizeText(b.bytes) : "") : agent ? "not reported" : "—",
    flags: flags.join(" · "),
    disk: disk.join(" · ") || "—",
    forecast: forecast.join(" · ") || "—",
  };
}

// Status: every camera's state, last segment, upload backlog, health flags, disk
// use and forecast in one table, and the outages and warnings the hub reported in
// the last 24 hours (where it reports events).
async function statusPage() {
  const tbody = document.querySelector("#cameras tbody");
  const rows = new Map();
  async function refresh() {
    const [cams, status] = await Promise.all([fetchCameras(), H.getJson("/api/status")]);
    if (!cams) return;
    const byName = new Map(((status && status.cameras) || []).map((r) => [r.name, r]));
    document.getElementById("empty").hidden = cams.length > 0;
    document.getElementById("cameras").hidden = cams.length === 0;
    for (const c of cams) {
      let tr = rows.get(c.id);
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.cameraId = c.id;
        for (const k of ["camera", "health", "segment", "backlog", "flags", "disk", "forecast", "frames", "last", "video", "source", "viewers"]) {
          const td = H.el("td", k);
          td.dataset.label = k;
          tr.appendChild(td);
        }
        const a = H.el("a", null, c.name);
        a.href = "/live/" + encodeURIComponent(c.name);
        tr.querySelector(".camera").append(a, H.el("div", "muted", c.kind + (c.description ? " · " + c.description : "")));
        tbody.appendChild(tr);
        rows.set(c.id, tr);
      }
      const cell = (k, text) => (tr.querySelector("." + k).textContent = text);
      const health = H.health(c);
      const h = tr.querySelector(".health");
      h.textContent = "";
      h.appendChild(H.el("span", "badge " + health, health));
      tr.dataset.health = health;
      const r = byName.get(c.name);
      if (r) {
        const cells = statusCells(r, c.kind === "agent");
        for (const k of Object.keys(cells)) cell(k, cells[k]);
        tr.dataset.problems = r.problems.join(" ");
      }
      cell("frames", c.fps.toFixed(1) + " fps · " + c.frames_total + " frames" + (c.frames_rejected ? " · " + c.frames_rejected + " not JPEG (skipped)" : ""));
      tr.querySelector(".frames").title = c.last_rejected || "";
      cell("last", T.ago(c.last_frame_ms));
      const v = c.video;
      cell("video", v && v.codec ? v.codec + (v.width ? " " + v.width + "×" + v.height : "") : v ? "waiting for video" : "JPEG");
      const s = v && v.source;
      cell("source", s ? [s.state, s.reconnects ? s.reconnects + " reconnects" : "", s.battery ? "battery " + s.battery.percent + "%" + (s.battery.charging ? " (charging)" : "") : "", s.wakes != null ? "woken " + s.wakes + "×" : "", s.last_error || ""].filter(Boolean).join(" · ") : c.kind === "agent" ? (c.connected ? "agent connected" : "agent not connected") : "—");
      cell("viewers", String(c.viewers));
    }
  }
  async function outages() {
    const sec = document.getElementById("health-events");
    const now = Date.now();
    const r = await E.list({ start: now - 86400e3, end: now, kind: ["health"], max: 200 });
    sec.hidden = !r;
    if (!r) return;
    const ol = sec.querySelector("ol");
    ol.textContent = "";
    if (!r.events.length) ol.appendChild(H.el("li", "muted", "None."));
    for (const e of r.events) {
      const li = H.el("li", "kind-health");
      li.append(H.el("strong", null, e.camera), " " + (e.message || E.title(e)) + " · " + T.dayShort(e.start_ms) + " " + T.time(e.start_ms) + " " +
        (e.end_ms == null ? "(ongoing)" : "(" + T.duration(e.end_ms - e.start_ms) + ")"));
      ol.appendChild(li);
    }
  }
  // The retention forecast: days of all footage, and of footage with events.
  async function storage() {
    const s = await H.getJson("/api/recordings/storage");
    if (!s) return;
    const days = (d) => (d == null ? null : d >= 10 ? Math.round(d) + " days" : d.toFixed(1) + " days");
    const c = days(s.continuous.days);
    document.getElementById("storage-continuous").textContent = c
      ? "Room for " + c + " of continuous footage" + (s.continuous.limited_by === "age" ? " (the age limit)." : ".")
      : "No footage yet.";
    const e = days(s.events.days);
    document.getElementById("storage-events").textContent = e ? "Footage with events: " + e + "." : "";
    document.getElementById("storage").hidden = false;
  }
  // Off-site copies: what waits, since when, and why it stopped if it did.
  async function offsite() {
    const o = await H.getJson("/api/offsite");
    const sec = document.getElementById("offsite");
    sec.hidden = !o || !o.enabled;
    if (sec.hidden) return;
    const mb = (b) => (b / 1e6).toFixed(1) + " MB";
    const errs = Object.entries(o.errors).map(([k, n]) => k + " " + n).join(", ");
    document.getElementById("offsite-summary").textContent =
      (o.paused ? "Paused: " + o.paused.cause + " (" + o.paused.message + "). " : "") +
      "Copied since start: " + o.replicated_objects + " objects, " + mb(o.replicated_bytes) +
      (errs ? ". Failed tries: " + errs + "." : ".");
    const tbody = sec.querySelector("tbody");
    tbody.textContent = "";
    for (const [name, c] of Object.entries(o.cameras)) {
      const tr = document.createElement("tr");
      tr.dataset.camera = name;
      const lag = c.backlog_objects ? T.duration(c.lag_seconds * 1000) : "—";
      for (const [k, text] of [["camera", name], ["waiting", c.backlog_objects + " (" + mb(c.backlog_bytes) + ")"], ["lag", lag],
        ["replicated", String(c.replicated_objects)], ["lost", String(c.lost_before_copy)], ["error", c.last_error || "—"]]) {
        const td = H.el("td", k, text);
        td.dataset.label = k;
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
  }
  await refresh();
  storage().catch(() => {});
  offsite().catch(() => {});
  setInterval(() => offsite().catch(() => {}), 5000);
  setInterval(() => storage().catch(() => {}), 60000);
  E.onChange(() => outages().catch(() => {}));
  E.subscribe((e) => {
    if (e.kind === "health") outages().catch(() => {});
  });
  outages().catch(() => {});
  setInterval(refresh, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "grid") gridPage();
  if (page === "camera") cameraPage();
  if (page === "status") statusPage();
});
