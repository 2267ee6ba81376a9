#!/usr/bin/env python3
"""The report of `bench/run checkout`: the table, the PASS/MISS lines and the
JSON file, from the wrk summary (lib/wrk-checkout.lua, with the server's
memory added by load_run) and the integrity check (lib/checkout_stock.py).
"""

import argparse
import datetime
import json
import os
import sys

from report import cpu_model, r

STEPS = ("cart_new", "cart_add", "order")
STEP_LABEL = {
    "cart_new": "POST /api/v1/cart/items (new cart)",
    "cart_add": "POST /api/v1/cart/items (X-Cart-Key)",
    "order": "POST /api/v1/orders (X-Cart-Key)",
}
# Least completed orders per second, per backend.
ORDERS_PER_S = {"postgres": 1000.0, "sqlite": 500.0}


def parse_args():
    a = argparse.ArgumentParser()
    a.add_argument("--wrk", required=True, help="the run's JSON (wrk-checkout.lua + memory)")
    a.add_argument("--integrity", required=True)
    a.add_argument("--stock-start", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--backend", required=True)
    a.add_argument("--products", type=int, required=True)
    a.add_argument("--categories", type=int, required=True)
    a.add_argument("--connections", type=int, required=True)
    a.add_argument("--threads", type=int, required=True)
    a.add_argument("--duration", type=int, required=True)
    a.add_argument("--background-cpu", default="")
    a.add_argument("--peak-rss-kib", type=int, required=True)
    a.add_argument("--rss-kib", type=int, required=True)
    a.add_argument("--cpu-before", default="", help="cpu_snapshot before the run")
    a.add_argument("--cpu-after", default="", help="cpu_snapshot after the run")
    a.add_argument("--load-tool", default="wrk")
    a.add_argument("--git-rev", default="unknown")
    return a.parse_args()


def ms(us):
    return None if us is None else us / 1000


def fmt(x, spec):
    if x is None:
        width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit())
        return "-".rjust(int(width or 0))
    return format(x, spec)


def per_order_cpu_ms(server_cores, busy_cores, orders_per_s):
    """(emporium, everything else) CPU milliseconds per order placed."""
    rest = max(0.0, busy_cores - server_cores)
    return 1000 * server_cores / orders_per_s, 1000 * rest / orders_per_s


def cpu_use(before, after, cores):
    """(server cores, machine busy cores) over the run, from two cpu_snapshots."""
    try:
        b = [int(x) for x in before.split()]
        a = [int(x) for x in after.split()]
        if len(a) != 3 or len(b) != 3 or a[0] == 0:
            return None, None
        wall = (a[2] - b[2]) / cores  # ticks of one core
        if wall <= 0:
            return None, None
        return (a[0] - b[0]) / wall, (a[1] - b[1]) / wall
    except (ValueError, IndexError):
        return None, None


