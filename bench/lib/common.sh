# shellcheck shell=bash
# Shared steps of every benchmark mode: sourced by bench/run, not run alone.
#
# A mode (bench/modes/<name>.sh) defines `mode_<name>` and uses these:
#   ensure_wrk, build_binary, make_data_dir, setup_database, emporium_exec,
#   CHILD_PID + wait_child (long one-shot steps), seed_store, create_admin,
#   start_server, background_cpu, cpu_snapshot, precheck, load_run, rss_kib,
#   write_report.
# Everything started here is stopped by `cleanup` (installed as an EXIT trap).

# A bad setting: exit 2, like a bad command line.
bad_setting() {
    printf '[bench] ERROR: %s\n' "$*" >&2
    exit 2
}
log() { printf '[bench] %s\n' "$*" >&2; }
die() {
    printf '[bench] ERROR: %s\n' "$*" >&2
    exit 1
}

# ----------------------------------------------------------------- state ----
SERVER_PID=""
CHILD_PID="" # a load run or the seed, while it runs
SERVER_LOG=""
WORK_DIR=""
DATA_DIR=""
PG_ADMIN_URL=""
PG_DB=""
BENCH_DATABASE_URL=""
BACKEND="sqlite"
SEEDED_PRODUCTS=0 # set by a mode that seeds
SEEDED_CATEGORIES=0
BASE_URL=""
PORT=""

# Hide the password of a URL in anything printed.
redact() { sed -E 's#(://[^/:@]*):[^/@]*@#\1:[redacted]@#' <<<"$1"; }

# ---------------------------------------------------------------- cleanup ---
# Long steps run in the background and are waited for, so that a signal to
# the script is acted on at once (bash runs a trap only between commands, but
# interrupts `wait`); cleanup then stops the child.
wait_child() {
    local rc=0
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    return "$rc"
}

stop_child() {
    [[ -n "$CHILD_PID" ]] || return 0
    kill -TERM "$CHILD_PID" 2>/dev/null || true
    wait "$CHILD_PID" 2>/dev/null || true
    CHILD_PID=""
}

stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do # up to 10 s for a graceful stop
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server $SERVER_PID did not stop on SIGTERM; killing it"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

drop_database() {
    [[ -n "$PG_DB" ]] || return 0
    log "dropping database $PG_DB"
    PGCONNECT_TIMEOUT=10 timeout 60 psql "$PG_ADMIN_URL" -X -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null ||
        log "WARNING: could not drop database $PG_DB; drop it by hand"
    PG_DB=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_child
    stop_server
    drop_database
    if [[ -n "$WORK_DIR" && -d "$WORK_DIR" ]]; then
        if [[ $rc -eq 1 && -n "$SERVER_LOG" && -s "$SERVER_LOG" ]]; then
            log "last lines of the server log:"
            tail -n 20 "$SERVER_LOG" | sed 's/^/    /' >&2
        fi
        if [[ "${BENCH_KEEP_DATA:-0}" == 1 ]]; then
            log "kept $WORK_DIR (BENCH_KEEP_DATA=1)"
        else
            rm -rf "$WORK_DIR"
        fi
    fi
    exit "$rc"
}

install_traps() {
    trap cleanup EXIT
    trap 'log "interrupted"; exit 130' INT
    trap 'log "terminated"; exit 143' TERM
}

# ------------------------------------------------------------ load tool ----
# wrk: a Debian package (seconds to install), C and light on CPU, which matters
# when it shares 2 cores with the server; its Lua `done` hook gives us JSON.
ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || die "wrk is not installed and apt-get is not available; install wrk"
    [[ $(id -u) -eq 0 ]] || die "wrk is not installed; run: sudo apt-get install -y wrk"
    log "installing wrk (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 300 apt-get install -y -qq wrk >/dev/null 2>&1; then
        timeout 300 apt-get update -qq >/dev/null 2>&1 || true
        timeout 300 apt-get install -y -qq wrk >/dev/null || die "could not install wrk with apt-get"
    fi
    command -v wrk >/dev/null 2>&1 || die "wrk is still not on PATH after installing it"
}

