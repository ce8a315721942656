#!/bin/sh
# tests/run.sh BUILD: every test of `make check`.
#
# 1. Check unit tests (build/tests/check_*); the MPI ones (check_engine, check_stage, check_gen,
#    check_lasso) at 1..4 ranks.
# 2. MPI integration: each built-in job on generated and hand-made inputs, at 1, 2, 3 and 4
#    ranks and several province counts, compared byte for byte with independent serial
#    references (bench/hashcount for wordcount, tests/ref_aggregate for aggregate, and coreutils
#    for a small case), then the error paths: missing/unreadable input, bad rows and their
#    file:line report, --strict, empty input, over-long keys and records, bad options.
#    The stage: resume after SIGKILL at several points (map start, after a checkpoint, shuffle)
#    and SIGTERM (exit 75, checkpoint), damaged and truncated stages, fingerprint mismatches,
#    --top reusing the staged map, and --mem-budget forcing spills, all against the references.
# 3. The power-marketing data set (gridmr gen --kind power): the same bytes on 1..4 ranks and
#    alone, checked by the independent tests/gen_verify (field counts, JSON, blobs, model, and
#    injected defects exactly as corrupt.csv lists them), the byte split, the defect count for
#    a rate, and the error paths.
# 4. The jsonl and blob readers through `gridmr events` and `gridmr blobs`: rows equal to the
#    independent tests/ref_ingest at 1..4 ranks, rejects exactly corrupt.csv's events and blob
#    rows (file:line, pack and offset), counts, --strict, --resume, hand-made edge cases.
# 5. The LASSO (gridmr lasso): generated correlated, uncentred, unscaled data fitted at 1..4
#    ranks (weights, kernel weights, no intercept, standardised; CSV and HDF5 input, which must
#    give the same model), each path certified by the
#    independent tests/ref_lasso (KKT and duality gap from the rows, an exact QR solve on the
#    active set matching the objective to 1e-12) and the same on every rank count; prediction,
#    gamma_locRMSE at operating points with the threshold test, the documented treatments
#    (constant column, n < p) and the error paths with their file:line reports.
# 9. Progress (plain lines, the bar on a pty, --quiet) and --profile's counts against wc(1) at
#    1..4 ranks, in the output and in the result's /profile group.
# 10. Slurm: tests/slurm.sh starts a private single-node cluster and submits the slurm/ scripts
#    (results equal to a 1-rank run; a job requeued in the middle of its map resumes and ends
#    with the same result). One SKIP line when Slurm cannot be installed.
# 11. make install into a temporary PREFIX; examples/peak.c built against it with pkg-config
#    (shared and static) and run.
# Prints "N passed, M failed" last; exits non-zero on any failure.
set -u
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
G="$BUILD/bin/gridmr"
HASHCOUNT="$BUILD/bench/hashcount"
REFAGG="$BUILD/tests/ref_aggregate"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 LC_ALL=C
# no network interfaces needed on one machine; keeps Open MPI quiet and fast
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none

