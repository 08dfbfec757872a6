#!/usr/bin/env python3
"""Generated sections of docs/benchmarks.md (used by bench/regenerate.sh; standard library only).

    report.py splice DOC NAME < content   replace `<!-- bench:NAME -->` … `<!-- /bench:NAME -->`
                                          (appended when absent), like tidegate-load's --doc
    report.py criterion DIR [--since F]   markdown table of criterion results under DIR
                                          (target/criterion); --since: only benchmarks whose
                                          new/estimates.json is newer than file F (this run)
    report.py headline OUT                tidegate vs nginx + nchan vs raw writer, from the
                                          JSON reports tidegate-load wrote to OUT (docs/loadtest)
"""

import json
import os
import sys
from pathlib import Path


# --- splicing ------------------------------------------------------------------------------

def splice_text(text, name, content):
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{content.rstrip()}\n{end}"
    start, stop = text.find(begin), text.find(end)
    if start >= 0 and stop > start:
        return text[:start] + block + text[stop + len(end):]
    return text.rstrip() + "\n" + block + "\n"


def splice(doc, name):
    path = Path(doc)
    text = path.read_text() if path.exists() else ""
    path.write_text(splice_text(text, name, sys.stdin.read()))


# --- criterion -----------------------------------------------------------------------------

def sig4(value):
    """Four significant digits (three below 1)."""
    if value >= 100:
        return f"{value:.1f}"
    if value >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{sig4(ns / scale)} {unit}"
    return f"{sig4(ns)} ns"


def fmt_bytes(n):
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


def fmt_byte_rate(per_s):
    if per_s >= 1024**3:
        return f"{per_s / 1024**3:.2f} GiB/s"
    return f"{per_s / 1024**2:.0f} MiB/s"


def fmt_elem_rate(per_s):
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M msg/s"
    return f"{per_s / 1e3:.1f} k msg/s"


def throughput_cells(throughput, median_ns):
    """(unit per iteration, throughput at the median) from benchmark.json's `throughput`."""
    if not throughput:
        return "—", "—"
    kind, amount = next(iter(throughput.items()))
    per_iter_s = median_ns / 1e9
    if kind in ("Bytes", "BytesDecimal"):
        return fmt_bytes(amount), fmt_byte_rate(amount / per_iter_s)
    if kind == "Elements":
        each = fmt_time(median_ns / amount)
        return f"{amount:,} msg", f"{fmt_elem_rate(amount / per_iter_s)} ({each} per msg)"
    if kind == "ElementsAndBytes":
        elems, nbytes = amount["elements"], amount["bytes"]
        return (f"{elems:,} msg, {fmt_bytes(nbytes)}",
                f"{fmt_elem_rate(elems / per_iter_s)}, {fmt_byte_rate(nbytes / per_iter_s)}")
    return str(amount), "—"


def criterion(root, since=None):
    root = Path(root)
    cutoff = os.stat(since).st_mtime if since else None
    found, stale = [], []
    for estimates in root.glob("**/new/estimates.json"):
        if cutoff is not None and estimates.stat().st_mtime < cutoff:
            stale.append(estimates.parent.parent.relative_to(root))
            continue
        found.append(estimates)
    for path in sorted(stale):
        print(f"report.py: skipping {path}: not measured in this run", file=sys.stderr)
    if not found:
        sys.exit(f"report.py: no criterion results under {root}")
    found.sort(key=lambda p: p.stat().st_mtime)  # the order they ran in
    rows = [
        "| Benchmark | Unit per iteration | Median | 95 % CI of median | Throughput at the median |",
        "|---|---|---:|---|---|",
    ]
    for estimates in found:
        median = json.loads(estimates.read_text())["median"]
        bench_json = estimates.parent / "benchmark.json"
        meta = json.loads(bench_json.read_text()) if bench_json.exists() else {}
        name = meta.get("full_id") or str(estimates.parent.parent.relative_to(root))
        point = median["point_estimate"]
        ci = median["confidence_interval"]
        unit, rate = throughput_cells(meta.get("throughput"), point)
        rows.append(
            f"| `{name}` | {unit} | {fmt_time(point)} | "
            f"{fmt_time(ci['lower_bound'])} – {fmt_time(ci['upper_bound'])} | {rate} |"
        )
    print("\n".join(rows))


# --- end-to-end headline -------------------------------------------------------------------

