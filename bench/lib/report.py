#!/usr/bin/env python3
"""Turn the per-endpoint wrk summaries of one run into the table, the
PASS/MISS lines and bench/results/latest.json.

Each mode has its own targets in TARGETS; the other checks (p99, errors,
memory) are the same for every mode and given by COMMON.
"""

import argparse
import datetime
import json
import os
import platform
import sys

# Per mode: endpoint -> least requests/s as a fraction of health's (same run).
# The varied-URL runs are the headline (issue 12's goals); the `*_hot` runs
# (one URL each, answered from the rendered-response cache) are a reference
# and have no target.
TARGETS = {
    "catalog": {
        "browse": 0.3,
        "product_by_id": 0.3,
        "list": 0.15,
        "filtered": 0.15,
        "search": 0.15,
        "search_filtered": 0.15,
    },
}
COMMON = {"p99_ms_lt": 15.0, "errors_eq": 0, "peak_rss_mib_lt": 300.0}


def parse_args():
    a = argparse.ArgumentParser()
    a.add_argument("--mode", required=True)
    a.add_argument("--results-dir", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--backend", required=True)
    a.add_argument("--products", type=int, required=True)
    a.add_argument("--categories", type=int, required=True)
    a.add_argument("--connections", type=int, required=True)
    a.add_argument("--threads", type=int, required=True)
    a.add_argument("--duration", type=int, required=True)
    a.add_argument("--background-cpu", default="", help="comma-separated cores busy elsewhere")
    a.add_argument("--peak-rss-kib", type=int, required=True)
    a.add_argument("--rss-kib", type=int, required=True)
    a.add_argument("--load-tool", default="wrk")
    a.add_argument("--git-rev", default="unknown")
    a.add_argument("endpoints", nargs="+")
    return a.parse_args()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def r(x, n):
    return None if x is None else round(x, n)


def main():
    args = parse_args()
    endpoints = {}
    for name in args.endpoints:
        with open(os.path.join(args.results_dir, name + ".json")) as f:
            w = json.load(f)
        e = w["errors"]
        secs = w["duration_us"] / 1e6
        endpoints[name] = {
            "path": w["path"],
            "requests": int(w["requests"]),
            "rps": w["requests"] / secs if secs > 0 else 0.0,
            "p50_ms": w["latency_us"]["p50"] / 1000,
            "p90_ms": w["latency_us"]["p90"] / 1000,
            "p99_ms": w["latency_us"]["p99"] / 1000,
            "max_ms": w["latency_us"]["max"] / 1000,
            # status: HTTP >= 400 as wrk counts it; the rest are socket errors.
            "errors": int(e["status"] + e["connect"] + e["read"] + e["write"] + e["timeout"]),
            "error_detail": {k: int(v) for k, v in e.items()},
            "rss_after_mib": w["rss_after_kib"] / 1024,
        }
    health = endpoints.get("health", {}).get("rps")
    # health_lua is /health driven through the same Lua URL picker as the
    # varied runs: the floor with the same client-side cost.
    health_lua = endpoints.get("health_lua", {}).get("rps")
    for ep in endpoints.values():
        ep["ratio"] = ep["rps"] / health if health else None
        ep["ratio_to_health_lua"] = ep["rps"] / health_lua if health_lua else None

    peak_rss_mib = args.peak_rss_kib / 1024
    background = []
    for v in filter(None, args.background_cpu.split(",")):
        try:
            background.append(float(v))
        except ValueError:
            background.append(None)

    # ---- targets ----
    targets = {}
    for name, least in TARGETS.get(args.mode, {}).items():
        ep = endpoints.get(name)
        value = ep["ratio"] if ep else None
        targets[f"{name}_ratio"] = {
            "target": f">= {least}",
            "value": r(value, 3),
            "result": "SKIP" if value is None else ("PASS" if value >= least else "MISS"),
        }
    worst = max(endpoints.items(), key=lambda kv: kv[1]["p99_ms"])
    targets["p99_ms"] = {
        "target": f"< {COMMON['p99_ms_lt']:g} on every endpoint",
        "value": r(worst[1]["p99_ms"], 3),
        "worst": worst[0],
        "result": "PASS" if worst[1]["p99_ms"] < COMMON["p99_ms_lt"] else "MISS",
    }
    total_errors = sum(ep["errors"] for ep in endpoints.values())
    targets["errors"] = {
        "target": "0",
        "value": total_errors,
        "result": "PASS" if total_errors == COMMON["errors_eq"] else "MISS",
    }
    targets["peak_rss_mib"] = {
        "target": f"< {COMMON['peak_rss_mib_lt']:g}",
        "value": r(peak_rss_mib, 1),
        "result": "PASS" if 0 < peak_rss_mib < COMMON["peak_rss_mib_lt"] else "MISS",
    }

    # ---- table ----
    out = sys.stdout
    print(file=out)
    print(
        f"{args.mode}: {args.backend}, {args.products} products / {args.categories} categories, "
        f"{args.connections} connections, {args.duration}s each, {os.cpu_count()} cores, {args.load_tool}",
        file=out,
    )
    head = (f"{'endpoint':<19} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'ratio':>6}"
            f" {'vs lua':>6}")
    print(head, file=out)
    print("-" * len(head), file=out)
    for name, ep in endpoints.items():
        ratio = "-" if ep["ratio"] is None else f"{ep['ratio']:.2f}"
        lua = "-" if ep["ratio_to_health_lua"] is None else f"{ep['ratio_to_health_lua']:.2f}"
        print(
            f"{name:<19} {ep['rps']:>10.0f} {ep['p50_ms']:>8.2f} {ep['p99_ms']:>8.2f} "
            f"{ep['errors']:>7d} {ratio:>6} {lua:>6}",
            file=out,
        )
    print("(varied: a random URL of bench/lib/catalog_urls.py's per request; *_hot: one URL, "
          "the 1-second response cache's best case, a reference)", file=out)
    # health_floor is /health run again right before bare_axum.
    floor_health = endpoints.get("health_floor", {}).get("rps") or health
    if floor_health and endpoints.get("bare_axum", {}).get("rps"):
        print(f"floor: /health is {floor_health / endpoints['bare_axum']['rps']:.2f} of a bare axum app "
              "(static 300-byte JSON, run right after it; target >= 0.8)", file=out)
    print(file=out)
    print(f"peak RSS: {peak_rss_mib:.1f} MiB (VmHWM; now {args.rss_kib / 1024:.1f} MiB)", file=out)
    if any(b is not None and b > 0.25 for b in background):
        shown = ", ".join("?" if b is None else f"{b:.2f}" for b in background)
        print(f"note: other processes kept {shown} cores busy (before each run, after the last): "
              "figures are low and noisy", file=out)
    print(file=out)
    for key, t in targets.items():
        value = "not measured" if t["value"] is None else t["value"]
        extra = f" ({t['worst']})" if "worst" in t else ""
        print(f"{t['result']:<4}  {key:<20} {t['target']:<24} got {value}{extra}", file=out)

    # ---- JSON ----
    doc = {
        "mode": args.mode,
        "backend": args.backend,
        "products": args.products,
        "categories": args.categories,
        "connections": args.connections,
        "threads": args.threads,
        "duration_s": args.duration,
        "machine": {
            "cores": os.cpu_count(),
            "cpu": cpu_model(),
            # Cores kept busy by other processes before each run and after the
            # last (our server idle): above ~0.25, the figures are low.
            "background_cpu_cores": background,
        },
        "load_tool": args.load_tool,
        "git_rev": args.git_rev,
        "endpoints": {
            name: {
                "path": ep["path"],
                "requests": ep["requests"],
                "rps": r(ep["rps"], 1),
                "p50_ms": r(ep["p50_ms"], 3),
                "p90_ms": r(ep["p90_ms"], 3),
                "p99_ms": r(ep["p99_ms"], 3),
                "max_ms": r(ep["max_ms"], 3),
                "errors": ep["errors"],
                "error_detail": ep["error_detail"],
                "ratio": r(ep["ratio"], 3),
                "rss_after_mib": r(ep["rss_after_mib"], 1),
            }
            for name, ep in endpoints.items()
        },
        "peak_rss_mib": r(peak_rss_mib, 1),
        "rss_end_mib": r(args.rss_kib / 1024, 1),
        "targets": targets,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.out)
    print(f"\nwrote {args.out}", file=out)


if __name__ == "__main__":
    main()
