// Live views: each picture is fed by the viewer websocket
// (/video-output-stream), authenticated by the session cookie; the hub sends
// only the newest frame, so a slow network skips frames instead of lagging.
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
  return (c.online ? "online" : "offline") + " · " + c.fps.toFixed(1) + " fps · last frame " + ago(c.last_frame_ms);
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
    }
  }
  await refresh();
  setInterval(refresh, 2000);
}

async function cameraPage() {
  const id = Number(document.body.dataset.cameraId);
  const img = document.getElementById("live");
  const state = document.getElementById("state");
  liveFeed(id, img);
  async function refresh() {
    const cams = await fetchCameras();
    const c = cams && cams.find((x) => x.id === id);
    if (!c) return;
    state.textContent = stateText(c);
    state.classList.toggle("online", c.online);
  }
  await refresh();
  setInterval(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "grid") gridPage();
  if (page === "camera") cameraPage();
});
