# shellcheck shell=bash
# Mode `checkout`: guest buyers add two products to a cart and order it, over
# and over, then the stock is audited. Sourced by bench/run; uses the helpers
# of bench/lib/common.sh. See bench/README.md.

CHECKOUT_ADMIN_EMAIL="bench@example.com"
CHECKOUT_ADMIN_PASSWORD='Bench!Passw0rd1'
CHECKOUT_MIN_STOCK=50 # products in play have at least this much seeded stock

mode_checkout() {
    local products=${BENCH_PRODUCTS:-10000} categories=${BENCH_CATEGORIES:-20}
    local in_play=${BENCH_CHECKOUT_PRODUCTS:-200} stock=${BENCH_STOCK:-100000}
    local scarce=${BENCH_SCARCE:-10} scarce_stock=${BENCH_SCARCE_STOCK:-10}
    local v
    for v in products categories in_play stock scarce scarce_stock; do
        [[ "${!v}" =~ ^[0-9]+$ ]] || bad_setting "checkout: BENCH_PRODUCTS, BENCH_CATEGORIES, BENCH_CHECKOUT_PRODUCTS, BENCH_STOCK, BENCH_SCARCE and BENCH_SCARCE_STOCK must be whole numbers"
    done
    ((in_play >= 2)) || bad_setting "BENCH_CHECKOUT_PRODUCTS=$in_play: the buyers need at least 2 products"
    ((scarce <= in_play - 2)) || bad_setting "BENCH_SCARCE=$scarce: at most BENCH_CHECKOUT_PRODUCTS - 2"
    ((stock <= 1000000000 && scarce_stock <= 1000000000)) || bad_setting "BENCH_STOCK / BENCH_SCARCE_STOCK: at most 1000000000"
    [[ -z "${BENCH_ONLY:-}" ]] || log "BENCH_ONLY is for the catalog mode; checkout ignores it"

    ensure_wrk
    build_binary
    make_data_dir
    setup_database

    local seeded=0
    seed_store "$products" "$categories" || seeded=$?
    ((seeded == 0)) || die "this emporium binary has no 'seed' subcommand; there is nothing to buy"
    create_admin "$CHECKOUT_ADMIN_EMAIL" "$CHECKOUT_ADMIN_PASSWORD"

    start_server

    # The products in play, their stock set through the admin API, the
    # starting stock read back, and one checkout placed as the pre-check.
    local ids
    ids=$(python3 "$BENCH_DIR/lib/checkout_stock.py" prepare "$BASE_URL" "$WORK_DIR" \
        --email "$CHECKOUT_ADMIN_EMAIL" --password "$CHECKOUT_ADMIN_PASSWORD" \
        --products "$in_play" --min-stock "$CHECKOUT_MIN_STOCK" \
        --stock "$stock" --scarce "$scarce" --scarce-stock "$scarce_stock") ||
        die "could not prepare the products to buy"

    # Mixed (bench/run mixed): shop-front browsing on varied URLs runs beside
    # the buyers, on as many connections again, while stock changes.
    local browse_pid=""
    if [[ "${BENCH_MIXED:-0}" == 1 ]]; then
        python3 "$BENCH_DIR/lib/catalog_urls.py" "$BASE_URL" "$WORK_DIR/urls" ||
            die "could not read the catalog to make varied URLs"
        mkdir -p "$WORK_DIR/results"
        log "browse: random lines of urls/browse.txt beside the buyers (${CONNECTIONS} connections, ${DURATION_S}s)"
        WRK_URLS="$WORK_DIR/urls/browse.txt" WRK_JSON_LUA="$BENCH_DIR/lib/wrk-json.lua" \
            WRK_JSON_OUT="$WORK_DIR/results/browse.json.wrk" \
            wrk --threads "$THREADS" --connections "$CONNECTIONS" --duration "${DURATION_S}s" --timeout 5s \
            --script "$BENCH_DIR/lib/wrk-urls.lua" "$BASE_URL/" >"$WORK_DIR/results/browse.wrk.txt" 2>&1 &
        browse_pid=$!
    fi
    background_cpu # before the run and after it: is the machine ours?
    local cpu_before cpu_after
    cpu_before=$(cpu_snapshot)
    CHECKOUT_PRODUCTS=$ids load_run checkout / "$BENCH_DIR/lib/wrk-checkout.lua" \
        "cart (2 products) + order, per buyer, repeatedly"
    cpu_after=$(cpu_snapshot)
    if [[ -n "$browse_pid" ]]; then
        wait "$browse_pid" || die "browse: wrk failed: $(tail -n 5 "$WORK_DIR/results/browse.wrk.txt")"
        load_run health /health
    fi

    local db_arg=(--sqlite "$DATA_DIR/emporium.db")
    [[ -z "$BENCH_DATABASE_URL" ]] || db_arg=(--postgres "$BENCH_DATABASE_URL")
    python3 "$BENCH_DIR/lib/checkout_stock.py" verify "$BASE_URL" "$WORK_DIR" "${db_arg[@]}" \
        --wrk "$WORK_DIR/results/checkout.json" --out "$WORK_DIR/results/integrity.json" ||
        die "could not check the stock after the run"
    background_cpu

    PYTHONPATH="$BENCH_DIR/lib" python3 "$BENCH_DIR/lib/checkout_report.py" \
        --wrk "$WORK_DIR/results/checkout.json" --integrity "$WORK_DIR/results/integrity.json" \
        --stock-start "$WORK_DIR/stock-start.json" --out "$RESULTS_FILE" \
        --backend "$BACKEND" --products "$SEEDED_PRODUCTS" --categories "$SEEDED_CATEGORIES" \
        --connections "$CONNECTIONS" --threads "$THREADS" --duration "$DURATION_S" \
        --background-cpu "$(IFS=,; echo "${BG_CPU[*]}")" \
        --peak-rss-kib "$(rss_kib VmHWM)" --rss-kib "$(rss_kib VmRSS)" \
        --cpu-before "$cpu_before" --cpu-after "$cpu_after" \
        --load-tool "$(load_tool_version)" \
        --git-rev "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" ||
        die "could not write the report"

    if [[ -n "$browse_pid" ]]; then
        python3 - "$WORK_DIR/results/browse.json.wrk" "$WORK_DIR/results/health.json" <<'PY'
import json, sys
b, h = (json.load(open(p)) for p in sys.argv[1:3])
rps = lambda w: w["requests"] / (w["duration_us"] / 1e6)
e = b["errors"]
errors = int(e["status"] + e["connect"] + e["read"] + e["write"] + e["timeout"])
print(f"browse beside checkout: {rps(b):.0f} req/s, p50 {b['latency_us']['p50'] / 1000:.2f} ms, "
      f"p99 {b['latency_us']['p99'] / 1000:.2f} ms, errors {errors}; /health alone after: {rps(h):.0f} req/s; "
      f"ratio {rps(b) / rps(h):.3f} (target >= 0.2)")
PY
    fi

    # Selling what the shop does not have is a bug, not a slow run: exit 1.
    python3 - "$WORK_DIR/results/integrity.json" <<'PY' || die "stock integrity check failed: see 'oversold' / 'integrity' above"
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["ok"] else 1)
PY
}