# ---------------------------------------------------------------- build ----
# Sets EMPORIUM_BIN. A prebuilt binary may be given in EMPORIUM_BIN instead.
build_binary() {
    if [[ -n "${EMPORIUM_BIN:-}" ]]; then
        [[ -f "$EMPORIUM_BIN" && -x "$EMPORIUM_BIN" ]] || die "EMPORIUM_BIN=$EMPORIUM_BIN is not an executable file"
        EMPORIUM_BIN=$(realpath "$EMPORIUM_BIN") # the server runs from the temp dir
        log "using the prebuilt binary $EMPORIUM_BIN (EMPORIUM_BIN set; not building)"
        return 0
    fi
    local target_dir
    target_dir=$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")
    log "building: cargo build --release --locked -p emporium (target dir $target_dir)"
    (cd "$ROOT" && CARGO_TARGET_DIR="$target_dir" cargo build --release --locked -p emporium) ||
        die "cargo build failed"
    EMPORIUM_BIN="$target_dir/release/emporium"
    [[ -x "$EMPORIUM_BIN" ]] || die "the build did not produce $EMPORIUM_BIN"
}

# --------------------------------------------------------------- storage ---
make_data_dir() {
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/emporium-bench.XXXXXX")
    DATA_DIR="$WORK_DIR/data"
    SERVER_LOG="$WORK_DIR/server.log"
    mkdir -p "$DATA_DIR"
}

# With --postgres: a fresh database on that server, dropped at the end.
setup_database() {
    [[ -n "$PG_ADMIN_URL" ]] || return 0
    command -v psql >/dev/null 2>&1 || die "--postgres needs psql on PATH"
    BACKEND="postgres"
    PG_DB="emporium_bench_$(date -u +%Y%m%d_%H%M%S)_$$"
    BENCH_DATABASE_URL=$(python3 - "$PG_ADMIN_URL" "$PG_DB" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], p.query, p.fragment)))
PY
    )
    log "creating database $PG_DB on $(redact "$PG_ADMIN_URL")"
    PGCONNECT_TIMEOUT=10 timeout 60 psql "$PG_ADMIN_URL" -X -q -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE \"$PG_DB\"" >/dev/null || {
        PG_DB="" # nothing to drop
        die "cannot create a database on $(redact "$PG_ADMIN_URL") (is PostgreSQL running, may this user create databases?)"
    }
}

# Replaces the calling (sub)shell with the binary, run against the bench's
# storage, in the work dir (so no stray ./emporium.toml is read) and with none
# of the caller's settings leaking in. Always call it inside ( ... ): then the
# subshell's pid is the server's, and $! of `( emporium_exec serve ) &` is it.
# EMPORIUM_TIMEOUT=SECS bounds a one-shot command (not used for serve).
emporium_exec() {
    cd "$WORK_DIR" || exit 1
    unset EMPORIUM_CONFIG EMPORIUM_DATA_DIR EMPORIUM_PORT EMPORIUM_BIND DATABASE_URL \
        EMPORIUM_ADMIN_EMAIL EMPORIUM_ADMIN_PASSWORD EMPORIUM_DB_MAX_CONNECTIONS
    if [[ -n "$BENCH_DATABASE_URL" ]]; then export DATABASE_URL="$BENCH_DATABASE_URL"; fi
    export EMPORIUM_RATE_LIMIT=off EMPORIUM_AUTH_RATE_LIMIT=off EMPORIUM_AUTH_FAILURE_LIMIT=off EMPORIUM_LOCKOUT_THRESHOLD=off EMPORIUM_REGISTER_RATE_LIMIT=off EMPORIUM_LOG=warn
    export EMPORIUM_SHUTDOWN_TIMEOUT=5s
    if [[ -n "${EMPORIUM_TIMEOUT:-}" ]]; then
        exec timeout "$EMPORIUM_TIMEOUT" "$EMPORIUM_BIN" --data-dir "$DATA_DIR" "$@"
    fi
    exec "$EMPORIUM_BIN" --data-dir "$DATA_DIR" "$@"
}

has_subcommand() { "$EMPORIUM_BIN" help "$1" >/dev/null 2>&1; }

