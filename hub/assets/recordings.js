// Timeline page: one camera's day on a 24 h axis (UTC). Click to play from that
// moment; playback continues into the next segment when one ends.
'use strict';

(function () {
  const DAY_MS = 86400000;
  const body = document.body;
  const camera = body.dataset.camera;
  const date = body.dataset.date;
  const dayStart = Date.parse(date + 'T00:00:00Z');
  const axis = document.getElementById('axis');
  const playhead = document.getElementById('playhead');
  const video = document.getElementById('player');
  const now = document.getElementById('now');
  const segName = document.getElementById('segment-name');
  // Every segment file's media time starts at 0: a position in a file is the time
  // since its segment's start_ms.
  const state = { segments: [], current: -1, ready: false, segmentTime: 0 };
  window.timeline = state;

  // The part of the day the axis shows: all 24 h, or a zoomed window.
  const view = { start: dayStart, span: DAY_MS };
  const pct = (ms) => ((ms - view.start) / view.span) * 100;
  const fmt = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  const enc = encodeURIComponent;

  function ticks() {
    const t = document.getElementById('ticks');
    t.textContent = '';
    const step = view.span / 8;
    for (let i = 0; i <= 8; i++) {
      const ms = view.start + i * step;
      const s = document.createElement('span');
      s.style.left = (i / 8) * 100 + '%';
      s.textContent = new Date(ms).toISOString().slice(11, view.span > 3600000 ? 16 : 19);
      t.appendChild(s);
    }
  }

  // Zooms to `span` ms around `center` (kept inside the day), then redraws.
  function zoom(span, center) {
    view.span = Math.min(DAY_MS, span);
    const start = center - view.span / 2;
    view.start = Math.max(dayStart, Math.min(dayStart + DAY_MS - view.span, start));
    draw();
  }
  state.zoom = zoom;
  state.view = view;

  function draw() {
    ticks();
    axis.querySelectorAll('.seg').forEach((e) => e.remove());
    state.segments.forEach((s, i) => {
      if (s.end_ms <= view.start || s.start_ms >= view.start + view.span) return;
      const d = document.createElement('div');
      d.className = 'seg';
      d.dataset.index = i;
      d.dataset.name = s.name;
      const a = Math.max(0, pct(s.start_ms));
      const b = Math.min(100, pct(s.end_ms));
      d.style.left = a + '%';
      d.style.width = Math.max(0, b - a) + '%';
      d.title = fmt(s.start_ms) + ' – ' + fmt(s.end_ms);
      axis.appendChild(d);
    });
    const total = state.segments.reduce((n, s) => n + s.duration_ms, 0);
    mark();
    if (state.wallTime !== undefined) playhead.style.left = pct(state.wallTime) + '%';
    document.getElementById('summary').textContent =
      state.segments.length + ' segments, ' + Math.round(total / 1000) + ' s of footage';
  }

  function mark() {
    axis.querySelectorAll('.seg').forEach((e) =>
      e.classList.toggle('playing', Number(e.dataset.index) === state.current));
  }

  // Plays the footage at wall time `ms` (or the next footage after it).
  function playAt(ms) {
    let i = state.segments.findIndex((s) => s.end_ms > ms);
    if (i < 0) return false;
    const s = state.segments[i];
    const offset = Math.max(0, ms - s.start_ms) / 1000;
    load(i, offset);
    return true;
  }

  function load(i, offsetSecs) {
    const s = state.segments[i];
    state.current = i;
    segName.textContent = s.name;
    mark();
    const start = () => {
      if (Math.abs(video.currentTime - offsetSecs) > 0.05) video.currentTime = offsetSecs;
      video.play().catch(() => {});
    };
    if (video.dataset.name === s.name) {
      start();
      return;
    }
    video.dataset.name = s.name;
    video.src = s.url;
    video.addEventListener('loadedmetadata', start, { once: true });
  }

  video.addEventListener('ended', () => {
    if (state.current >= 0 && state.current + 1 < state.segments.length) {
      load(state.current + 1, 0);
    }
  });

  video.addEventListener('timeupdate', () => {
    const s = state.segments[state.current];
    if (!s) return;
    const t = s.start_ms + video.currentTime * 1000;
    state.segmentTime = video.currentTime;
    state.wallTime = t;
    now.textContent = fmt(t);
    playhead.style.display = 'block';
    playhead.style.left = pct(t) + '%';
  });

  axis.addEventListener('click', (ev) => {
    const r = axis.getBoundingClientRect();
    const ms = view.start + ((ev.clientX - r.left) / r.width) * view.span;
    playAt(ms);
  });

  const zoomSel = document.getElementById('zoom');
  const centre = () => {
    if (state.wallTime !== undefined) return state.wallTime;
    const first = state.segments[0];
    return first ? first.start_ms : view.start + view.span / 2;
  };
  zoomSel.addEventListener('change', () => zoom(Number(zoomSel.value), centre()));
  document.getElementById('earlier').addEventListener('click', () =>
    zoom(view.span, view.start + view.span / 2 - view.span / 2));
  document.getElementById('later').addEventListener('click', () =>
    zoom(view.span, view.start + view.span / 2 + view.span / 2));
  state.playAt = playAt;

  document.getElementById('date').addEventListener('change', (ev) => {
    if (ev.target.value) location.search = '?date=' + enc(ev.target.value);
  });

  function exportLink() {
    const t = (id) => {
      const v = document.getElementById(id).value || '00:00:00';
      const p = v.split(':').map(Number);
      return dayStart + ((p[0] || 0) * 3600 + (p[1] || 0) * 60 + (p[2] || 0)) * 1000;
    };
    const a = document.getElementById('export-link');
    a.href = '/api/recordings/export?camera=' + enc(camera) + '&start=' + t('export-start') +
      '&end=' + (t('export-end') + 1000);
  }
  document.getElementById('export-start').addEventListener('change', exportLink);
  document.getElementById('export-end').addEventListener('change', exportLink);

  async function main() {
    exportLink();
    const q = '?camera=' + enc(camera);
    const [list, days] = await Promise.all([
      fetch('/api/recordings' + q + '&start=' + dayStart + '&end=' + (dayStart + DAY_MS)).then((r) => r.json()),
      fetch('/api/recordings/days' + q).then((r) => r.json()),
    ]);
    state.segments = list.segments || [];
    const dl = document.getElementById('days');
    (days.days || []).forEach((d) => {
      const o = document.createElement('option');
      o.value = d.date;
      o.label = d.date + ' (' + d.segments + ')';
      dl.appendChild(o);
    });
    draw();
    state.ready = true;
  }
  main().catch((e) => {
    document.getElementById('summary').textContent = 'could not load recordings: ' + e;
  });
})();
