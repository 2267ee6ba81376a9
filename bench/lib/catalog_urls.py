#!/usr/bin/env python3
"""Write the varied catalog URLs a benchmark run draws from.

Usage: catalog_urls.py BASE_URL OUT_DIR [SEED]

Reads the whole catalog from a running Emporium (every product id, every
category slug, the words of the product names) and writes, one path a line,
10,000 each of (random, but the same for the same SEED and catalog):

  product.txt          GET /api/v1/products/<id>, ids across the whole catalog
  list.txt             GET /api/v1/products?page=<1..50>&limit=20
  filtered.txt         a category, a random price range and a random sort
  search.txt           one or two words drawn from the catalog's vocabulary
  search_filtered.txt  a search with a category or price filter
  browse.txt           the shop-front mix: 40 % product pages, 25 % category
                       pages (filtered.txt), 20 % searches, 15 % list pages

Nothing here is answered from a one-URL cache: that is the point.
"""

import json
import os
import random
import re
import sys
import urllib.parse
import urllib.request

LINES = 10_000
SORTS = ["price", "-price", "name", "-name", "createdAt", "-createdAt"]


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as resp:
        return json.load(resp)


def main():
    if len(sys.argv) not in (3, 4):
        print("usage: catalog_urls.py BASE_URL OUT_DIR [SEED]", file=sys.stderr)
        sys.exit(2)
    base, out = sys.argv[1].rstrip("/"), sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) == 4 else 12)
    ids, words = [], {}
    page = 1
    while True:
        body = get(base, f"/api/v1/products?limit=100&page={page}&sort=createdAt")
        data = body.get("data") or []
        for p in data:
            ids.append(str(p["_id"]))
            for w in re.split(r"[^A-Za-z]+", str(p.get("name", ""))):
                if len(w) >= 3:
                    words[w.lower()] = words.get(w.lower(), 0) + 1
        if len(data) < 100:
            break
        page += 1
    slugs = [c["slug"] for c in get(base, "/api/v1/categories").get("data") or []]
    if not ids or not slugs or not words:
        print("catalog_urls: the catalog has no products, categories or words", file=sys.stderr)
        sys.exit(1)
    vocabulary = sorted(words)
    q = urllib.parse.quote

    def product():
        return f"/api/v1/products/{rng.choice(ids)}"

    def listing():
        return f"/api/v1/products?page={rng.randint(1, 50)}&limit=20"

    def price_range():
        low = rng.choice([0, 5, 10, 20, 50, 100])
        high = low + rng.choice([50, 100, 250, 500, 1000])
        return f"minPrice={low}&maxPrice={high}"

    def filtered():
        return (f"/api/v1/products?category={q(rng.choice(slugs))}&{price_range()}"
                f"&sort={rng.choice(SORTS)}&limit=20&page={rng.randint(1, 3)}")

    def search():
        n = 1 if rng.random() < 0.6 else 2
        terms = "+".join(q(rng.choice(vocabulary)) for _ in range(n))
        return f"/api/v1/products?search={terms}&limit=20"

    def search_filtered():
        extra = f"category={q(rng.choice(slugs))}" if rng.random() < 0.5 else price_range()
        return f"{search()}&{extra}"

    def browse():
        x = rng.random()
        if x < 0.40:
            return product()
        if x < 0.65:
            return filtered()
        if x < 0.85:
            return search()
        return listing()

    os.makedirs(out, exist_ok=True)
    for name, make in [("product", product), ("list", listing), ("filtered", filtered), ("search", search),
                       ("search_filtered", search_filtered), ("browse", browse)]:
        with open(os.path.join(out, f"{name}.txt"), "w") as f:
            for _ in range(LINES):
                f.write(make() + "\n")
    print(f"{len(ids)} products, {len(slugs)} categories, {len(vocabulary)} words", file=sys.stderr)


if __name__ == "__main__":
    main()
