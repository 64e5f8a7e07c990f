// Shared by every signed-in page: times in the viewer's own time zone, and
// JSON fetches that send a signed-out viewer to the login page.
"use strict";

(function () {
  // ICU still reports some zones by their old names; show today's.
  const RENAMED = {
    "Asia/Calcutta": "Asia/Kolkata", "Asia/Saigon": "Asia/Ho_Chi_Minh", "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon", "Europe/Kiev": "Europe/Kyiv", "Atlantic/Faeroe": "Atlantic/Faroe",
  };
  const icuZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zone = RENAMED[icuZone] || icuZone;
  const fmt = (opts) => new Intl.DateTimeFormat(undefined, opts);
  const F = {
    time: fmt({ hour: "numeric", minute: "2-digit", second: "2-digit" }),
    hm: fmt({ hour: "numeric", minute: "2-digit" }),
    zone: fmt({ timeZoneName: "short" }),
    dayShort: fmt({ weekday: "short", month: "short", day: "numeric" }),
    dayLong: fmt({ weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    full: fmt({
      weekday: "short", year: "numeric", month: "short", day: "numeric",
      hour: "numeric", minute: "2-digit", second: "2-digit", timeZoneName: "short",
    }),
  };
  const pad = (n) => String(n).padStart(2, "0");

  const T = {
    /** The viewer's IANA zone, e.g. "America/New_York". */
    zone,
    /** The zone's short name at `ms`, e.g. "EST" (it changes with daylight saving). */
    zoneName(ms) {
      const p = F.zone.formatToParts(ms).find((x) => x.type === "timeZoneName");
      return p ? p.value : zone;
    },
    /** "America/New_York (EST)". */
    zoneLabel(ms) {
      return zone + " (" + T.zoneName(ms) + ")";
    },
    /** Local time of day with seconds: "2:31:50 AM" (the viewer's locale). */
    time: (ms) => F.time.format(ms),
    /** Local time of day to the minute: "2:31 AM". */
    hm: (ms) => F.hm.format(ms),
    /** "Sat, Nov 21". */
    dayShort: (ms) => F.dayShort.format(ms),
    /** "Saturday, November 21, 2026". */
    dayLong: (ms) => F.dayLong.format(ms),
    /** "Sat, Nov 21, 2026, 2:31:50 AM EST". */
    full: (ms) => F.full.format(ms),
    /** The local calendar day of `ms`: "2026-11-21". */
    isoDay(ms) {
      const d = new Date(ms);
      return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
    },
    /** Local midnight starting the day "YYYY-MM-DD" (NaN if it is not one). */
    dayStart(iso) {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
      if (!m) return NaN;
      return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime();
    },
    /** The local midnight after the one starting the day of `ms` (23, 24 or 25 h later). */
    nextDay(ms) {
      const d = new Date(ms);
      return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime();
    },
    /** `datetime-local` input value of `ms`: "2026-11-21T02:31:50". */
    inputValue(ms) {
      const d = new Date(ms);
      return T.isoDay(ms) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    },
    /** The instant a `datetime-local` value names in the viewer's zone (NaN if none). */
    fromInput(v) {
      const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(v || "");
      if (!m) return NaN;
      return new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)).getTime();
    },
    /** A duration for people: "45 s", "3 min", "2 h 14 min", "3 d 2 h". */
    duration(ms) {
      const s = Math.round(Math.max(0, ms) / 1000);
      if (s < 60) return s + " s";
      if (s < 600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
      const m = Math.round(s / 60);
      if (m < 60) return m + " min";
      const h = Math.floor(m / 60);
      if (h < 48) return h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
      const d = Math.floor(h / 24);
      return d + " d" + (h % 24 ? " " + (h % 24) + " h" : "");
    },
    /** How long ago `ms` was: "just now", "12 s ago", "5 min ago", else the time. */
    ago(ms) {
      if (ms == null) return "never";
      const s = Math.max(0, (Date.now() - ms) / 1000);
      if (s < 2) return "just now";
      if (s < 120) return Math.round(s) + " s ago";
      if (s < 7200) return Math.round(s / 60) + " min ago";
      return T.dayShort(ms) + " " + T.hm(ms);
    },
  };

  /** GET `url` as JSON; a signed-out viewer goes to the login page (resolves null). */
  async function getJson(url) {
    const r = await fetch(url, { credentials: "same-origin" });
    if (r.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      return null;
    }
    if (!r.ok) throw new Error(url.split("?")[0] + ": HTTP " + r.status);
    return r.json();
  }

  /** A camera's health for people: "online", "offline" or "sleeping" (a battery camera at rest). */
  function health(c) {
    const s = c.video && c.video.source;
    if (s && s.state === "sleeping") return "sleeping";
    return c.online ? "online" : "offline";
  }

  /** An element `tag` with class `cls` and text `text` (never parsed as HTML). */
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  window.hubTime = T;
  window.hub = { getJson, health, el };
})();
