# shellcheck shell=bash
# Mode `mixed`: the checkout buyers, with shop-front browsing on varied URLs
# running beside them (see bench/README.md). Sourced by bench/run.

# shellcheck source=bench/modes/checkout.sh
source "$BENCH_DIR/modes/checkout.sh"

mode_mixed() {
    BENCH_MIXED=1 mode_checkout
}
