#!/usr/bin/env python3
"""Ask a running Emporium for real ids to put in the catalog URLs.

Usage: catalog_ids.py BASE_URL
Prints three lines, already URL-encoded: product id, category slug, search word.
Exits non-zero, with one line on stderr, when the catalog has nothing to offer.
"""

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


def fail(msg):
    print(f"catalog_ids: {msg}", file=sys.stderr)
    sys.exit(1)


def get(base, path):
    try:
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        fail(f"GET {path} answered HTTP {e.code}")
    except (urllib.error.URLError, OSError, ValueError) as e:
        fail(f"GET {path} failed: {e}")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        fail(f"GET {path}: no `data` list in the response envelope")
    return data


def search_word(products):
    # The first word of the first product's name (lower-cased, letters only,
    # at least 4 letters); later products only if the first has none.
    for p in products:
        for word in re.split(r"[^A-Za-z]+", str(p.get("name", ""))):
            if len(word) >= 4:
                return word.lower()
    return None


def main():
    if len(sys.argv) != 2:
        fail("usage: catalog_ids.py BASE_URL")
    base = sys.argv[1].rstrip("/")
    products = get(base, "/api/v1/products?limit=20")
    if not products:
        fail("GET /api/v1/products returned no products (was the database seeded?)")
    product_id = products[0].get("_id")
    if product_id in (None, ""):
        fail("the first product has no `_id`")
    categories = get(base, "/api/v1/categories")
    if not categories or not categories[0].get("slug"):
        fail("GET /api/v1/categories returned no category with a `slug`")
    word = search_word(products)
    if word is None:
        fail("no product name has a word of 4 or more letters to search for")
    q = urllib.parse.quote
    print(q(str(product_id), safe=""))
    print(q(str(categories[0]["slug"]), safe=""))
    print(q(word, safe=""))


if __name__ == "__main__":
    main()