def main():
    args = parse_args()
    with open(args.wrk) as f:
        w = json.load(f)
    with open(args.integrity) as f:
        integ = json.load(f)
    with open(args.stock_start) as f:
        stock = json.load(f)
    co = w["checkout"]
    c = co["counters"]
    secs = w["duration_us"] / 1e6

    steps = {}
    for s in STEPS:
        lat = co["steps"].get(s, {})
        errs = {k.rsplit(".", 1)[1]: int(v) for k, v in c.items() if k.startswith(f"error.{s}.")}
        steps[s] = {
            "request": STEP_LABEL[s],
            "sent": int(c.get(f"sent.{s}", 0)),
            "responses": int(lat.get("responses", 0)),
            "ok": int(c.get(f"ok.{s}", 0)),
            "insufficient_stock_409": int(c.get(f"409.{s}", 0)),
            "errors": sum(errs.values()),
            "errors_by_status": errs,
            "p50_ms": ms(lat.get("p50_us")),
            "p90_ms": ms(lat.get("p90_us")),
            "p99_ms": ms(lat.get("p99_us")),
            "max_ms": ms(lat.get("max_us")),
        }
    orders = steps["order"]["ok"]
    orders_per_s = orders / secs if secs > 0 else 0.0
    e = w["errors"]
    socket = {k: int(e[k]) for k in ("connect", "read", "write", "timeout")}
    http_errors = sum(st["errors"] for st in steps.values())
    # Responses the script could not match to a request (no X-Request-Id echoed)
    # and 200s to a new cart without X-Cart-Key: the flow broke, count them.
    unmatched_bad = int(c.get("unmatched_non2xx", 0))
    no_key = int(c.get("no_cart_key", 0))
    errors = http_errors + sum(socket.values()) + unmatched_bad + no_key
    conflicts = sum(st["insufficient_stock_409"] for st in steps.values())
    peak_rss_mib = args.peak_rss_kib / 1024
    server_cores, busy_cores = cpu_use(args.cpu_before, args.cpu_after, os.cpu_count())

    background = []
    for v in filter(None, args.background_cpu.split(",")):
        try:
            background.append(float(v))
        except ValueError:
            background.append(None)

    # ---- targets ----
    least = ORDERS_PER_S.get(args.backend)
    targets = {
        "orders_per_s": {
            "target": f">= {least:g} ({args.backend})" if least else "none for this backend",
            "value": r(orders_per_s, 1),
            "result": "SKIP" if least is None else ("PASS" if orders_per_s >= least else "MISS"),
        },
        "errors": {"target": "0", "value": errors, "result": "PASS" if errors == 0 else "MISS"},
        "oversold": {
            "target": "0",
            "value": integ["oversold"],
            "result": "PASS" if integ["oversold"] == 0 else "MISS",
        },
    }

    # ---- table ----
    out = sys.stdout
    print(file=out)
    scarce = len(stock.get("scarce", []))
    in_play = len(stock.get("picked", []))
    restock = (f"{stock['restocked']} at stock {stock['restock_to']}" if stock.get("restock_to")
               else f"{in_play - scarce} at their seeded stock")
    if scarce:
        restock += f", {scarce} scarce at {stock['scarce_stock']}"
    print(
        f"checkout: {args.backend}, {args.products} products seeded, {in_play} in play ({restock}); "
        f"{args.connections} buyers (connections), {args.duration}s, {os.cpu_count()} cores, {args.load_tool}",
        file=out,
    )
    head = f"{'step':<9} {'sent':>8} {'2xx':>8} {'409':>6} {'errors':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}"
    print(head, file=out)
    print("-" * len(head), file=out)
    for s, st in steps.items():
        print(
            f"{s:<9} {st['sent']:>8d} {st['ok']:>8d} {st['insufficient_stock_409']:>6d} {st['errors']:>6d} "
            f"{fmt(st['p50_ms'], '8.2f')} {fmt(st['p90_ms'], '8.2f')} {fmt(st['p99_ms'], '8.2f')}",
            file=out,
        )
    lat = w["latency_us"]
    print(
        f"{'all':<9} {int(w['requests']):>8d} {'':>8} {conflicts:>6d} {errors:>6d} "
        f"{lat['p50'] / 1000:>8.2f} {lat['p90'] / 1000:>8.2f} {lat['p99'] / 1000:>8.2f}",
        file=out,
    )
    print(file=out)
    per_order = w["requests"] / orders if orders else None
    print(f"orders/s: {orders_per_s:.1f}  ({orders} orders in {secs:.2f} s; "
          f"{w['requests'] / secs:.0f} requests/s, {fmt(per_order, '.2f')} requests per order)", file=out)
    print(f"errors: {errors}  (non-2xx other than 409 INSUFFICIENT_STOCK: {http_errors}; socket: "
          + ", ".join(f"{k} {v}" for k, v in socket.items())
          + (f"; unmatched non-2xx: {unmatched_bad}" if unmatched_bad else "")
          + (f"; new cart without X-Cart-Key: {no_key}" if no_key else "") + ")", file=out)
    print(f"409 INSUFFICIENT_STOCK: {conflicts}  ("
          + ", ".join(f"{s} {st['insufficient_stock_409']}" for s, st in steps.items()) + ")", file=out)
    if server_cores is not None:
        print(f"CPU during the run: emporium {server_cores:.2f} cores, everything else (wrk, PostgreSQL, "
              f"other work) {max(0.0, busy_cores - server_cores):.2f}, idle {max(0.0, os.cpu_count() - busy_cores):.2f} "
              f"(of {os.cpu_count()})", file=out)
        if orders_per_s > 0:
            # CPU time per order on each side; the second bounds orders/s
            # whatever the server does, as long as they share these cores.
            server_ms, rest_ms = per_order_cpu_ms(server_cores, busy_cores, orders_per_s)
            cap = f"; with emporium free, the rest alone caps these cores at " \
                f"{1000 * os.cpu_count() / rest_ms:.0f} orders/s" if rest_ms > 0 else ""
            print(f"CPU per order: emporium {server_ms:.2f} ms, everything else {rest_ms:.2f} ms{cap}", file=out)
    print(f"peak RSS: {peak_rss_mib:.1f} MiB (VmHWM; now {args.rss_kib / 1024:.1f} MiB)", file=out)
    print(f"oversold: {integ['oversold']}"
          + (f"  ({integ['oversold_units']} units: "
             + ", ".join(f"product {o['product']} start {o['start']} sold {o['sold']} left {o['remaining']}"
                         for o in integ["oversold_products"][:10]) + ")" if integ["oversold"] else ""),
          file=out)
    balanced = not (integ["oversold"] or integ["leaked"] or integ["unknown_products"])
    after = integ["orders_after_stop"]
    print(f"integrity: {integ['checked_products']} products checked, sold + remaining = start "
          f"{'for all' if balanced else 'NOT for all'}; {integ['orders_in_db']} orders in the database"
          + (f" ({after} finished after wrk stopped)" if after > 0 else "")
          + f", {integ['units_sold']} units sold; scarce sold out: {integ['scarce_sold_out']}/{integ['scarce']}",
          file=out)
    if integ["leaked"]:
        print(f"  stock gone without an order line on {integ['leaked']} products: "
              + ", ".join(f"{o['product']} ({o['difference']})" for o in integ["leaked_products"][:10]), file=out)
    if integ["orders_missing"]:
        print(f"  {integ['orders_missing']} orders answered 201 are not in the database", file=out)
    if integ["unknown_products"]:
        print(f"  sold products missing from the starting stock: {len(integ['unknown_products'])}", file=out)
    if integ["api_stale"]:
        print(f"warning: the API shows a different stock than the database for {integ['api_stale']} products "
              "after the run", file=out)
    if c.get("unmatched"):
        print(f"warning: {int(c['unmatched'])} responses had no X-Request-Id the script sent; "
              "their carts were dropped", file=out)
    if any(b is not None and b > 0.25 for b in background):
        shown = ", ".join("?" if b is None else f"{b:.2f}" for b in background)
        print(f"note: other processes kept {shown} cores busy (before the run, after it): "
              "figures are low and noisy", file=out)
    print(file=out)
    for key, t in targets.items():
        print(f"{t['result']:<4}  {key:<14} {t['target']:<20} got {t['value']}", file=out)

    # ---- JSON ----
    doc = {
        "mode": "checkout",
        "backend": args.backend,
        "products": args.products,
        "categories": args.categories,
        "connections": args.connections,
        "threads": args.threads,
        "duration_s": args.duration,
        "machine": {
            "cores": os.cpu_count(),
            "cpu": cpu_model(),
            "background_cpu_cores": background,
            # cores busy during the run: the emporium process, and all processes
            "server_cpu_cores": r(server_cores, 2),
            "busy_cpu_cores": r(busy_cores, 2),
            "cpu_ms_per_order": (
                dict(zip(("server", "rest"), (r(v, 3) for v in per_order_cpu_ms(server_cores, busy_cores, orders_per_s))))
                if server_cores is not None and orders_per_s > 0 else None
            ),
        },
        "load_tool": args.load_tool,
        "git_rev": args.git_rev,
        "products_in_play": {
            "count": in_play,
            "restocked_to": stock.get("restock_to"),
            "scarce": scarce,
            "scarce_stock": stock.get("scarce_stock"),
            "units_at_start": stock.get("picked_stock"),
        },
        "measured_s": r(secs, 3),
        "orders": orders,
        "orders_per_s": r(orders_per_s, 1),
        "requests": int(w["requests"]),
        "requests_per_s": r(w["requests"] / secs if secs else 0.0, 1),
        "requests_per_order": r(per_order, 3),
        # wrk's own figures, over every request of every step
        "latency_all_ms": {k: r(lat[k] / 1000, 3) for k in ("p50", "p90", "p99", "p999", "max")},
        "steps": {
            s: {**st, **{k: r(st[k], 3) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}}
            for s, st in steps.items()
        },
        "errors": errors,
        "error_detail": {
            "http": http_errors,
            **socket,
            "unmatched_non2xx": unmatched_bad,
            "no_cart_key": no_key,
        },
        "insufficient_stock_409": conflicts,
        "peak_rss_mib": r(peak_rss_mib, 1),
        "rss_end_mib": r(args.rss_kib / 1024, 1),
        "integrity": integ,
        "oversold": integ["oversold"],
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
