# shellcheck shell=bash
# Mode `checkout-pay`: the `checkout` variant that also pays each order
# through the test provider, then checks every acknowledged payment left
# exactly one paid order. Sourced by bench/run; uses the helpers of
# bench/lib/common.sh and the product preparation of checkout_stock.py.

mode_checkout-pay() {
    local products=${BENCH_PRODUCTS:-10000} categories=${BENCH_CATEGORIES:-20}
    local in_play=${BENCH_CHECKOUT_PRODUCTS:-200} stock=${BENCH_STOCK:-100000}
    local v
    for v in products categories in_play stock; do
        [[ "${!v}" =~ ^[0-9]+$ ]] || bad_setting "checkout-pay: BENCH_PRODUCTS, BENCH_CATEGORIES, BENCH_CHECKOUT_PRODUCTS and BENCH_STOCK must be whole numbers"
    done
    ((in_play >= 2)) || bad_setting "BENCH_CHECKOUT_PRODUCTS=$in_play: the buyers need at least 2 products"

    build_binary
    make_data_dir
    setup_database
    local seeded=0
    seed_store "$products" "$categories" || seeded=$?
    ((seeded == 0)) || die "this emporium binary has no 'seed' subcommand; there is nothing to buy"
    create_admin "bench@example.com" 'Bench!Passw0rd1'

    # The test provider's page is the payment provider; the orders live long
    # enough that none is swept during the run.
    EMPORIUM_TEST_PAYMENTS=on EMPORIUM_ORDER_TTL=1h start_server

    local ids
    ids=$(python3 "$BENCH_DIR/lib/checkout_stock.py" prepare "$BASE_URL" "$WORK_DIR" \
        --email "bench@example.com" --password 'Bench!Passw0rd1' \
        --products "$in_play" --min-stock 50 --stock "$stock" --scarce 0 --scarce-stock 0) ||
        die "could not prepare the products to buy"

    mkdir -p "$(dirname "$RESULTS_FILE")"
    python3 "$BENCH_DIR/lib/checkout_pay.py" "$BASE_URL" --email "bench@example.com" --password 'Bench!Passw0rd1' \
        --products "$ids" --connections "$CONNECTIONS" --duration "$DURATION_S" --out "$RESULTS_FILE" ||
        die "checkout-pay: the payment integrity check failed (or could not run): see above"
    log "report: $RESULTS_FILE"
}