T=$(mktemp -d "${TMPDIR:-/tmp}/gridmr-test.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
mpi() { np=$1; shift; timeout 120 mpirun -np "$np" "$@"; }

# ---- 2. inputs -------------------------------------------------------------------------------
D="$T/data"
mkdir -p "$D"
"$G" gen --kind text --size 3M --seed 7 --vocab 20000 --out "$D/zipf.txt" || bad "gen text"
"$G" gen --kind text --size 1M --seed 8 --out "$D/zipf2.txt" || bad "gen text 2"
"$G" gen --kind meter --size 2M --seed 9 --customers 500 --out "$D/meter.csv" || bad "gen meter"
"$G" gen --kind meter --size 300K --seed 10 --customers 50 --out "$D/meter2.csv" || bad "gen meter 2"
: > "$D/empty.txt"
printf 'a b\n' > "$D/tiny.txt"                              # smaller than the rank count
printf 'x\ty  z\r\nlast line without newline' > "$D/noeol.txt"
printf 'nul\000byte word\nsecond\000 line\n' > "$D/nul.txt"
# skewed: one word is 90% of the words; and a single huge (but allowed) key
awk 'BEGIN { for (i = 0; i < 20000; i++) { print "hot hot hot hot hot hot hot hot hot w" (i % 97) } }' > "$D/skew.txt"
awk 'BEGIN { s = ""; for (i = 0; i < 4000; i++) s = s "k"; for (i = 0; i < 50; i++) print s, "small" }' > "$D/hugekey.txt"
# many small files
for i in 1 2 3 4 5 6 7; do head -c $((i * 1000)) "$D/zipf2.txt" > "$D/part$i.txt"; done

wc_ref() { "$HASHCOUNT" "$@"; }
check_wc() { # label, gridmr options..., -- inputs...
check_wc() { # label, gridmr options..., -- inputs...
    label=$1; shift
    label=$1; shift
    opts=""
    opts=""
    while [ "$1" != "--" ]; do opts="$opts $1"; shift; done
    while [ "$1" != "--" ]; do opts="$opts $1"; shift; done
    shift
    shift
    wc_ref "$@" > "$T/ref.txt" || { bad "$label: reference"; return; }
    wc_ref "$@" > "$T/ref.txt" || { bad "$label: reference"; return; }
    for np in 1 2 3 4; do
    for np in 1 2 3 4; do
        for prov in "" "--provinces 1" "--provinces $np"; do
        for prov in "" "--provinces 1" "--provinces $np"; do
            rm -f "$T/out.h5"
            rm -f "$T/out.h5"
            # shellcheck disable=SC2086
            # shellcheck disable=SC2086
            if ! mpi "$np" "$G" wordcount --quiet $opts $prov --input "$@" --output "$T/out.h5" > "$T/log" 2>&1; then
            if ! mpi "$np" "$G" wordcount --quiet $opts $prov --input "$@" --output "$T/out.h5" > "$T/log" 2>&1; then
                bad "$label: np=$np $prov exit"; cat "$T/log"; continue
                bad "$label: np=$np $prov exit"; cat "$T/log"; continue
            fi
            fi
            if "$G" dump "$T/out.h5" > "$T/got.txt" && cmp -s "$T/got.txt" "$T/ref.txt"; then ok; else
            if "$G" dump "$T/out.h5" > "$T/got.txt" && cmp -s "$T/got.txt" "$T/ref.txt"; then ok; else
                bad "$label: np=$np $prov output differs from the reference"; diff "$T/got.txt" "$T/ref.txt" | head -5
                bad "$label: np=$np $prov output differs from the reference"; diff "$T/got.txt" "$T/ref.txt" | head -5
            fi
            fi
        done
        done
    done
    done
}
}
expect() { # label, wanted exit status, grep pattern for stderr (or ""), command...
    label=$1 want=$2 pat=$3; shift 3
    "$@" > "$T/out" 2> "$T/err"
    st=$?
    if [ "$st" -ne "$want" ]; then bad "$label: exit $st, expected $want"; cat "$T/err"; return; fi
    if [ -n "$pat" ] && ! grep -q -- "$pat" "$T/err"; then bad "$label: stderr lacks '$pat'"; cat "$T/err"; return; fi
    ok
}
# ---- 6. stage and --resume -------------------------------------------------------------------
S="$T/stage"
mkdir -p "$S"
"$HASHCOUNT" "$D/zipf.txt" > "$T/ref.txt"
same_as_ref() { "$G" dump "$1" > "$T/got.txt" && cmp -s "$T/got.txt" "$T/ref.txt"; }
expect "stage: first run writes it" 0 "" mpi 3 "$G" wordcount --split-size 64K --stage "$S" --input "$D/zipf.txt" --output "$T/st.h5"
if [ -s "$S/st.h5.stage" ] && same_as_ref "$T/st.h5"; then ok; else bad "stage: no stage file or wrong output"; fi
expect "stage: resume" 0 "" mpi 3 "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/st.h5"
if grep -q "map skipped" "$T/out" && grep -q "0 rejected" "$T/out" && same_as_ref "$T/st.h5" \
    && h5dump -a /records "$T/st.h5" | grep -q "(0): $(wc -l < "$D/zipf.txt")"; then ok; else bad "stage: resume did not reuse, or changed the result"; cat "$T/out"; fi
expect "stage: other rank count recomputes" 0 "other options, inputs or rank counts" mpi 2 "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/st.h5"
if ! grep -q resumed "$T/out" && same_as_ref "$T/st.h5"; then ok; else bad "stage: rank change"; fi
# damage the staged records where they hold the most frequent word: the run's checksum
# catches it and its splits are mapped again
w=$(head -n 1 "$T/ref.txt" | cut -f 1)
off=$(grep -obUa -- "$w" "$S/st.h5.stage" | head -n 1 | cut -d : -f 1)
if [ -n "$off" ]; then ok; else bad "stage: test setup: '$w' is not in the stage"; off=0; fi
printf 'XYZW' | dd of="$S/st.h5.stage" bs=1 seek="$off" conv=notrunc 2>/dev/null
expect "stage: damaged data is detected" 0 "fails its checksum" mpi 2 "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/st.h5"
if ! grep -q "map skipped" "$T/out" && same_as_ref "$T/st.h5"; then ok; else bad "stage: damaged stage was used"; fi
size=$(wc -c < "$S/st.h5.stage")
truncate -s $((size / 3)) "$S/st.h5.stage"
expect "stage: truncated file is detected" 0 "missing, truncated or not HDF5" mpi 2 "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/st.h5"
if ! grep -q resumed "$T/out" && same_as_ref "$T/st.h5"; then ok; else bad "stage: truncated stage was used"; fi
cp "$D/zipf2.txt" "$T/changing.txt"
mpi 2 "$G" wordcount --quiet --stage "$S" --input "$T/changing.txt" --output "$T/ch.h5" > /dev/null 2>&1
printf 'brandnewword\n' >> "$T/changing.txt"
"$HASHCOUNT" "$T/changing.txt" > "$T/ref.txt"
expect "stage: changed input recomputes" 0 "other options, inputs or rank counts" mpi 2 "$G" wordcount --stage "$S" --resume --input "$T/changing.txt" --output "$T/ch.h5"
if ! grep -q resumed "$T/out" && same_as_ref "$T/ch.h5"; then ok; else bad "stage: changed input reused a stale stage"; fi
# a rank killed (SIGKILL) during the shuffle: --resume skips the map and gives the same result
"$HASHCOUNT" "$D/zipf.txt" > "$T/ref.txt"
nsplits=$(mpi 1 "$G" wordcount --split-size 64K --input "$D/zipf.txt" --output "$T/n.h5" | awk '/splits$/ { print $(NF - 1) }')
for np in 2 4; do
    rm -f "$S/kill.h5.stage"
    GRIDMR_TEST_CRASH=shuffle mpi "$np" "$G" wordcount --split-size 64K --stage "$S" --input "$D/zipf.txt" --output "$T/kill.h5" > "$T/log" 2>&1
    st=$?
    if [ "$st" -ne 0 ] && [ -s "$S/kill.h5.stage" ]; then ok; else bad "kill during shuffle np=$np: exit $st"; cat "$T/log"; fi
    expect "kill during shuffle np=$np: resume" 0 "" mpi "$np" "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/kill.h5"
    if grep -q "resumed    $nsplits of $nsplits splits.*map skipped" "$T/out" && same_as_ref "$T/kill.h5"; then ok; else bad "kill during shuffle np=$np: resume did not skip the map or changed the result"; cat "$T/out"; fi
done
# killed during the map after a checkpoint (waves of 5 splits): --resume maps only the splits
# the checkpoints lack, and the result is the same
for np in 1 2 3 4; do
    rm -f "$S/killrun.h5.stage"
    GRIDMR_TEST_WAVE=5 GRIDMR_TEST_CRASH=map-run mpi "$np" "$G" wordcount --split-size 64K --stage "$S" --input "$D/zipf.txt" --output "$T/killrun.h5" > "$T/log" 2>&1
    expect "kill after a checkpoint np=$np: resume" 0 "" mpi "$np" "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/killrun.h5"
    reused=$(awk '/^  resumed/ { print $2 }' "$T/out")
    if [ -n "$reused" ] && [ "$reused" -ge 5 ] && [ "$reused" -lt "$nsplits" ] && same_as_ref "$T/killrun.h5"; then ok; else bad "kill after a checkpoint np=$np: expected 5..$((nsplits - 1)) splits reused, got '${reused}', or the result changed"; cat "$T/out"; fi
done
# killed during the map before any checkpoint: --resume recomputes everything, same result
rm -f "$S/killmap.h5.stage"
GRIDMR_TEST_CRASH=map mpi 3 "$G" wordcount --split-size 64K --stage "$S" --input "$D/zipf.txt" --output "$T/killmap.h5" > "$T/log" 2>&1
expect "kill during map: resume recomputes" 0 "" mpi 3 "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/killmap.h5"
if ! grep -q resumed "$T/out" && same_as_ref "$T/killmap.h5"; then ok; else bad "kill during map: resume"; cat "$T/out"; fi
# SIGTERM (Slurm's time limit): the ranks finish their split, checkpoint and exit 75; --resume
# then maps only what is left (during the map) or nothing (during the shuffle)
rm -f "$S/term.h5.stage"
# (the signal comes when the last rank has mapped its first split, long before the map ends)
expect "SIGTERM during map: exit 75" 75 "interrupted by a signal" env GRIDMR_TEST_CRASH=term-map-split timeout 120 mpirun -np 3 "$G" wordcount --split-size 64K --stage "$S" --input "$D/zipf.txt" --output "$T/term.h5"
expect "SIGTERM during map: resume" 0 "" mpi 3 "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/term.h5"
reused=$(awk '/^  resumed/ { print $2 }' "$T/out")
if [ -n "$reused" ] && [ "$reused" -ge 1 ] && [ "$reused" -lt "$nsplits" ] && same_as_ref "$T/term.h5"; then ok; else bad "SIGTERM during map: resume reused '${reused}' splits (expected 1..$((nsplits - 1)): the checkpoint on SIGTERM) or changed the result"; cat "$T/out"; fi
expect "SIGTERM during shuffle: exit 75" 75 "interrupted by a signal" env GRIDMR_TEST_CRASH=term-shuffle timeout 120 mpirun -np 3 "$G" wordcount --split-size 64K --stage "$S" --input "$D/zipf.txt" --output "$T/term.h5"
expect "SIGTERM: resume" 0 "" mpi 3 "$G" wordcount --split-size 64K --stage "$S" --resume --input "$D/zipf.txt" --output "$T/term.h5"
if grep -q "map skipped" "$T/out" && same_as_ref "$T/term.h5"; then ok; else bad "SIGTERM: resume did not skip the map or changed the result"; cat "$T/out"; fi
expect "stage: directory must exist" 1 "cannot create the file" mpi 2 "$G" wordcount --stage "$T/no/such" --input "$D/tiny.txt" --output "$T/e.h5"
# aggregate: the summary figures (records, rejected, first bad row) come back from the stage
mpi 2 "$G" aggregate --quiet --split-size 16 --key name --value v --input "$D/q1.csv" "$D/q2.csv" --output "$T/qs.h5" > /dev/null 2>&1
expect "stage: aggregate resume" 0 "" mpi 2 "$G" aggregate --split-size 16 --key name --value v --resume --input "$D/q1.csv" "$D/q2.csv" --output "$T/qs.h5"
"$G" dump "$T/qs.h5" > "$T/got.txt"
if grep -q resumed "$T/out" && grep -q "6 rejected" "$T/out" && grep -q "q1.csv:7: expected 3 fields" "$T/out" \
    && cmp -s "$T/got.txt" "$T/want.txt"; then ok; else bad "stage: aggregate resume"; cat "$T/out"; fi

# reduce-side options: --top keeps the first N rows in the job's order; a --resume with another
# N reuses the staged map output (the map is skipped)
"$HASHCOUNT" "$D/zipf.txt" > "$T/ref.txt"
for np in 1 2 3 4; do
    expect "top np=$np" 0 "" mpi "$np" "$G" wordcount --top 25 --stage "$S" --input "$D/zipf.txt" --output "$T/top.h5"
    if "$G" dump "$T/top.h5" > "$T/got.txt" && head -n 25 "$T/ref.txt" | cmp -s - "$T/got.txt"; then ok; else bad "top np=$np: not the first 25 rows of the reference"; fi
    expect "top np=$np: resume with another N" 0 "" mpi "$np" "$G" wordcount --top 3 --resume --stage "$S" --input "$D/zipf.txt" --output "$T/top.h5"
    if grep -q "map skipped" "$T/out" && "$G" dump "$T/top.h5" > "$T/got.txt" && head -n 3 "$T/ref.txt" | cmp -s - "$T/got.txt"; then ok; else bad "top np=$np: resume with another N"; cat "$T/out"; fi
done
"$REFAGG" customer_id kwh "$D/meter.csv" | head -n 40 > "$T/ref.txt"
expect "top: aggregate" 0 "" mpi 3 "$G" aggregate --top 40 --key customer_id --value kwh --input "$D/meter.csv" --output "$T/topa.h5"
if same_as_ref "$T/topa.h5" && h5dump -a /rows "$T/topa.h5" | grep -q "(0): 40"; then ok; else bad "top: aggregate"; fi
expect "top: not a number" 2 "not a positive number of rows" mpi 1 "$G" wordcount --top 0 --input "$D/tiny.txt" --output "$T/e.h5"

echo "$pass passed, $fail failed"
