#!/usr/bin/env bash
# Builds and runs the standalone C++ bit-exactness test (tests/cpp/test_rows.cpp)
# that compares every SIMD level's row functions and drivers with the scalar code.
#
#   (a) natively on x86-64: scalar vs SSE4.1 and AVX2 (whatever this CPU has);
#       on an AArch64 host the native build is the NEON one instead;
#   (b) on an x86-64 host, if aarch64-linux-gnu-g++ and qemu-aarch64 are
#       installed, a static AArch64 build with NEON (csrc/rows_neon.cpp), run
#       under qemu-aarch64. Otherwise says clearly that the NEON check was not
#       run (Debian: apt-get install g++-aarch64-linux-gnu qemu-user).
#
# Usage: scripts/check_cpp.sh [--require-neon] [--no-edge] [--sanitize] [--no-native] [-- TEST_ARGS...]
#   --require-neon  fail (exit 1) if the NEON check cannot be run
#   --no-edge       skip the edge-value group (inf/NaN/huge a, b; vpass at the
#                   edges of its domain) in the native run (NEON always runs it)
#   --sanitize      also build and run the native test with ASan + UBSan
#   --no-native     skip the native build (only the NEON check)
#   TEST_ARGS       passed to the test binary, e.g. -- --seed 7 --quick
# Environment: CXX (native compiler, default g++), AARCH64_CXX (default
# aarch64-linux-gnu-g++), QEMU_AARCH64 (default qemu-aarch64).
# Build outputs go to build/cpp-tests/ (git-ignored); running it again rebuilds
# and reruns everything. Exit status: 0 only if every test that ran passed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT=$(pwd)
OUT="$ROOT/build/cpp-tests"

REQUIRE_NEON=0
EDGE=1
SANITIZE=0
NATIVE=1
TEST_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --require-neon) REQUIRE_NEON=1 ;;
        --edge) EDGE=1 ;;  # the default; kept for compatibility
        --no-edge) EDGE=0 ;;
        --sanitize) SANITIZE=1 ;;
        --no-native) NATIVE=0 ;;
        --) shift; TEST_ARGS=("$@"); break ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "check_cpp.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

CXX=${CXX:-g++}
AARCH64_CXX=${AARCH64_CXX:-aarch64-linux-gnu-g++}
QEMU_AARCH64=${QEMU_AARCH64:-qemu-aarch64}

# Same semantics as CMakeLists.txt: C++17, -ffp-contract=off (no FMA contraction:
# every level must match the scalar code bit for bit), threads.
COMMON_FLAGS=(-O2 -std=c++17 -ffp-contract=off -pthread -Wall -Wextra -I"$ROOT/csrc")
KERNEL_SRCS=(csrc/tables.cpp csrc/rows_scalar.cpp csrc/cpu.cpp csrc/thread_pool.cpp csrc/driver.cpp)

declare -a SUMMARY=()
FAILED=0