# seed_store PRODUCTS CATEGORIES: `emporium seed` into the bench's storage,
# bounded by BENCH_SEED_TIMEOUT; sets SEEDED_PRODUCTS / SEEDED_CATEGORIES.
# Returns 2, seeding nothing, when the binary has no `seed` subcommand; dies
# when the seed fails.
seed_store() {
    local products=$1 categories=$2 t0=$SECONDS
    has_subcommand seed || return 2
    log "seeding $products products in $categories categories ($BACKEND)"
    (EMPORIUM_TIMEOUT=${BENCH_SEED_TIMEOUT:-900} emporium_exec seed --products "$products" --categories "$categories") \
        >"$WORK_DIR/seed.log" 2>&1 &
    CHILD_PID=$!
    wait_child || {
        tail -n 20 "$WORK_DIR/seed.log" | sed 's/^/    /' >&2
        die "emporium seed failed (or took over ${BENCH_SEED_TIMEOUT:-900}s)"
    }
    log "seeded in $((SECONDS - t0))s"
    SEEDED_PRODUCTS=$products SEEDED_CATEGORIES=$categories
}

# create_admin EMAIL PASSWORD: an admin account in the bench's storage (before
# the server starts), for the admin API.
create_admin() {
    has_subcommand admin || die "this emporium binary has no 'admin' subcommand; cannot create the bench's admin"
    (EMPORIUM_TIMEOUT=120 emporium_exec admin create --email "$1" --password "$2") >"$WORK_DIR/admin.log" 2>&1 || {
        sed 's/^/    /' "$WORK_DIR/admin.log" >&2
        die "emporium admin create failed"
    }
}

# ---------------------------------------------------------------- server ---
port_is_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

pick_port() {
    local want=${BENCH_PORT:-3100} p
    [[ "$want" =~ ^[0-9]+$ && "$want" -ge 1 && "$want" -le 65435 ]] || bad_setting "BENCH_PORT=$want is not a port number"
    for ((p = want; p < want + 100; p++)); do
        if port_is_free "$p"; then
            PORT=$p
            [[ $p -eq $want ]] || log "port $want is taken; using $p"
            return 0
        fi
    done
    die "no free port in $want..$((want + 99))"
}

# Starts `emporium serve` on 127.0.0.1 and waits (bounded) for /health.
start_server() {
    pick_port
    BASE_URL="http://127.0.0.1:$PORT"
    log "starting the server on $BASE_URL ($BACKEND)"
    (emporium_exec serve --bind 127.0.0.1 --port "$PORT") >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local started=$SECONDS
    local deadline=$((SECONDS + ${BENCH_START_TIMEOUT:-60}))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            die "the server exited during start (log below)"
        fi
        if curl -fsS -o /dev/null --max-time 2 "$BASE_URL/health" 2>/dev/null; then
            # The memory figures read /proc/$SERVER_PID: it must be the server itself.
            [[ "$(readlink "/proc/$SERVER_PID/exe" 2>/dev/null)" == "$(readlink -f "$EMPORIUM_BIN")" ]] ||
                die "pid $SERVER_PID is not the emporium binary; cannot measure its memory"
            log "server is up (pid $SERVER_PID) after $((SECONDS - started))s"
            # /ready waits for the catalog to be in memory.
            while ((SECONDS < deadline)); do
                if curl -fsS -o /dev/null --max-time 2 "$BASE_URL/ready" 2>/dev/null; then
                    READY_SECONDS=$((SECONDS - started))
                    log "server is ready (catalog loaded) ${READY_SECONDS}s after start"
                    return 0
                fi
                sleep 0.1
            done
            die "the server did not become ready ($BASE_URL/ready) within ${BENCH_START_TIMEOUT:-60}s"
        fi
        sleep 0.2
    done
    die "the server did not answer $BASE_URL/health within ${BENCH_START_TIMEOUT:-60}s"
}

# Server memory in KiB: rss_kib VmHWM (peak) or rss_kib VmRSS (now).
rss_kib() {
    local status="/proc/${SERVER_PID:-none}/status" v=""
    [[ -r "$status" ]] && v=$(awk -v k="$1:" '$1 == k { print $2 }' "$status" 2>/dev/null)
    echo "${v:-0}"
}

# ------------------------------------------------------------------ load ---
# How many cores something else keeps busy, over 1 s while our server idles.
# wrk and the server share this machine's cores with everything else running
# on it (a build, a test suite), which lowers and scatters the figures.
BG_CPU=()
background_cpu() {
    local busy
    busy=$(python3 - <<'PY'
import os, time
def snap():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait
t0, i0 = snap(); time.sleep(1); t1, i1 = snap()
dt = t1 - t0
print(f"{(dt - (i1 - i0)) / dt * os.cpu_count():.2f}" if dt else "0.00")
PY
    ) || busy="null"
    BG_CPU+=("$busy")
    if [[ "$busy" != null ]] && python3 -c "import sys; sys.exit(0 if float('$busy') > 0.25 else 1)"; then
        log "WARNING: other processes keep $busy cores busy; the figures will be lower and noisier than on an idle machine"
    fi
}

