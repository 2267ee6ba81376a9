#!/usr/bin/env python3
"""Load and audit of `bench/run checkout-pay`, against a running Emporium
started with EMPORIUM_TEST_PAYMENTS=on.

  checkout_pay.py BASE_URL --email E --password P --products IDS
        --connections C --duration SECONDS --out OUT_JSON

Every connection is a guest buyer who, again and again: places an order of
one unit of a random product (POST /api/v1/orders), opens its checkout with
the test provider (POST /api/v1/orders/:id/checkout), and presses Pay on the
test provider's page (POST /payments/test/:ref/pay, as a browser without
JavaScript does). A 200 from Pay is an acknowledged payment.

Then, as the admin, it checks every acknowledged payment left exactly one
`paid` order: the order is paid, with exactly one status change to `paid`
and exactly one captured attempt; and the shop holds no other paid order.
Writes the figures and findings to OUT_JSON and a summary to stderr. Exits
0 when the check passed, 1 when it failed or could not run.

Why not wrk: each buyer's three requests depend on the previous answers
(the order id, the session's page), and this mode checks correctness more
than it measures; a Python client on the same cores caps the rate, so the
figure is orders paid per second as this client drives it, not the server's
ceiling (the `checkout` mode measures that with wrk).
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

ADDRESS = {"firstName": "Ada", "lastName": "Lovelace", "address1": "1 Main St", "city": "London",
           "postcode": "N1 9GU", "country": "GB", "phone": "+44 20 7946 0000"}


def log(message):
    print(f"[bench] {message}", file=sys.stderr)


class Client:
    """One keep-alive connection."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def call(self, method, path, body=None, token=None, form=False):
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if form:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = b""
        elif body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, raw
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def json(self, method, path, body=None, token=None):
        status, raw = self.call(method, path, body, token)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(len(values) * p / 100 + 0.5) - 1))]


def buyer(base, products, deadline, number, results, lock):
    client = Client(base)
    rng = random.Random(7919 * (number + 1))
    mine = {"acknowledged": [], "errors": {}, "latency": {"order": [], "checkout": [], "pay": []}, "sold_out": 0}
    seq = 0

    def error(step, status):
        key = f"{step}.{status}"
        mine["errors"][key] = mine["errors"].get(key, 0) + 1

    while time.monotonic() < deadline:
        seq += 1
        email = f"payer{number}-{seq}@example.com"
        t0 = time.monotonic()
        status, body = client.json("POST", "/api/v1/orders", {
            "items": [{"productId": rng.choice(products), "quantity": 1}], "email": email, "shippingAddress": ADDRESS})
        t1 = time.monotonic()
        mine["latency"]["order"].append(t1 - t0)
        if status == 409:
            mine["sold_out"] += 1
            continue
        if status != 201:
            error("order", status)
            continue
        order = body["data"]["_id"]
        # A guest proves the order is theirs with the token its 201 carried.
        order_token = body["data"]["orderToken"]
        status, body = client.json("POST", f"/api/v1/orders/{order}/checkout", {"provider": "test", "token": order_token})
        t2 = time.monotonic()
        mine["latency"]["checkout"].append(t2 - t1)
        if status != 201:
            error("checkout", status)
            continue
        page = urllib.parse.urlsplit(body["data"]["checkoutUrl"]).path
        status, _ = client.call("POST", f"{page}/pay", form=True)
        mine["latency"]["pay"].append(time.monotonic() - t2)
        if status == 200:
            mine["acknowledged"].append(order)
        else:
            error("pay", status)
    with lock:
        results.append(mine)


def audit(base, token, acknowledged):
    client = Client(base)
    problems = []
    for order in acknowledged:
        status, body = client.json("GET", f"/api/v1/orders/{order}", token=token)
        if status != 200:
            problems.append(f"order {order}: GET answered {status}")
            continue
        data = body["data"]
        to_paid = sum(1 for e in data["events"] if e["to"] == "paid")
        if data["status"] != "paid" or data["paymentStatus"] != "paid" or to_paid != 1:
            problems.append(f"order {order}: {data['status']}/{data['paymentStatus']}, {to_paid} changes to paid")
        status, body = client.json("GET", f"/api/v1/orders/{order}/payments", token=token)
        captured = [p for p in body["data"]["payments"] if p["status"] == "captured"] if status == 200 else []
        if len(captured) != 1:
            problems.append(f"order {order}: {len(captured)} captured attempts")
    status, body = client.json("GET", "/api/v1/orders?status=paid&limit=1", token=token)
    paid_total = body["meta"]["total"] if status == 200 else None
    if paid_total != len(acknowledged):
        problems.append(f"{paid_total} paid orders in the shop, {len(acknowledged)} payments acknowledged")
    return paid_total, problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--products", required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--duration", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    products = [p for p in args.products.split(",") if p]
    status, body = Client(args.base).json("POST", "/api/v1/users/login", {"email": args.email, "password": args.password})
    if status != 200:
        log(f"admin sign-in answered {status}")
        return 1
    token = body["data"]["accessToken"]

    log(f"{args.connections} buyers order, check out and pay with the test provider for {args.duration}s")
    results, lock = [], threading.Lock()
    deadline = time.monotonic() + args.duration
    started = time.monotonic()
    threads = [threading.Thread(target=buyer, args=(args.base, products, deadline, i, results, lock))
               for i in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    acknowledged = [o for r in results for o in r["acknowledged"]]
    errors = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    latency = {}
    for step in ("order", "checkout", "pay"):
        values = [v for r in results for v in r["latency"][step]]
        latency[step] = {"requests": len(values), "p50_ms": round((percentile(values, 50) or 0) * 1000, 2),
                         "p99_ms": round((percentile(values, 99) or 0) * 1000, 2)}
    log(f"auditing {len(acknowledged)} acknowledged payments")
    paid_total, problems = audit(args.base, token, acknowledged)
    report = {
        "mode": "checkout-pay",
        "connections": args.connections,
        "duration_s": round(elapsed, 3),
        "orders_paid": len(acknowledged),
        "orders_paid_per_s": round(len(acknowledged) / elapsed, 2) if elapsed else 0,
        "sold_out_409": sum(r["sold_out"] for r in results),
        "errors": errors,
        "latency": latency,
        "integrity": {"ok": not problems, "paid_orders_in_shop": paid_total, "problems": problems[:50]},
    }
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    log(f"orders paid: {report['orders_paid']} in {report['duration_s']}s = {report['orders_paid_per_s']}/s; "
        f"errors: {errors or 'none'}")
    for step, figures in latency.items():
        log(f"  {step:<9} p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms ({figures['requests']} requests)")
    if problems:
        log(f"INTEGRITY FAILED: {len(problems)} problems, e.g. {problems[0]}")
        return 1
    log(f"integrity: every acknowledged payment left exactly one paid order ({paid_total} paid in the shop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