# build NAME CXX "EXTRA_FLAGS" "LINK_FLAGS" SRC[:FLAGS]...   -> $OUT/NAME/test_rows
build() {
    local name=$1 cxx=$2 extra=$3 link=$4
    shift 4
    local dir="$OUT/$name" objs=() pids=() logs=() spec src flags obj i rc=0
    mkdir -p "$dir"
    rm -f "$dir"/*.o "$dir"/*.log "$dir/test_rows"
    for spec in "$@"; do
        src=${spec%%:*}
        flags=""
        [ "$spec" != "$src" ] && flags=${spec#*:}
        obj="$dir/$(basename "${src%.cpp}").o"
        objs+=("$obj")
        logs+=("$obj.log")
        # shellcheck disable=SC2086  # extra/flags are intentionally word-split
        "$cxx" "${COMMON_FLAGS[@]}" $extra $flags -c "$src" -o "$obj" >"$obj.log" 2>&1 &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then rc=1; fi
        if [ -s "${logs[$i]}" ]; then cat "${logs[$i]}"; fi
    done
    if [ $rc -ne 0 ]; then
        echo "[$name] compilation failed"
        return 1
    fi
    # shellcheck disable=SC2086
    if ! "$cxx" "${COMMON_FLAGS[@]}" $extra "${objs[@]}" $link -o "$dir/test_rows"; then
        echo "[$name] link failed"
        return 1
    fi
    return 0
}

# run_test LABEL LOGFILE CMD... : runs the test, records its summary line.
run_test() {
    local label=$1 log=$2
    shift 2
    echo "[$label] running: $*"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    [ -z "$line" ] && line="no summary line (exit status $rc)"
    if [ "$rc" -eq 0 ]; then
        SUMMARY+=("$label: PASS ($line)")
    else
        SUMMARY+=("$label: FAIL ($line, exit status $rc)")
        FAILED=1
    fi
}

HOST=$(uname -m)
NATIVE_ARGS=("${TEST_ARGS[@]}")
[ $EDGE -eq 1 ] && NATIVE_ARGS+=(--edge)
NEON_ARGS=("${TEST_ARGS[@]}" --edge)

# ---- (a) native -------------------------------------------------------------
if [ $NATIVE -eq 1 ]; then
    case "$HOST" in
        x86_64|amd64)
            NATIVE_DEFS="-DEV_HAVE_X86=1"
            NATIVE_SRCS=("${KERNEL_SRCS[@]}" "csrc/rows_sse41.cpp:-msse4.1" "csrc/rows_avx2.cpp:-mavx2 -mfma -mf16c"
                         tests/cpp/test_rows.cpp)
            ;;
        aarch64|arm64)
            NATIVE_DEFS="-DEV_HAVE_NEON=1"
            NATIVE_ARGS=("${NEON_ARGS[@]}")
            NATIVE_SRCS=("${KERNEL_SRCS[@]}" csrc/rows_neon.cpp tests/cpp/test_rows.cpp)
            ;;
        *)
            NATIVE_DEFS=""
            NATIVE_SRCS=("${KERNEL_SRCS[@]}" tests/cpp/test_rows.cpp)
            ;;
    esac
    echo "== native ($HOST) build with $CXX =="
    if build native "$CXX" "$NATIVE_DEFS" "" "${NATIVE_SRCS[@]}"; then
        run_test "native $HOST" "$OUT/native/test.log" "$OUT/native/test_rows" "${NATIVE_ARGS[@]}"
    else
        SUMMARY+=("native $HOST: FAIL (build failed)")
        FAILED=1
    fi
    if [ $SANITIZE -eq 1 ]; then
        echo "== native ($HOST) build with ASan + UBSan =="
        SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
        if build native-asan "$CXX" "$NATIVE_DEFS $SAN" "" "${NATIVE_SRCS[@]}"; then
            run_test "native $HOST asan+ubsan" "$OUT/native-asan/test.log" "$OUT/native-asan/test_rows" "${NATIVE_ARGS[@]}"
        else
            SUMMARY+=("native $HOST asan+ubsan: FAIL (build failed)")
            FAILED=1
        fi
    fi
fi

# ---- (b) AArch64 NEON under qemu ----------------------------------------------
NEON_SKIP=""
if [ "$HOST" = aarch64 ] || [ "$HOST" = arm64 ]; then
    if [ $NATIVE -eq 1 ]; then
        NEON_SKIP="-"  # the native build above was the NEON one
    else
        NEON_SKIP="--no-native given on an AArch64 host (the native build is the NEON check)"
    fi
elif ! command -v "$AARCH64_CXX" >/dev/null 2>&1; then
    NEON_SKIP="cross compiler '$AARCH64_CXX' not found (Debian: apt-get install g++-aarch64-linux-gnu)"
elif ! command -v "$QEMU_AARCH64" >/dev/null 2>&1; then
    NEON_SKIP="'$QEMU_AARCH64' not found (Debian: apt-get install qemu-user)"
fi

if [ -z "$NEON_SKIP" ]; then
    echo "== aarch64 NEON build with $AARCH64_CXX, run under $QEMU_AARCH64 =="
    if build aarch64 "$AARCH64_CXX" "-DEV_HAVE_NEON=1" "-static" \
        "${KERNEL_SRCS[@]}" csrc/rows_neon.cpp tests/cpp/test_rows.cpp; then
        run_test "aarch64 NEON (qemu)" "$OUT/aarch64/test.log" "$QEMU_AARCH64" "$OUT/aarch64/test_rows" "${NEON_ARGS[@]}"
    else
        SUMMARY+=("aarch64 NEON (qemu): FAIL (build failed)")
        FAILED=1
    fi
elif [ "$NEON_SKIP" != "-" ]; then
    echo "== aarch64 NEON check NOT RUN: $NEON_SKIP =="
    if [ $REQUIRE_NEON -eq 1 ]; then
        SUMMARY+=("aarch64 NEON: NOT RUN, required by --require-neon ($NEON_SKIP)")
        FAILED=1
    else
        SUMMARY+=("aarch64 NEON: NOT RUN ($NEON_SKIP)")
    fi
fi

echo
echo "== summary =="
for line in "${SUMMARY[@]}"; do echo "  $line"; done
exit $FAILED
