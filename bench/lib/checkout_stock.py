#!/usr/bin/env python3
"""Stock bookkeeping of `bench/run checkout`, against a running Emporium.

  checkout_stock.py prepare BASE_URL WORK_DIR --email E --password P
        --products N --min-stock M --stock S --scarce K --scarce-stock T
      Signs in as the admin, reads every product from the API, picks the
      first N that are available with stock >= M (the products the buyers
      pick from), sets their stock through the admin API (PATCH
      /products/:id): the last K of them to T ("scarce": they sell out during
      the run, so the never-oversell guarantee is tested at zero stock), the
      others to S (0 leaves the seeded stock). Then reads every product's
      stock again from the API: the starting stock, in WORK_DIR/stock-start.json.
      Then places one order the way the wrk script does (the pre-check: any
      other answer than 200, 200, 201 is fatal). Prints the picked ids,
      comma-separated, on stdout.

  checkout_stock.py verify BASE_URL WORK_DIR (--sqlite PATH | --postgres URL)
        --wrk WRK_JSON --out OUT_JSON
      After the run: waits until no more orders land, reads every product's
      stock from the API and from the database, and the units sold (lines of
      orders not cancelled) from the database. For every product,
      sold + remaining must equal the starting stock: more is an oversell
      (units sold that the shop did not have), less is stock that left without
      an order line. Also: every order the buyers got a 201 for must be in
      the database. Writes the findings to OUT_JSON; prints a summary on
      stderr. Exits 0 when it could check (whatever it found), 1 when not.

Progress and errors go to stderr, one line each.
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

PAGE = 100


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr)


def fail(msg):
    print(f"[bench] ERROR: checkout_stock: {msg}", file=sys.stderr)
    sys.exit(1)


def call(base, method, path, body=None, token=None, headers=None, want_headers=False):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            doc = json.load(resp)
            return (doc, resp.status, resp.headers) if want_headers else doc
    except urllib.error.HTTPError as e:
        detail = e.read(300).decode("utf-8", "replace")
        fail(f"{method} {path} answered HTTP {e.code}: {detail}")
    except (urllib.error.URLError, OSError, ValueError) as e:
        fail(f"{method} {path} failed: {e}")


def all_products(base):
    """id -> {"stock", "available"} for every product the API lists."""
    out, page = {}, 1
    while True:
        body = call(base, "GET", f"/api/v1/products?limit={PAGE}&page={page}")
        data = body.get("data")
        if not isinstance(data, list):
            fail(f"GET /api/v1/products?page={page}: no `data` list")
        for p in data:
            out[str(p["_id"])] = {"stock": int(p["stock"]), "available": bool(p.get("available", True))}
        pages = (body.get("meta") or {}).get("totalPages")
        if not data or (pages is not None and page >= pages):
            return out
        page += 1


def login(base, email, password):
    body = call(base, "POST", "/api/v1/users/login", {"email": email, "password": password})
    token = (body.get("data") or {}).get("accessToken")
    if not token:
        fail("POST /api/v1/users/login: no data.accessToken")
    return token


ADDRESS = {"firstName": "Ada", "lastName": "Lovelace", "address1": "1 Main St", "city": "London",
           "postcode": "N1 9GU", "country": "GB", "phone": "+44 20 7946 0000"}


def precheck(base, first, second):
    """One buyer's flow, as the wrk script does it, and the server behaviour
    the script relies on: the new cart's key in X-Cart-Key, and X-Request-Id
    echoed (the script matches responses to requests by it)."""
    steps = [("cart_new", "POST", "/api/v1/cart/items", {"productId": first, "quantity": 1}, 200),
             ("cart_add", "POST", "/api/v1/cart/items", {"productId": second, "quantity": 1}, 200),
             ("order", "POST", "/api/v1/orders", {"email": "precheck@example.com", "shippingAddress": ADDRESS}, 201)]
    key = None
    for name, method, path, body, want in steps:
        rid = f"bench-precheck-{name}"
        headers = {"X-Request-Id": rid}
        if key:
            headers["X-Cart-Key"] = key
        _, status, got = call(base, method, path, body, headers=headers, want_headers=True)
        if status != want:
            fail(f"pre-check {name}: {method} {path} answered HTTP {status}, not {want}")
        if got.get("X-Request-Id") != rid:
            fail(f"pre-check {name}: the response does not echo X-Request-Id "
                 f"(got {got.get('X-Request-Id')!r}); the wrk script matches responses to requests by it")
        if name == "cart_new":
            key = got.get("X-Cart-Key")
            if not key:
                fail("pre-check: POST /api/v1/cart/items without a key answered no X-Cart-Key header")


def prepare(a):
    token = login(a.base_url, a.email, a.password)
    seeded = all_products(a.base_url)
    if not seeded:
        fail("the API lists no products (was the database seeded?)")
    picked = [pid for pid, p in seeded.items() if p["available"] and p["stock"] >= a.min_stock][: a.products]
    if len(picked) < 2:
        fail(f"fewer than 2 available products with stock >= {a.min_stock}")
    if len(picked) < a.products:
        log(f"WARNING: only {len(picked)} available products with stock >= {a.min_stock} (wanted {a.products})")
    scarce = min(a.scarce, len(picked) - 2) if a.scarce > 0 else 0
    plan = {}
    for i, pid in enumerate(picked):
        if i >= len(picked) - scarce:
            plan[pid] = a.scarce_stock
        elif a.stock > 0:
            plan[pid] = a.stock
    for pid, stock in plan.items():
        call(a.base_url, "PATCH", f"/api/v1/products/{pid}", {"stock": stock}, token)
    start = all_products(a.base_url)
    wrong = [pid for pid, stock in plan.items() if start.get(pid, {}).get("stock") != stock]
    if wrong:
        fail(f"the API does not show the stock just set for products {', '.join(wrong[:5])}")
    doc = {
        "products": {pid: p["stock"] for pid, p in start.items()},
        "picked": picked,
        "scarce": picked[len(picked) - scarce:] if scarce else [],
        "picked_stock": sum(start[pid]["stock"] for pid in picked),
        "restocked": len(plan) - scarce,
        "restock_to": a.stock if a.stock > 0 else None,
        "scarce_stock": a.scarce_stock if scarce else None,
        "min_seeded_stock": a.min_stock,
    }
    # After the snapshot: its order's units count as sold, like the run's.
    precheck(a.base_url, picked[0], picked[1])
    doc["precheck_orders"] = 1
    with open(os.path.join(a.work_dir, "stock-start.json"), "w") as f:
        json.dump(doc, f)
    log(f"{len(picked)} products in play (API order, available, seeded stock >= {a.min_stock}): "
        + (f"{len(plan) - scarce} set to stock {a.stock}, " if a.stock > 0 else "seeded stock kept, ")
        + (f"{scarce} scarce ones set to {a.scarce_stock}" if scarce else "none scarce")
        + f"; {doc['picked_stock']} units in all")
    print(",".join(picked))


# ------------------------------------------------------------------ verify --
SOLD_SQL = ("SELECT order_items.product_id, SUM(order_items.quantity) FROM order_items "
            "JOIN orders ON orders.id = order_items.order_id "
            "WHERE orders.status <> 'cancelled' GROUP BY order_items.product_id")
STOCK_SQL = "SELECT id, stock FROM products WHERE deleted_at IS NULL"
ORDERS_SQL = "SELECT status, COUNT(*) FROM orders GROUP BY status"


class Db:
    def __init__(self, sqlite_path=None, pg_url=None):
        self.sqlite_path, self.pg_url = sqlite_path, pg_url

    def rows(self, sql):
        if self.sqlite_path:
            con = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=30)
            try:
                return [tuple(r) for r in con.execute(sql).fetchall()]
            finally:
                con.close()
        env = dict(os.environ, PGCONNECT_TIMEOUT="10")
        try:
            out = subprocess.run(["psql", self.pg_url, "-X", "-q", "-A", "-t", "-F", "\t",
                                  "-v", "ON_ERROR_STOP=1", "-c", sql],
                                 capture_output=True, text=True, timeout=120, env=env, check=True).stdout
        except subprocess.CalledProcessError as e:
            fail(f"psql: {e.stderr.strip()[:300]}")
        except subprocess.TimeoutExpired:
            fail("psql took over 120 s")
        return [tuple(line.split("\t")) for line in out.splitlines() if line]


def order_counts(db):
    return {status: int(n) for status, n in db.rows(ORDERS_SQL)}


def verify(a):
    with open(os.path.join(a.work_dir, "stock-start.json")) as f:
        start_doc = json.load(f)
    start = {pid: int(s) for pid, s in start_doc["products"].items()}
    with open(a.wrk) as f:
        counters = json.load(f).get("checkout", {}).get("counters", {})
    db = Db(a.sqlite, a.postgres)

    # Orders still being placed when wrk hung up finish on the server: wait
    # until the count holds still (bounded).
    settle_deadline = time.monotonic() + 15
    before = sum(order_counts(db).values())
    while True:
        time.sleep(0.5)
        now = sum(order_counts(db).values())
        if now == before or time.monotonic() > settle_deadline:
            break
        before = now

    statuses = order_counts(db)
    sold = {str(pid): int(q) for pid, q in db.rows(SOLD_SQL)}
    db_stock = {str(pid): int(s) for pid, s in db.rows(STOCK_SQL)}
    api_stock = {pid: p["stock"] for pid, p in all_products(a.base_url).items()}

    oversold, leaked, unknown = [], [], []
    for pid in sorted(set(start) | set(sold), key=lambda x: (len(x), x)):
        if pid not in start:
            unknown.append({"product": pid, "sold": sold.get(pid, 0)})
            continue
        if pid not in db_stock:
            unknown.append({"product": pid, "sold": sold.get(pid, 0), "note": "not in the database"})
            continue
        s, rem, st = sold.get(pid, 0), db_stock[pid], start[pid]
        row = {"product": pid, "start": st, "sold": s, "remaining": rem, "difference": s + rem - st}
        if s + rem > st or rem < 0:
            oversold.append(row)
        elif s + rem < st:
            leaked.append(row)
    api_stale = [
        {"product": pid, "api": api_stock.get(pid), "db": db_stock[pid]}
        for pid in sorted(db_stock, key=lambda x: (len(x), x))
        if pid in start and api_stock.get(pid) != db_stock[pid]
    ]
    placed = sum(n for st, n in statuses.items() if st != "cancelled")
    # the pre-check's order is in the database too
    acknowledged = int(counters.get("ok.order", 0)) + int(start_doc.get("precheck_orders", 0))
    units = sum(sold.values())
    picked = set(start_doc.get("picked", []))
    scarce = start_doc.get("scarce", [])
    doc = {
        "checked_products": len(start),
        "orders_in_db": placed,
        "orders_by_status": statuses,
        "orders_acknowledged": acknowledged,
        # > 0: orders that finished on the server after wrk hung up (<= connections)
        "orders_after_stop": placed - acknowledged,
        "orders_missing": max(0, acknowledged - placed),
        "units_sold": units,
        "units_per_order": round(units / placed, 3) if placed else None,
        "products_sold": len(sold),
        "sold_outside_picked": sorted(set(sold) - picked),
        "scarce_sold_out": sum(1 for pid in scarce if db_stock.get(pid) == 0),
        "scarce": len(scarce),
        "oversold": len(oversold),
        "oversold_units": sum(r["difference"] for r in oversold),
        "oversold_products": oversold[:50],
        "leaked": len(leaked),
        "leaked_products": leaked[:50],
        "unknown_products": unknown[:50],
        "api_stale": len(api_stale),
        "api_stale_products": api_stale[:50],
    }
    doc["ok"] = not (oversold or leaked or unknown or doc["orders_missing"])
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
    log(f"integrity: {placed} orders in the database ({acknowledged} acknowledged to the buyers), "
        f"{units} units sold; oversold: {len(oversold)}, leaked: {len(leaked)}, "
        f"unknown: {len(unknown)}, API stock != DB stock: {len(api_stale)}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("base_url")
    p.add_argument("work_dir")
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--products", type=int, required=True)
    p.add_argument("--min-stock", type=int, required=True)
    p.add_argument("--stock", type=int, required=True)
    p.add_argument("--scarce", type=int, required=True)
    p.add_argument("--scarce-stock", type=int, required=True)
    v = sub.add_parser("verify")
    v.add_argument("base_url")
    v.add_argument("work_dir")
    g = v.add_mutually_exclusive_group(required=True)
    g.add_argument("--sqlite")
    g.add_argument("--postgres")
    v.add_argument("--wrk", required=True)
    v.add_argument("--out", required=True)
    a = ap.parse_args()
    a.base_url = a.base_url.rstrip("/")
    prepare(a) if a.cmd == "prepare" else verify(a)


if __name__ == "__main__":
    main()