# cpu_snapshot: "SERVER_TICKS BUSY_TICKS ALL_TICKS": the server's CPU time
# (user + system, all threads) and the machine's busy and total time, in clock
# ticks. Two snapshots around a run tell how many cores the server used and
# how many everything else did (wrk, PostgreSQL, other work).
cpu_snapshot() {
    python3 - "${SERVER_PID:-none}" <<'PY' || echo "0 0 0"
import sys
server = 0
try:
    with open(f"/proc/{sys.argv[1]}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    server = int(fields[11]) + int(fields[12])  # utime, stime
except (OSError, ValueError, IndexError):
    pass
with open("/proc/stat") as f:
    v = [int(x) for x in f.readline().split()[1:]]
total = sum(v[:8])  # without guest time, already counted in user
print(server, total - v[3] - v[4], total)
PY
}

# precheck NAME PATH: one request with curl; anything but HTTP 200 is fatal.
# The body is kept in $WORK_DIR/precheck-NAME.body for the mode to inspect.
precheck() {
    local name=$1 path=$2 body="$WORK_DIR/precheck-$1.body" code
    code=$(curl -sS -o "$body" -w '%{http_code}' --max-time 10 "$BASE_URL$path") ||
        die "$name: GET $path failed (curl error)"
    if [[ "$code" != 200 ]]; then
        log "$name: response body: $(head -c 500 "$body")"
        die "$name: GET $path answered HTTP $code, not 200; not benchmarking a broken endpoint"
    fi
}

# load_run NAME PATH [SCRIPT [WHAT]]: drives PATH for $DURATION with
# $CONNECTIONS connections. SCRIPT is the wrk Lua script (default
# lib/wrk-json.lua: GET PATH); it must write wrk's summary as JSON to
# $WRK_JSON_OUT as wrk-json.lua does. WHAT is what the log line calls the load.
# Leaves wrk's figures in $WORK_DIR/results/NAME.json (with the memory after).
load_run() {
    local name=$1 path=$2 script=${3:-$BENCH_DIR/lib/wrk-json.lua} what=${4:-"GET $2"}
    local out="$WORK_DIR/results/$1.json"
    mkdir -p "$WORK_DIR/results"
    log "$name: $what  (${CONNECTIONS} connections, ${DURATION_S}s)"
    WRK_JSON_OUT="$out.wrk" timeout $((DURATION_S + 60)) \
        wrk --threads "$THREADS" --connections "$CONNECTIONS" --duration "${DURATION_S}s" \
        --timeout 5s --script "$script" "$BASE_URL$path" \
        >"$WORK_DIR/results/$name.wrk.txt" 2>&1 &
    CHILD_PID=$!
    wait_child || die "$name: wrk failed: $(tail -n 5 "$WORK_DIR/results/$name.wrk.txt")"
    [[ -s "$out.wrk" ]] || die "$name: wrk wrote no summary"
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name: the server died during the run"
    python3 - "$out.wrk" "$out" "$path" "$(rss_kib VmRSS)" "$(rss_kib VmHWM)" <<'PY'
import json, sys
wrk, out, path, rss, hwm = sys.argv[1:6]
with open(wrk) as f:
    r = json.load(f)
r["path"] = path
r["rss_after_kib"] = int(rss)
r["hwm_after_kib"] = int(hwm)
with open(out, "w") as f:
    json.dump(r, f)
PY
}

load_tool_version() { { wrk --version 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }'; }

# write_report MODE ENDPOINT...: the table, the targets, and the JSON file.
write_report() {
    local mode=$1
    shift
    python3 "$BENCH_DIR/lib/report.py" \
        --mode "$mode" --results-dir "$WORK_DIR/results" --out "$RESULTS_FILE" \
        --backend "$BACKEND" --products "$SEEDED_PRODUCTS" --categories "$SEEDED_CATEGORIES" \
        --connections "$CONNECTIONS" --threads "$THREADS" --duration "$DURATION_S" \
        --background-cpu "$(IFS=,; echo "${BG_CPU[*]}")" \
        --peak-rss-kib "$(rss_kib VmHWM)" --rss-kib "$(rss_kib VmRSS)" \
        --load-tool "$(load_tool_version)" \
        --git-rev "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$@"
}
