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

function ago(ms) {
  if (ms == null) return "never";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 2) return "just now";
  if (s < 120) return Math.round(s) + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  return new Date(ms).toLocaleString();
}

function stateText(c) {
  let t = (c.online ? "online" : "offline") + " · " + c.fps.toFixed(1) + " fps";
  const v = c.video;
  if (v && v.codec) t += " · " + v.codec + (v.width ? " " + v.width + "×" + v.height : "");
  if (v && v.source) {
    const s = v.source;
    if (s.state !== "playing") t += " · " + s.state;
    if (s.reconnects) t += " · " + s.reconnects + " reconnects";
    if (s.battery) t += " · battery " + s.battery.percent + "%" + (s.battery.charging ? " (charging)" : "");
  }
  if (!v || !v.source) t += " · last frame " + ago(c.last_frame_ms);
  return t;
}

// The sentence to show under a camera when something needs attention.
function problemText(c) {
  const s = c.video && c.video.source;
  if (s && s.message && s.state !== "playing") return s.message;
  return "";
}

// Live H.264 (or H.265 where the browser can) through Media Source
// Extensions. The hub sends a text message with the MIME type, then the init
// segment and one fMP4 fragment per frame. `onUnsupported(mime)` is called if
// this browser cannot play it.
function mseFeed(name, video, onUnsupported) {
  let ws, ms, sb, queue = [], closed = false, retry = 500;
  const stats = { mime: "", fragments: 0, jumps: 0 };
  function setup(mime) {
    stats.mime = mime;
    if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) {
      closed = true;
      ws.close();
      onUnsupported(mime);
      return;
    }
    queue = [];
    sb = null;
    ms = new MediaSource();
    const old = video.src;
    video.src = URL.createObjectURL(ms);
    if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
    ms.addEventListener("sourceopen", () => {
      sb = ms.addSourceBuffer(mime);
      sb.addEventListener("updateend", pump);
      pump();
    }, { once: true });
  }
  function pump() {
    if (!sb || sb.updating || queue.length === 0 || ms.readyState !== "open") return;
    const buf = queue.shift();
    try {
      sb.appendBuffer(buf);
      stats.fragments++;
    } catch (e) {
      // Buffer full: drop what was played and try again.
      queue.unshift(buf);
      if (!sb.updating && video.buffered.length) sb.remove(0, Math.max(0, video.currentTime - 1));
    }
  }
  function open() {
    ws = new WebSocket(wsUrl("/api/v1/cameras/" + encodeURIComponent(name) + "/live.mp4.ws"));
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") { setup(ev.data); return; }
      retry = 500;
      if (queue.length > 300) queue = []; // far behind: the next MIME/init or key frame resyncs
      queue.push(ev.data);
      pump();
    };
    ws.onclose = () => {
      if (closed) return;
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  // Stay near the live edge: jump when more than 1 s behind, play slightly
  // faster when a little behind; free what has been played.
  const timer = setInterval(() => {
    if (!sb || !video.buffered.length) return;
    const end = video.buffered.end(video.buffered.length - 1);
    const lag = end - video.currentTime;
    if (lag > 1.0) { video.currentTime = Math.max(0, end - 0.1); stats.jumps++; }
    video.playbackRate = lag > 0.3 ? 1.1 : 1.0;
    if (video.paused) video.play().catch(() => {});
    const start = video.buffered.start(0);
    if (!sb.updating && video.currentTime - start > 20) sb.remove(start, video.currentTime - 5);
  }, 200);
  open();
  return {
    stats,
    close() { closed = true; clearInterval(timer); ws && ws.close(); },
  };
}

async function fetchCameras() {
  const r = await fetch("/api/cameras", { credentials: "same-origin" });
  if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return null; }
  return (await r.json()).cameras;
}

async function gridPage() {
  const grid = document.getElementById("grid");
  const tiles = new Map();
  async function refresh() {
    const cams = await fetchCameras();
    if (!cams) return;
    document.getElementById("empty").hidden = cams.length > 0;
    for (const c of cams) {
      let t = tiles.get(c.id);
      if (!t) {
        const el = document.createElement("div");
        el.className = "tile";
        el.dataset.cameraId = c.id;
        el.innerHTML = '<a><img alt=""><div class="meta"><strong class="name"></strong><span class="state"></span></div></a>';
        el.querySelector("a").href = "/live/" + encodeURIComponent(c.name);
        el.querySelector("img").alt = "live view of " + c.name;
        el.querySelector(".name").textContent = c.name;
        grid.appendChild(el);
        t = { el, feed: liveFeed(c.id, el.querySelector("img")) };
        tiles.set(c.id, t);
      }
      const st = t.el.querySelector(".state");
      st.textContent = stateText(c);
      st.classList.toggle("online", c.online);
      const p = problemText(c);
      let pe = t.el.querySelector(".problem");
      if (p && !pe) {
        pe = document.createElement("p");
        pe.className = "problem error";
        pe.setAttribute("role", "alert");
        t.el.appendChild(pe);
      }
      if (pe) { pe.textContent = p; pe.hidden = !p; }
    }
  }
  await refresh();
  setInterval(refresh, 2000);
}

async function cameraPage() {
  const id = Number(document.body.dataset.cameraId);
  const name = document.body.dataset.cameraName;
  const img = document.getElementById("live");
  const video = document.getElementById("video");
  const state = document.getElementById("state");
  const notice = document.getElementById("notice");
  const problem = document.getElementById("problem");
  // What the page is showing, for people (and tests): "mse" or "jpeg".
  window.hubLive = { mode: "jpeg", mse: null };
  let jpeg = null;
  function showJpeg() {
    video.hidden = true;
    img.hidden = false;
    window.hubLive.mode = "jpeg";
    if (!jpeg) jpeg = liveFeed(id, img);
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
    state.textContent = stateText(c);
    state.classList.toggle("online", c.online);
    const p = problemText(c);
    problem.textContent = p;
    problem.hidden = !p;
    if (!started) {
      started = true;
      // The JPEG picture shows at once; live video replaces it when it plays.
      jpeg = liveFeed(id, img);
      if (c.video && window.MediaSource) {
        window.hubLive.mode = "mse";
        window.hubLive.mse = mseFeed(name, video, unsupported);
        video.addEventListener("playing", () => {
          if (window.hubLive.mode !== "mse") return;
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
  await refresh();
  setInterval(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "grid") gridPage();
  if (page === "camera") cameraPage();
});
