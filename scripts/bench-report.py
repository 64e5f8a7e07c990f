#!/usr/bin/python3
"""Turns the result lines of scripts/bench.sh (one JSON object per measured
run) into Markdown tables: medians over the runs of each point, ratios
against the baseline and the peers measured in the same run, and each
target of BENCHMARKS.md checked against the medians.

Usage: bench-report.py RESULTS.jsonl [ENCODE_RUN.md ...] > results.md
"""

import json
import re
import statistics
import sys
from collections import defaultdict


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=1):
    if x is None:
        return "n/a"
    return f"{x:.{digits}f}"


def ratio(a, b, digits=2):
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.{digits}f}x"


def group(rows, workload, key="server"):
    """{(n, server): {field: median}} and the run count per point."""
    acc = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["workload"] != workload:
            continue
        k = (int(r.get("n", 0)), r.get(key))
        for f, v in r.items():
            if isinstance(v, (int, float)) or v is None:
                acc[k][f].append(v)
    return {k: {f: median(v) for f, v in fs.items()} | {"runs": len(fs["run"])}
            for k, fs in acc.items()}


def order(servers, first):
    return sorted(servers, key=lambda s: (first.index(s) if s in first else 99, s))


TARGETS = []


def target(text, ok, measured):
    TARGETS.append((text, ok, measured))


