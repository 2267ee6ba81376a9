# shellcheck shell=bash
# Mode `catalog`: read-only catalog endpoints on a seeded shop.
# Sourced by bench/run; uses the helpers of bench/lib/common.sh.

# name|path template ({id}, {slug}, {word} are filled in from the API), or
# name|@file: each request a random line of that file of bench/lib/catalog_urls.py
# (varied URLs, the headline). The order matters: health first, as the floor
# the others are compared to. The `_hot` ones drive one URL, which the
# 1-second response cache answers: a labelled reference, not real traffic.
CATALOG_ENDPOINTS=(
    "health|/health"
    "health_lua|@health"
    "browse|@browse"
    "product_by_id|@product"
    "list|@list"
    "filtered|@filtered"
    "search|@search"
    "search_filtered|@search_filtered"
    "product_by_id_hot|/api/v1/products/{id}"
    "list_hot|/api/v1/products?limit=20"
    "search_hot|/api/v1/products?search={word}&limit=20"
    "filtered_hot|/api/v1/products?category={slug}&minPrice=10&maxPrice=500&sort=price&limit=20"
)

mode_catalog() {
    local products=${BENCH_PRODUCTS:-10000} categories=${BENCH_CATEGORIES:-20}
    [[ "$products" =~ ^[0-9]+$ && "$categories" =~ ^[0-9]+$ ]] ||
        bad_setting "BENCH_PRODUCTS and BENCH_CATEGORIES must be whole numbers"

    # Which endpoints: all, or those named in BENCH_ONLY (comma-separated).
    local -a selected=() all_names=()
    local entry name
    for entry in "${CATALOG_ENDPOINTS[@]}"; do all_names+=("${entry%%|*}"); done
    if [[ -n "${BENCH_ONLY:-}" ]]; then
        local -a wanted
        IFS=',' read -r -a wanted <<<"${BENCH_ONLY// /}"
        for name in "${wanted[@]}"; do
            [[ " ${all_names[*]} " == *" $name "* ]] ||
                bad_setting "BENCH_ONLY: unknown endpoint '$name' (catalog has: ${all_names[*]})"
        done
        for entry in "${CATALOG_ENDPOINTS[@]}"; do
            name=${entry%%|*}
            if [[ ",${BENCH_ONLY// /}," == *",$name,"* ]]; then selected+=("$entry"); fi
        done
    else
        selected=("${CATALOG_ENDPOINTS[@]}")
    fi
    ((${#selected[@]})) || bad_setting "BENCH_ONLY='$BENCH_ONLY' names no endpoint"
    local needs_data=0
    for entry in "${selected[@]}"; do [[ "${entry%%|*}" == health ]] || needs_data=1; done

    ensure_wrk
    build_binary
    make_data_dir
    setup_database

    local seeded=0
    seed_store "$products" "$categories" || seeded=$?
    if ((seeded == 2)); then
        ((needs_data)) &&
            die "this emporium binary has no 'seed' subcommand, so there is no catalog to benchmark (BENCH_ONLY=health still works)"
        log "WARNING: this emporium binary has no 'seed' subcommand; running on an empty database (health only)"
    fi

    start_server

    local product_id="" slug="" word=""
    if ((needs_data)); then
        local ids
        ids=$(python3 "$BENCH_DIR/lib/catalog_ids.py" "$BASE_URL") || die "could not find ids to put in the URLs"
        { read -r product_id; read -r slug; read -r word; } <<<"$ids"
        log "using product $product_id, category '$slug', search word '$word'"
        python3 "$BENCH_DIR/lib/catalog_urls.py" "$BASE_URL" "$WORK_DIR/urls" ||
            die "could not read the catalog to make varied URLs"
    fi
    mkdir -p "$WORK_DIR/urls"
    echo /health >"$WORK_DIR/urls/health.txt"
    export WRK_JSON_LUA="$BENCH_DIR/lib/wrk-json.lua"

    local path names=()
    for entry in "${selected[@]}"; do
        name=${entry%%|*}
        path=${entry#*|}
        path=${path//\{id\}/$product_id}
        path=${path//\{slug\}/$slug}
        path=${path//\{word\}/$word}
        background_cpu # before each run and after the last: is the machine ours?
        if [[ "$path" == @* ]]; then
            export WRK_URLS="$WORK_DIR/urls/${path#@}.txt"
            precheck "$name" "$(head -n 1 "$WRK_URLS")"
            load_run "$name" "/" "$BENCH_DIR/lib/wrk-urls.lua" "random lines of urls/${path#@}.txt"
        else
            precheck "$name" "$path"
            warn_if_empty "$name" "$WORK_DIR/precheck-$name.body"
            load_run "$name" "$path"
        fi
        names+=("$name")
    done

    # The floor's floor: a bare axum app (crates/server/examples/bare_axum.rs)
    # answering 300 static bytes, in the same run. BENCH_FLOOR=0 skips it.
    if [[ "${BENCH_FLOOR:-1}" != 0 && " ${names[*]} " == *" health "* ]]; then
        local bare_bin
        bare_bin=$(dirname "$EMPORIUM_BIN")/examples/bare_axum
        if [[ ! -x "$bare_bin" && -z "${BENCH_NO_BUILD_FLOOR:-}" ]]; then
            (cd "$ROOT" && CARGO_TARGET_DIR="$(dirname "$(dirname "$EMPORIUM_BIN")")" \
                cargo build --release --locked -p emporium --example bare_axum) >&2 || true
        fi
        if [[ -x "$bare_bin" ]]; then
            # /health once more, right before the bare app: the two runs
            # the floor compares are seconds apart, not a whole catalog run
            # (on a shared machine the load drifts within a minute).
            background_cpu
            load_run health_floor /health
            names+=(health_floor)
            local bare_port=$((PORT + 1)) saved_url=$BASE_URL
            "$bare_bin" "$bare_port" &
            local bare_pid=$!
            sleep 0.5
            BASE_URL="http://127.0.0.1:$bare_port"
            background_cpu
            load_run bare_axum /
            names+=(bare_axum)
            BASE_URL=$saved_url
            kill "$bare_pid" 2>/dev/null || true
            wait "$bare_pid" 2>/dev/null || true
        else
            log "no bare_axum example binary: skipping the floor comparison"
        fi
    fi

    background_cpu
    write_report catalog "${names[@]}"
    [[ -z "${READY_SECONDS:-}" ]] || log "start-up to ready (catalog in memory): ${READY_SECONDS}s"
}

# A list endpoint that answers 200 with no rows would be benchmarked doing
# almost nothing: say so (it is not fatal: the seed decides what matches).
warn_if_empty() {
    python3 - "$1" "$2" <<'PY' || true
import json, sys
name, path = sys.argv[1:3]
try:
    with open(path) as f:
        data = json.load(f).get("data")
except (OSError, ValueError, AttributeError):
    sys.exit(0)
if isinstance(data, list) and not data:
    print(f"[bench] WARNING: {name}: the pre-check returned an empty list; "
          "this run measures a query that matches nothing", file=sys.stderr)
PY
}