PEERS = (("tidegate", "tidegate"), ("nchan", "nginx + nchan"), ("raw", "raw writer"))


def load_peers(out):
    """{rate: {server: report}} for every rate all three peer reports exist for."""
    by_rate = {}
    for path in Path(out).glob("peers-tidegate-*.json"):
        rate = path.stem.rsplit("-", 1)[1]
        reports = {}
        for key, _ in PEERS:
            peer = Path(out) / f"peers-{key}-{rate}.json"
            if peer.exists():
                reports[key] = json.loads(peer.read_text())
        if len(reports) == len(PEERS):
            by_rate[float(rate)] = reports
    return dict(sorted(by_rate.items()))


def cpu_per_million(report):
    usage = report.get("server_usage")
    return usage["cpu_s_per_million"] if usage else None


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def ms(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    return f"{us / 1000:.1f} ms"


def headline(out):
    by_rate = load_peers(out)
    if not by_rate:
        sys.exit(f"report.py: no complete peers-*-RATE.json set in {out}")
    lines = [
        "HTTP POST → WebSocket, tidegate's result divided by each peer's, all from this run "
        "(throughput: above 1 is faster; CPU per delivery: above 1 costs more).",
        "",
        "| offered | delivered ÷ offered (tidegate / nchan / raw) | throughput ÷ nchan | "
        "throughput ÷ raw | CPU per delivery ÷ nchan | CPU per delivery ÷ raw | "
        "p99 (tidegate / nchan / raw) | lost (all three) |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    sentences = []
    for rate, r in by_rate.items():
        t, n, w = r["tidegate"], r["nchan"], r["raw"]
        subs = t["workload"]["subscribers"]
        offered = rate * subs
        done = " / ".join(f"{x['delivered_per_s'] / offered:.2f}" for x in (t, n, w))
        p99 = " / ".join(ms(x["latency"]["p99_us"]) for x in (t, n, w))
        lost = sum(x["counts"]["lost"] for x in (t, n, w))
        thr_n = ratio(t["delivered_per_s"], n["delivered_per_s"])
        thr_w = ratio(t["delivered_per_s"], w["delivered_per_s"])
        cpu_n = ratio(cpu_per_million(t), cpu_per_million(n))
        cpu_w = ratio(cpu_per_million(t), cpu_per_million(w))
        lines.append(
            f"| {rate:g} msg/s × {subs} = {offered:,.0f}/s | {done} | {thr_n} | {thr_w} | "
            f"{cpu_n} | {cpu_w} | {p99} | {lost} |"
        )
        cpu_t = cpu_per_million(t)
        sentences.append(
            f"- {rate:g} msg/s × {subs} subscribers: tidegate delivered {thr_n}× nchan's and "
            f"{thr_w}× the raw writer's throughput, at {cpu_n}× nchan's and {cpu_w}× the raw "
            f"writer's CPU per delivery"
            + (f" ({cpu_t:.2f} CPU µs per delivery)." if cpu_t is not None else ".")
        )
    lines += [""] + sentences
    idle_path = Path(out) / "idle.json"
    if idle_path.exists():
        rows = json.loads(idle_path.read_text())
        measured = {}
        for row in rows:
            if row.get("kib_per_connection") is not None:
                # the largest level measured, per server
                best = measured.get(row["server"])
                if best is None or row["connections"] > best["connections"]:
                    measured[row["server"]] = row
        if "tidegate" in measured and "nchan" in measured:
            t, n = measured["tidegate"], measured["nchan"]
            lines.append(
                f"- Idle {'SSE' if row.get('protocol') == 'Sse' else 'WebSocket'} connections (largest level measured): tidegate {t['kib_per_connection']:.2f} KiB per "
                f"connection ({t['ready']:,} connected), nchan {n['kib_per_connection']:.2f} KiB "
                f"({n['ready']:,} connected): {t['kib_per_connection'] / n['kib_per_connection']:.2f}× nchan's."
            )
    print("\n".join(lines))


def main(argv):
    if len(argv) >= 3 and argv[0] == "splice":
        splice(argv[1], argv[2])
    elif len(argv) >= 2 and argv[0] == "criterion":
        since = argv[3] if len(argv) >= 4 and argv[2] == "--since" else None
        criterion(argv[1], since)
    elif len(argv) == 2 and argv[0] == "headline":
        headline(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