def fanout(rows, out, workload, title):
    g = group(rows, workload)
    if not g:
        return g
    out.append(f"### {title}\n")
    out.append("| viewers | server | runs | CPU % of a core | RSS MB | frames/s per viewer "
               "| delivered % | p50 ms | p99 ms | JPEG KB | load client CPU % | CPU vs raw "
               "| CPU per frame vs raw | CPU vs hub | RSS vs hub |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sorted({k[0] for k in g}):
        servers = order([k[1] for k in g if k[0] == n], ["raw", "hub", "python", "motion"])
        raw, hub = g.get((n, "raw"), {}), g.get((n, "hub"), {})
        for s in servers:
            m = g[(n, s)]
            out.append(
                f"| {n} | {s} | {m['runs']} | {fmt(m['cpu_pct'])} | {fmt(m['rss_mb'])} | "
                f"{fmt(m['fps'])} | {fmt(m['delivered_pct'])} | {fmt(m['p50_ms'])} | "
                f"{fmt(m['p99_ms'])} | {fmt(m['jpeg_kb'])} | {fmt(m.get('client_cpu_pct'))} | "
                f"{ratio(m['cpu_pct'], raw.get('cpu_pct'))} | {per_frame_ratio(m, raw)} | "
                f"{ratio(m['cpu_pct'], hub.get('cpu_pct'))} | {ratio(m['rss_mb'], hub.get('rss_mb'))} |")
    out.append("")
    return g


def per_frame_ratio(m, base):
    """CPU per delivered frame against the baseline's: fair when either
    delivers less than full rate."""
    if not base or not m.get("fps") or not base.get("fps"):
        return "n/a"
    return ratio(m["cpu_pct"] / m["fps"], base["cpu_pct"] / base["fps"])


def report(rows, encode_runs):
    out = []
    g = fanout(rows, out, "fanout", "MJPEG fan-out (medians)")
    if g:
        n = max(k[0] for k in g if k[1] == "hub" and k[0] <= 1000) if any(
            k[1] == "hub" and k[0] <= 1000 for k in g) else None
        if n == 1000 and (1000, "raw") in g:
            h, r = g[(1000, "hub")], g[(1000, "raw")]
            target("1000 viewers at full frame rate (>= 14.5 fps per viewer)",
                   h["fps"] >= 14.5, f"{fmt(h['fps'])} fps")
            target("1000 viewers: CPU at most 2x the raw baseline's",
                   h["cpu_pct"] <= 2 * r["cpu_pct"], ratio(h["cpu_pct"], r["cpu_pct"]))
            target("1000 viewers: RSS under 64 MB", h["rss_mb"] < 64, f"{fmt(h['rss_mb'])} MB")
            target("1000 viewers: p99 added latency under 30 ms", h["p99_ms"] < 30,
                   f"{fmt(h['p99_ms'])} ms (raw baseline {fmt(r['p99_ms'])} ms)")
        big = [k[0] for k in g if k[1] == "hub" and k[0] >= 4000]
        if big:
            h = g[(max(big), "hub")]
            target(f"{max(big)} viewers at full frame rate on the two cores", h["fps"] >= 14.5,
                   f"{fmt(h['fps'])} fps, {fmt(h['cpu_pct'])} % CPU")
            r = g.get((max(big), "raw"))
            if r:
                target(f"{max(big)} viewers: the raw baseline at full frame rate (the load client keeps up)",
                       r["fps"] >= 14.5, f"{fmt(r['fps'])} fps, load client {fmt(r.get('client_cpu_pct'))} % of a core")
                target(f"{max(big)} viewers: hub CPU at most 1.3x the raw baseline's",
                       h["cpu_pct"] <= 1.3 * r["cpu_pct"],
                       f"{ratio(h['cpu_pct'], r['cpu_pct'])} ({per_frame_ratio(h, r)} per frame delivered)")
    s = fanout(rows, out, "fanout-slow", "Fan-out with slow viewers added (not counted)")
    if s and g:
        for (n, srv), m in sorted(s.items()):
            if (n, srv) in g:
                base = g[(n, srv)]
                if srv == "hub":
                    target(f"slow viewers cost the others nothing ({n} viewers, hub)",
                           m["fps"] >= base["fps"] - 0.3,
                           f"{fmt(m['fps'])} fps, p99 {fmt(m['p99_ms'])} ms with slow viewers vs "
                           f"{fmt(base['fps'])} fps, p99 {fmt(base['p99_ms'])} ms without")

    g = group(rows, "ingest")
    if g:
        out.append("### Agent ingest (medians)\n")
        out.append("| agents | server | runs | CPU % of a core | CPU % per agent | RSS MB | idle RSS MB "
                   "| KiB per agent | frames/s per agent | agents cut off | CPU vs sink |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for n in sorted({k[0] for k in g}):
            sink = g.get((n, "sink"), {})
            for srv in order([k[1] for k in g if k[0] == n], ["sink", "hub"]):
                m = g[(n, srv)]
                out.append(
                    f"| {n} | {srv} | {m['runs']} | {fmt(m['cpu_pct'])} | {fmt(m['cpu_pct'] / n, 2)} | "
                    f"{fmt(m['rss_mb'])} | {fmt(m['idle_rss_mb'])} | {fmt(m['kib_per_agent'], 0)} | "
                    f"{fmt(m['fps'])} | {fmt(m['cut_off'], 0)} | {ratio(m['cpu_pct'], sink.get('cpu_pct'))} |")
        out.append("")
        top = max(k[0] for k in g if k[1] == "hub")
        h = g[(top, "hub")]
        target(f"{top} agents on at most one core", h["cpu_pct"] <= 100, f"{fmt(h['cpu_pct'])} %")
        target(f"{top} agents: memory per camera under 1 MiB plus its frame buffers",
               h["kib_per_agent"] < 1024, f"{fmt(h['kib_per_agent'], 0)} KiB per agent (frame buffers included)")

    # A bridge that wrote nothing got no media from its camera server (it happens
    # after many sessions): that run measured nothing and is left out, with a note.
    blind = [r for r in rows if r["workload"] == "rtsp" and not r.get("write_mbps")]
    g = group([r for r in rows if r not in blind], "rtsp")
    if g:
        out.append("### RTSP bridge and recording (medians)\n")
        out.append("| cameras | bridge | runs | CPU % of a core | RSS MB | CPU % per camera | RSS MB per camera "
                   "| in Mbit/s per camera | written MB/s | written per byte in | written per media byte "
                   "| camera server CPU % | CPU vs ffmpeg | RSS vs ffmpeg |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in blind:
            out.insert(-2, f"Left out: {r['n']} cameras, {r['server']}, run {int(r['run'])} "
                           "(no media from the camera server, nothing written).\n")
        for n in sorted({k[0] for k in g}):
            ff = g.get((n, "ffmpeg"), {})
            for srv in order([k[1] for k in g if k[0] == n],
                             ["ffmpeg", "floor", "floor+sha256", "floor+epoll", "floor+epoll+sha256",
                              "before", "before+snapshots", "hub", "hub+viewer", "hub+snapshots"]):
                m = g[(n, srv)]
                out.append(
                    f"| {n} | {srv} | {m['runs']} | {fmt(m['cpu_pct'])} | {fmt(m['rss_mb'])} | "
                    f"{fmt(m['cpu_pct'] / n, 2)} | {fmt(m['rss_mb'] / n)} | {fmt(m['in_mbit_per_cam'], 2)} | "
                    f"{fmt(m['write_mbps'], 2)} | {fmt(m['write_per_in'], 3)} | {fmt(m.get('write_amp'), 3)} | "
                    f"{fmt(m['camera_server_cpu_pct'])} | {ratio(m['cpu_pct'], ff.get('cpu_pct'))} | "
                    f"{ratio(m['rss_mb'], ff.get('rss_mb'))} |")
            if (n, "hub") in g and ff:
                h = g[(n, "hub")]
                target(f"RTSP {n} cameras: at most 1/5 the CPU of ffmpeg per camera",
                       h["cpu_pct"] <= ff["cpu_pct"] / 5, ratio(h["cpu_pct"], ff["cpu_pct"]))
                fl = g.get((n, "floor+epoll+sha256"))
                if fl:
                    # The raw limit of a recorder that hashes what it keeps, in the same run:
                    # whether the 1/5 aim is within reach at all.
                    target(f"RTSP {n} cameras: the raw limit with SHA-256 (read, hash, append; "
                           "rtsp-floor --epoll --sha256) at most 1/5 the CPU of ffmpeg",
                           fl["cpu_pct"] <= ff["cpu_pct"] / 5,
                           f"{ratio(fl['cpu_pct'], ff['cpu_pct'])}; the hub is "
                           f"{ratio(h['cpu_pct'], fl['cpu_pct'])} of it")
                target(f"RTSP {n} cameras: at most 1/3 the memory of ffmpeg per camera",
                       h["rss_mb"] <= ff["rss_mb"] / 3, ratio(h["rss_mb"], ff["rss_mb"]))
                target(f"RTSP {n} cameras: write amplification under 1.02",
                       h.get("write_amp") is not None and h["write_amp"] < 1.02,
                       f"{fmt(h.get('write_amp'), 3)} per media byte, {fmt(h['write_per_in'], 3)} per byte in")
        out.append("")
        views = sorted(n for (n, srv) in g if srv == "hub+viewer" and (n, "hub") in g)
        if views:
            out.append("JPEG views of the RTSP cameras: what one MJPEG viewer per camera (a grid "
                       "of every camera open) adds to the hub with nobody looking, and the hub "
                       "with nobody looking against the earlier hub without snapshots (when measured).\n")
            out.append("| cameras | CPU % per camera added by a viewer | RSS MB per camera added "
                       "| no viewer vs before, no snapshots: CPU | RSS |")
            out.append("|---|---|---|---|---|")
            for n in views:
                h, v, b = g[(n, "hub")], g[(n, "hub+viewer")], g.get((n, "before"), {})
                out.append(f"| {n} | {fmt((v['cpu_pct'] - h['cpu_pct']) / n, 2)} | "
                           f"{fmt((v['rss_mb'] - h['rss_mb']) / n, 2)} | "
                           f"{ratio(h['cpu_pct'], b.get('cpu_pct'))} | {ratio(h['rss_mb'], b.get('rss_mb'))} |")
            out.append("")

    g = group(rows, "latency")
    if g:
        out.append("### Live latency in headless Chromium (medians of the runs' p50)\n")
        out.append("| path | runs | p50 ms | p90 ms | vs HLS |")
        out.append("|---|---|---|---|---|")
        hls = g.get((0, "hls"), {})
        for (_, srv), m in sorted(g.items()):
            out.append(f"| {srv} | {m['runs']} | {fmt(m['p50_ms'], 0)} | {fmt(m.get('p90_ms'), 0)} | "
                       f"{ratio(m['p50_ms'], hls.get('p50_ms'), 3)} |")
        out.append("")
        if (0, "mse") in g:
            m = g[(0, "mse")]
            target("live view under 1 s behind (MSE p50)", m["p50_ms"] < 1000,
                   f"{fmt(m['p50_ms'], 0)} ms")
            target("MSE p50 under 200 ms without stalls", m["p50_ms"] < 200 and not m.get("stalls"),
                   f"{fmt(m['p50_ms'], 0)} ms, {fmt(m.get('stalls'), 0)} stalls (median of the runs)")

    wake = [r for r in rows if r["workload"] == "wake"]
    if wake:
        out.append("### Battery camera: first live frame after waking it (medians)\n")
        out.append("| camera | requests | first frame ms | slowest ms | vs kept awake |")
        out.append("|---|---|---|---|---|")
        a = median([r["always_ms"] for r in wake])
        w = median([r["wake_ms"] for r in wake])
        out.append(f"| `stream = \"always\"` (baseline) | {len(wake)} | {fmt(a, 0)} | "
                   f"{fmt(max(r['always_ms'] for r in wake), 0)} | 1.00 |")
        out.append(f"| `stream = \"on-demand\"`, asleep | {len(wake)} | {fmt(w, 0)} | "
                   f"{fmt(max(r['wake_ms'] for r in wake), 0)} | {ratio(w, a)} |")
        out.append("")

    year = [r for r in rows if r["workload"] == "year"]
    if year:
        sizes = sorted({int(r["days"]) for r in year})
        measures = []
        for r in year:
            if r["measure"] != "resources" and r["measure"] not in measures:
                measures.append(r["measure"])
        cell = {}
        for r in year:
            cell.setdefault((r["measure"], int(r["days"])), []).append(r)
        out.append("### A year of footage: 10 cameras of one-minute segments (medians, ms)\n")
        out.append("| measure | " + " | ".join(f"{d} days" for d in sizes) + " | largest vs smallest |")
        out.append("|---|" + "---|" * (len(sizes) + 1))
        for m in measures:
            vals = [median([r["median_ms"] for r in cell.get((m, d), [])]) if cell.get((m, d)) else None
                    for d in sizes]
            out.append(f"| {m} | " + " | ".join(fmt(v) if v is not None else "-" for v in vals)
                       + f" | {ratio(vals[-1], vals[0]) if None not in (vals[0], vals[-1]) else '-'} |")
        res = {d: cell.get(("resources", d), []) for d in sizes}
        for key, label in (("rss_start_mib", "hub RSS after start, MiB"),
                           ("rss_end_mib", "hub RSS after queries and exports, MiB"),
                           ("export_mb_s", "export MB/s"), ("cat_mb_s", "cat MB/s"),
                           ("export_ratio", "export vs cat"),
                           ("export_direct_mb_s", "export in-process (no HTTP) MB/s"),
                           ("export_direct_ratio", "export in-process vs cat")):
            vals = [median([r[key] for r in res[d]]) if res[d] else None for d in sizes]
            out.append(f"| {label} | " + " | ".join(fmt(v, 2) if v is not None else "-" for v in vals)
                       + " | |")
        out.append("")
        big, small = sizes[-1], sizes[0]
        for m in measures:
            if not (m.startswith("/api") or m.startswith("timeline")):
                continue
            a = median([r["median_ms"] for r in cell.get((m, small), [])] or [float("nan")])
            b = median([r["median_ms"] for r in cell.get((m, big), [])] or [float("nan")])
            target(f"{m} under 50 ms at {big} days, within 2x of {small} days",
                   b < 50 and b <= 2 * max(a, 1.0), f"{fmt(b)} ms vs {fmt(a)} ms")
        if res[big]:
            e = median([r["export_ratio"] for r in res[big]])
            target("export of hours of footage at >= 0.8x cat", e >= 0.8, f"{fmt(e, 2)}x")

    g = group(rows, "agent", key="case")
    if g:
        out.append("### Agent alone (medians)\n")
        out.append("| case | runs | frames/s | CPU % of a core | CPU ms per frame | RSS MB |")
        out.append("|---|---|---|---|---|---|")
        for (_, case), m in sorted(g.items()):
            out.append(f"| {case} | {m['runs']} | {fmt(m['fps'])} | {fmt(m['cpu_pct'], 2)} | "
                       f"{fmt(m['cpu_ms_per_frame'], 3)} | {fmt(m['rss_mb'])} |")
        out.append("")
        rss = max(m["rss_mb"] for m in g.values())
        target("agent RSS under 16 MiB (largest case)", rss < 16.0 * 1.048576, f"{fmt(rss)} MB")
        pt = g.get((0, "MJPEG passthrough 640x480"))
        if pt:
            target("MJPEG passthrough under 1% of a core at 30 fps", pt["cpu_pct"] < 1.0,
                   f"{fmt(pt['cpu_pct'], 2)} % at {fmt(pt['fps'])} fps")

    if encode_runs:
        out.append(f"### Agent per-stage CPU (`agent bench-encode`, median of {len(encode_runs)} runs)\n")
        cells = defaultdict(list)
        header = None
        for text in encode_runs:
            for line in text.splitlines():
                if line.startswith("| stage"):
                    header = line
                m = re.match(r"^\| ([^|]+?) \| (.+) \|$", line)
                if m and "ms (" in line:
                    vals = [float(re.match(r"\s*([0-9.]+) ms", c).group(1))
                            for c in m.group(2).split("|")]
                    cells[m.group(1)].append(vals)
        if header:
            out.append(header)
            out.append("|---|" + "---|" * (header.count("|") - 2))
            base = None
            for stage, runs in cells.items():
                med = [statistics.median(c) for c in zip(*runs)]
                if base is None:
                    base = med
                out.append(f"| {stage} | " + " | ".join(
                    f"{v:.3f} ms ({v / b:.3f}x)" for v, b in zip(med, base)) + " |")
            out.append("")

    g = [r for r in rows if r["workload"] == "size"]
    if g:
        out.append("### Binary sizes\n")
        out.append("| target | binary | profile | bytes | MiB |")
        out.append("|---|---|---|---|---|")
        for r in g:
            out.append(f"| {r['target']} | {r['binary']} | {r['profile']} | {int(r['bytes']):,} | "
                       f"{r['bytes'] / 1048576:.2f} |")
        out.append("")

    if TARGETS:
        out.append("### Targets\n")
        out.append("| target | measured | met |")
        out.append("|---|---|---|")
        for text, ok, measured in TARGETS:
            out.append(f"| {text} | {measured} | {'yes' if ok else '**no**'} |")
        out.append("")
    return "\n".join(out)


def main():
    rows = []
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    encode = [open(p).read() for p in sys.argv[2:]]
    print(report(rows, encode))


if __name__ == "__main__":
    main()
