#!/bin/sh
# tests/run.sh BUILD: every test of `make check`.
#
# - Check unit tests (build/tests/check_*); the MPI ones (check_engine, check_stage, check_gen,
#    check_lasso, check_segment, check_table, check_rsum) at 1..4 ranks.
# - MPI integration: each built-in job on generated and hand-made inputs, at 1, 2, 3 and 4
#    ranks and several province counts, compared byte for byte with independent serial
#    references (bench/hashcount for wordcount, tests/ref_aggregate for aggregate, and coreutils
#    for a small case), then the error paths: missing/unreadable input, bad rows and their
#    file:line report, --strict, empty input, over-long keys and records, bad options.
#    The stage: resume after SIGKILL at several points (map start, after a checkpoint, shuffle)
#    and SIGTERM (exit 75, checkpoint), damaged and truncated stages, fingerprint mismatches,
#    --top reusing the staged map, and --mem-budget forcing spills, all against the references.
# - The power-marketing data set (gridmr gen --kind power): the same bytes on 1..4 ranks and
#    alone, checked by the independent tests/gen_verify (field counts, JSON, blobs, model, and
#    injected defects exactly as corrupt.csv lists them), the byte split, the defect count for
#    a rate, and the error paths.
# - The jsonl and blob readers through `gridmr events` and `gridmr blobs`: rows equal to the
#    independent tests/ref_ingest at 1..4 ranks, rejects exactly corrupt.csv's events and blob
#    rows (file:line, pack and offset), counts, --strict, --resume, hand-made edge cases.
# - The LASSO (gridmr lasso): generated correlated, uncentred, unscaled data fitted at 1..4
#    ranks (weights, kernel weights, no intercept, standardised; CSV and HDF5 input, which must
#    give the same model), each path certified by the
#    independent tests/ref_lasso (KKT and duality gap from the rows, an exact QR solve on the
#    active set matching the objective to 1e-12) and the same bytes on every rank count (the
#    Gram method and FISTA: `gridmr dump` and h5dump -m %.17g of the model); prediction,
#    gamma_locRMSE at operating points with the threshold test, the documented treatments
#    (constant column, n < p) and the error paths with their file:line reports.
# - The incremental sync (gridmr sync): province stores loaded from generated
#    customers/bills split by province, synced on 1..4 ranks to byte-identical states, HQ's view
#    equal to the union of the CSVs (sort), 1% changes sending exactly comm(1)'s upserts and
#    deletes at <= 2% of a full copy's bytes, HQ's tariff edits flowing down, a flipped chunk
#    refused and re-sent, a duplicate chunk changing nothing, HQ killed mid-sync and resumed to
#    the same state, and bad CSV rows, headers, keys and stale stores refused.
# - Power flow and voltage stability (gridmr pf, cpf, vsm): case9 and case14 against MATPOWER's
#    solutions, MATPOWER's CPF test (t_case9_pfv2, with and without reactive limits), the batch
#    (features, margins, surrogate, database update) the same on 1..4 ranks, unvaried points equal
#    to gridmr cpf and gridmr pf, a failed point reported, bad case files and ill-posed cases.
# - Progress (plain lines, the bar on a pty, --quiet) and --profile's counts against wc(1) at
#    1..4 ranks, in the output and in the result's /profile group. (Numbered from 20 so that
#    the sections other branches add keep their numbers.)
# - Slurm: tests/slurm.sh starts a private single-node cluster and submits the slurm/ scripts
#    (results equal to a 1-rank run; a job requeued in the middle of its map resumes and ends
#    with the same result). One SKIP line when Slurm cannot be installed.
# - make install into a temporary PREFIX; examples/peak.c built against it with pkg-config
#    (shared and static) and run.
# - Customer segmentation (gridmr segment): k-means recovers the generator's classes exactly
#    (checked from SEG.h5 with awk), k chosen by the silhouette, the same file on 1..4 ranks; the
#    supervised classifier's cross-validated accuracy (fold-parallel or not: the same file); HDF5
#    input; empty cells, a class with no members and bad inputs with their file:line reports.
# - Load forecasting (gridmr forecast): a series that is an exact function of the calendar and
#    temperature recovered (least squares and the LASSO with lambda chosen on validation), three
#    noisy series giving the same report, CSV and FC.h5 bytes on 1..4 ranks (also with one
#    province, whose ranks then split every series) with every MAPE (per series, bottom-up
#    total) recomputed by awk from the forecasts, the supply table's layout day ahead, empty
#    loads, and the error paths (gap, repeated hour, missing temperatures, short series).
# - The data supply models (gridmr supply): every value of the summary, application and bill
#    tables against the independent tests/ref_supply, the same on 1..4 ranks, rejects exactly
#    corrupt.csv's, a duplicate at a split start, --strict, bad headers, usage errors; groups
#    with text columns read by segment (--id name) and lasso. --resume (section 11a): SIGTERM in
#    job 1 or 2 and SIGKILL after a checkpoint, then the same files as an uninterrupted run with
#    only the missing splits mapped; changed inputs between the runs redo what they feed.
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
# ob1: UCX, the default pml, probes network devices in every MPI_Init (about 0.2 s here)
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none

T=$(mktemp -d "${TMPDIR:-/tmp}/gridmr-test.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
mpi() { np=$1; shift; timeout 120 mpirun -np "$np" "$@"; }
# h5same A B [OBJECT]: the same h5dump of the files (or of OBJECT in each), floating-point
# values with 17 significant digits (plain h5dump prints too few to tell last bits apart), but
# for the first line (the file name), and not empty. Not h5diff: it exits 0 for datasets of
# other lengths ("not comparable").
h5same() {
    h5dump -m %.17g ${3:+-N "$3"} "$1" 2> /dev/null | tail -n +2 > "$T/h5a" && [ -s "$T/h5a" ] \
        && h5dump -m %.17g ${3:+-N "$3"} "$2" 2> /dev/null | tail -n +2 | cmp -s - "$T/h5a"
}

# ---- 1. unit tests ---------------------------------------------------------------------------
for t in "$BUILD"/tests/check_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    case "$name" in
    check_engine | check_stage | check_gen | check_lasso | check_segment | check_table | check_rsum)
        for np in 1 2 3 4; do
            if CK_FORK=no mpi "$np" "$t" > "$T/unit.log" 2>&1; then ok; else bad "$name on $np ranks"; cat "$T/unit.log"; fi
            tail -n 1 "$T/unit.log" | sed "s/^/$name np=$np: /"
        done ;;
    *)
        if "$t" > "$T/unit.log" 2>&1; then ok; else bad "$name"; cat "$T/unit.log"; fi
        tail -n 1 "$T/unit.log" | sed "s/^/$name: /" ;;
    esac
done

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

# ---- 3. wordcount against bench/hashcount and coreutils ------------------------------------------
wc_ref() { "$HASHCOUNT" "$@"; }
check_wc() { # label, gridmr options..., -- inputs...
    label=$1; shift
    opts=""
    while [ "$1" != "--" ]; do opts="$opts $1"; shift; done
    shift
    wc_ref "$@" > "$T/ref.txt" || { bad "$label: reference"; return; }
    for np in 1 2 3 4; do
        for prov in "" "--provinces 1" "--provinces $np"; do
            rm -f "$T/out.h5"
            # shellcheck disable=SC2086
            if ! mpi "$np" "$G" wordcount --quiet $opts $prov --input "$@" --output "$T/out.h5" > "$T/log" 2>&1; then
                bad "$label: np=$np $prov exit"; cat "$T/log"; continue
            fi
            if "$G" dump "$T/out.h5" > "$T/got.txt" && cmp -s "$T/got.txt" "$T/ref.txt"; then ok; else
                bad "$label: np=$np $prov output differs from the reference"; diff "$T/got.txt" "$T/ref.txt" | head -5
            fi
        done
    done
}
check_wc "zipf" --split-size 64K -- "$D/zipf.txt"
check_wc "zipf small rounds" --split-size 7K --shuffle-buffer 4K -- "$D/zipf2.txt"
check_wc "many files" --split-size 1K -- "$D"/part*.txt "$D/empty.txt" "$D/tiny.txt"
check_wc "skewed keys" --split-size 16K -- "$D/skew.txt"
check_wc "huge key" --split-size 50K -- "$D/hugekey.txt"
check_wc "tiny, no eol, nul bytes" -- "$D/tiny.txt" "$D/noeol.txt" "$D/nul.txt"

# coreutils cross-check of the reference itself on a small file
tr ' \t\r\v\f' '\n\n\n\n\n' < "$D/zipf2.txt" | grep -v '^$' | sort | uniq -c | awk '{ print $2 "\t" $1 }' \
    | sort -t "$(printf '\t')" -k2,2nr -k1,1 > "$T/core.txt"
"$HASHCOUNT" "$D/zipf2.txt" > "$T/hc.txt"
if cmp -s "$T/core.txt" "$T/hc.txt"; then ok; else bad "hashcount disagrees with coreutils"; fi

# ---- 4. aggregate against tests/ref_aggregate ------------------------------------------------
check_agg() { # label keys values options -- inputs
    label=$1 keys=$2 vals=$3; shift 3
    opts=""
    while [ "$1" != "--" ]; do opts="$opts $1"; shift; done
    shift
    "$REFAGG" "$keys" "$vals" "$@" > "$T/ref.txt" 2> "$T/ref.err" || { bad "$label: reference"; cat "$T/ref.err"; return; }
    for np in 1 2 3 4; do
        for prov in "" "--provinces $np"; do
            # shellcheck disable=SC2086
            if ! mpi "$np" "$G" aggregate --quiet $opts $prov --key "$keys" --value "$vals" --input "$@" \
                --output "$T/agg.h5" > "$T/log" 2>&1; then
                bad "$label: np=$np $prov exit"; cat "$T/log"; continue
            fi
            if "$G" dump "$T/agg.h5" > "$T/got.txt" && cmp -s "$T/got.txt" "$T/ref.txt"; then ok; else
                bad "$label: np=$np $prov output differs"; diff "$T/got.txt" "$T/ref.txt" | head -5
            fi
        done
    done
}
check_agg "meter by province" province kwh,voltage --split-size 32K -- "$D/meter.csv"
check_agg "meter composite key, 2 files" province,customer_id kwh --split-size 5K -- "$D/meter.csv" "$D/meter2.csv"

# hand-made CSV: quoting, CRLF, blank lines, reordered columns in a second file, bad rows
printf 'id,name,v\r\n1,"a, b",1.5\r\n2,"say ""hi""",2\r\n\r\n3,c,-0.25\r\n1,"a, b",0.5\r\n4,d\r\n5,e,abc\r\n6,"f"x,1\r\n7,g,inf\r\n8,h,1e300\r\n2,"say ""hi""",3' > "$D/q1.csv"
printf 'v,id,name\n10,1,"a, b"\n,2,x\n' > "$D/q2.csv"
"$REFAGG" name v "$D/q1.csv" "$D/q2.csv" > "$T/ref.txt" 2>/dev/null
printf 'a, b\t3\t12\t0.5\t10\nc\t1\t-0.25\t-0.25\t-0.25\nsay "hi"\t2\t5\t2\t3\n' > "$T/want.txt"
if cmp -s "$T/ref.txt" "$T/want.txt"; then ok; else bad "ref_aggregate on quoted CSV"; diff "$T/ref.txt" "$T/want.txt"; fi
for run in "1" "3" "1 --threads 3" "2 --threads 2"; do
    np=${run%% *}
    th=""; [ "$run" = "$np" ] || th=${run#* }
    # shellcheck disable=SC2086
    mpi "$np" "$G" aggregate --quiet --split-size 16 $th --key name --value v --input "$D/q1.csv" "$D/q2.csv" --output "$T/q.h5" > "$T/log" 2>&1
    st=$?
    "$G" dump "$T/q.h5" > "$T/got.txt" 2>/dev/null
    if [ $st -eq 0 ] && cmp -s "$T/got.txt" "$T/want.txt"; then ok; else bad "quoted CSV np=$np (exit $st)"; cat "$T/log"; diff "$T/got.txt" "$T/want.txt"; fi
    cat > "$T/want.rej" <<EOR
$D/q1.csv:7: expected 3 fields, found 2
$D/q1.csv:8: column v: 'abc' is not a finite number
$D/q1.csv:9: unexpected text after a closing quote
$D/q1.csv:10: column v: 'inf' is not a finite number
$D/q1.csv:11: column v: 1e+300 is out of the summable range (|x| < 2^80)
$D/q2.csv:3: column v: '' is not a finite number
EOR
    if cmp -s "$T/q.h5.rejects" "$T/want.rej"; then ok; else bad "rejects file np=$np"; diff "$T/q.h5.rejects" "$T/want.rej"; fi
    if h5dump -a /rejected "$T/q.h5" 2>/dev/null | grep -q '(0): 6'; then ok; else bad "rejected attribute np=$np"; fi
done

# ---- 5. error paths --------------------------------------------------------------------------
expect() { # label, wanted exit status, grep pattern for stderr (or ""), command...
    label=$1 want=$2 pat=$3; shift 3
    "$@" > "$T/out" 2> "$T/err"
    st=$?
    if [ "$st" -ne "$want" ]; then bad "$label: exit $st, expected $want"; cat "$T/err"; return; fi
    if [ -n "$pat" ] && ! grep -q -- "$pat" "$T/err"; then bad "$label: stderr lacks '$pat'"; cat "$T/err"; return; fi
    ok
}
expect "missing input" 1 "nope.txt: No such file or directory" mpi 3 "$G" wordcount --input "$D/tiny.txt" "$D/nope.txt" --output "$T/e.h5"
if [ "$(grep -c '^gridmr' "$T/err")" -eq 1 ]; then ok; else bad "missing input: not exactly one error line"; cat "$T/err"; fi
expect "directory input" 1 "not a regular file" mpi 2 "$G" wordcount --input "$D" --output "$T/e.h5"
chmod 000 "$D/tiny.txt"
if [ "$(id -u)" -ne 0 ]; then
    expect "unreadable input" 1 "Permission denied" mpi 2 "$G" wordcount --input "$D/tiny.txt" --output "$T/e.h5"
fi
chmod 644 "$D/tiny.txt"
expect "unwritable output" 1 "cannot create the file" mpi 2 "$G" wordcount --input "$D/tiny.txt" --output "$T/no/such/dir/o.h5"
expect "strict stops at the bad row" 65 "q1.csv:7: expected 3 fields" mpi 2 "$G" aggregate --strict --key name --value v --input "$D/q1.csv" --output "$T/s.h5"
expect "missing column" 65 "no column named 'kwh'" mpi 2 "$G" aggregate --key name --value kwh --input "$D/q1.csv" --output "$T/s.h5"
expect "empty input" 0 "" mpi 4 "$G" wordcount --input "$D/empty.txt" --output "$T/empty.h5"
if [ -z "$("$G" dump "$T/empty.h5")" ]; then ok; else bad "empty input gives rows"; fi
expect "over-long key" 0 "" mpi 2 "$G" wordcount --max-key 100 --input "$D/hugekey.txt" "$D/tiny.txt" --output "$T/k.h5"
if [ "$(wc -l < "$T/k.h5.rejects")" -eq 50 ] && head -n 1 "$T/k.h5.rejects" | grep -q "hugekey.txt:1: key of 4000 bytes is longer than --max-key 100" \
    && [ "$("$G" dump "$T/k.h5" | tr '\n' ' ')" = "small	50 a	1 b	1 " ]; then ok; else bad "over-long key rejects"; head -n 2 "$T/k.h5.rejects"; "$G" dump "$T/k.h5"; fi
expect "over-long record" 0 "" mpi 3 "$G" wordcount --max-record 1000 --split-size 3000 --input "$D/hugekey.txt" "$D/tiny.txt" --output "$T/r.h5"
if [ "$(wc -l < "$T/r.h5.rejects")" -eq 50 ] && sed -n 50p "$T/r.h5.rejects" | grep -q "hugekey.txt:50: record longer than --max-record 1000 bytes" \
    && [ "$("$G" dump "$T/r.h5" | tr '\n' ' ')" = "a	1 b	1 " ]; then ok; else bad "over-long record rejects"; tail -n 2 "$T/r.h5.rejects"; "$G" dump "$T/r.h5"; fi
expect "bad size option" 2 "not a size" mpi 2 "$G" wordcount --split-size 12Q --input "$D/tiny.txt" --output "$T/e.h5"
expect "too many provinces" 2 "more than the 2 ranks" mpi 2 "$G" wordcount --provinces 3 --input "$D/tiny.txt" --output "$T/e.h5"
expect "unknown option" 2 "unknown option" "$G" wordcount --frobnicate 1 --input "$D/tiny.txt" --output "$T/e.h5"
expect "dump of a non-result" 1 "cannot open" "$G" dump "$D/tiny.txt"
expect "dump --help" 0 "" "$G" dump --help
grep -q "^usage: gridmr dump OUT.h5" "$T/out" && ok || bad "dump --help: no usage on stdout"
expect "dump --top" 0 "" "$G" dump "$T/k.h5" --top 1
if [ "$(cat "$T/out")" = "small	50" ]; then ok; else bad "dump --top 1"; cat "$T/out"; fi
expect "result attributes" 0 "" h5dump -A "$T/k.h5"
for a in job options gridmr_version input_bytes records rejected ranks provinces time_map time_shuffle; do
    if grep -q "ATTRIBUTE \"$a\"" "$T/out"; then ok; else bad "attribute $a missing"; fi
done

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

# ---- 6a. --threads: mapping threads give the same bytes (with waves, spills and rejects too) --
"$HASHCOUNT" "$D/zipf.txt" "$D/skew.txt" "$D/hugekey.txt" > "$T/ref.txt"
for run in "1 2" "1 3" "2 2" "3 2" "4 3"; do
    set -- $run
    expect "threads np=$1 threads=$2" 0 "" mpi "$1" "$G" wordcount --threads "$2" --split-size 64K --input "$D/zipf.txt" "$D/skew.txt" "$D/hugekey.txt" --output "$T/th.h5"
    if same_as_ref "$T/th.h5"; then ok; else bad "threads np=$1 threads=$2: output differs"; fi
    expect "threads np=$1 threads=$2 mem-budget" 0 "" mpi "$1" "$G" wordcount --threads "$2" --mem-budget 256K --input "$D/zipf.txt" "$D/skew.txt" "$D/hugekey.txt" --output "$T/th.h5"
    if grep -q spilled "$T/out" && same_as_ref "$T/th.h5"; then ok; else bad "threads np=$1 threads=$2 mem-budget: output differs"; cat "$T/out"; fi
done
"$REFAGG" customer_id,province kwh,voltage "$D/meter.csv" > "$T/ref.txt"
expect "threads: aggregate" 0 "" mpi 2 "$G" aggregate --threads 3 --split-size 64K --key customer_id,province --value kwh,voltage --input "$D/meter.csv" --output "$T/tha.h5"
if same_as_ref "$T/tha.h5"; then ok; else bad "threads: aggregate output differs"; fi
expect "threads: strict stops with 65 at a bad row (whichever a thread meets first)" 65 "q[12].csv:[0-9]*: " mpi 2 "$G" aggregate --threads 2 --strict --split-size 16 --key name --value v --input "$D/q1.csv" "$D/q2.csv" --output "$T/e.h5"
expect "threads: bad count" 2 "not a number from 1 to 256" mpi 1 "$G" wordcount --threads 0 --input "$D/tiny.txt" --output "$T/e.h5"

# ---- 6b. --mem-budget: spilled sorted runs give the in-memory result ---------------------------
# 256K per rank is far below the tables of these inputs, so the map checkpoints often and the
# shuffle spills and merges; the output must not change, and no spill file may stay behind
"$HASHCOUNT" "$D/zipf.txt" "$D/skew.txt" "$D/hugekey.txt" > "$T/ref.txt"
for np in 1 2 3 4; do
    for prov in 1 2; do
        [ "$prov" -le "$np" ] || continue
        expect "mem-budget wordcount np=$np provinces=$prov" 0 "" mpi "$np" "$G" wordcount --mem-budget 256K --provinces "$prov" --stage "$S" --input "$D/zipf.txt" "$D/skew.txt" "$D/hugekey.txt" --output "$T/mb.h5"
        if grep -q "spilled" "$T/out" && same_as_ref "$T/mb.h5" && [ ! -e "$S/mb.h5.stage.spill" ]; then ok; else bad "mem-budget wordcount np=$np provinces=$prov: no spill, a different result or a spill file left"; cat "$T/out"; fi
    done
done
"$REFAGG" customer_id,province kwh,voltage "$D/meter.csv" > "$T/ref.txt"
for np in 2 3; do
    expect "mem-budget aggregate np=$np" 0 "" mpi "$np" "$G" aggregate --mem-budget 256K --key customer_id,province --value kwh,voltage --input "$D/meter.csv" --output "$T/mba.h5"
    if grep -q "spilled" "$T/out" && same_as_ref "$T/mba.h5"; then ok; else bad "mem-budget aggregate np=$np"; cat "$T/out"; fi
done
# a budget changes how, not what: a resume with another budget reuses the stage
"$HASHCOUNT" "$D/zipf.txt" > "$T/ref.txt"
mpi 2 "$G" wordcount --quiet --mem-budget 256K --split-size 16K --input "$D/zipf.txt" --output "$T/mbr.h5" > /dev/null 2>&1
expect "mem-budget: resume with another budget" 0 "" mpi 2 "$G" wordcount --mem-budget 1M --split-size 16K --resume --input "$D/zipf.txt" --output "$T/mbr.h5"
if grep -q "map skipped" "$T/out" && same_as_ref "$T/mbr.h5"; then ok; else bad "mem-budget: resume with another budget"; cat "$T/out"; fi
# ... but another split size changes the split numbers: the stage is not used
expect "split size: resume recomputes" 0 "other options, inputs or rank counts" mpi 2 "$G" wordcount --mem-budget 256K --resume --input "$D/zipf.txt" --output "$T/mbr.h5"
if ! grep -q "resumed" "$T/out" && same_as_ref "$T/mbr.h5"; then ok; else bad "split size: resume used another plan's runs"; cat "$T/out"; fi
expect "mem-budget: too small" 2 "at least 64K" mpi 1 "$G" wordcount --mem-budget 1K --input "$D/tiny.txt" --output "$T/e.h5"
expect "checkpoint: not a number" 2 "not a number of seconds" mpi 1 "$G" wordcount --checkpoint soon --input "$D/tiny.txt" --output "$T/e.h5"

# ---- 7. power-marketing data set (gridmr gen --kind power) --------------------------------
VERIFY="$BUILD/tests/gen_verify"
P="$T/power"
sums() { (cd "$1" && sha256sum -- * | sha256sum | cut -c1-64); }
for np in 1 2 3 4; do
    rm -rf "${P}$np"
    if mpi "$np" "$G" gen --out "${P}$np" --size 2M --provinces 4 --seed 11 --quiet > "$T/log" 2>&1; then ok; else bad "power gen np=$np"; cat "$T/log"; fi
done
want=$(sums "${P}1")
for np in 2 3 4; do
    if [ "$(sums "${P}$np")" = "$want" ]; then ok; else bad "power gen: np=$np differs from np=1"; (cd "${P}1" && sha256sum -- *) > "$T/a"; (cd "${P}$np" && sha256sum -- *) | diff "$T/a" - | head -5; fi
done
rm -rf "${P}0"  # alone, without mpirun (a singleton), and with one customer a block: same bytes
"$G" gen --kind power --out "${P}0" --size 2M --provinces 4 --seed 11 --block 1 --quiet > "$T/log" 2>&1 || { bad "power gen singleton"; cat "$T/log"; }
if [ "$(sums "${P}0")" = "$want" ]; then ok; else bad "power gen: singleton with --block 1 differs"; fi
# the bytes themselves, pinned: a different machine, compiler or platform must give these. A
# deliberate change of the model or a format updates this sum (and says so in docs/data.md).
rm -rf "${P}g"
"$G" gen --out "${P}g" --size 1M --provinces 3 --seed 1 --corrupt-rate 0.01 --quiet > "$T/log" 2>&1
if [ "$(sums "${P}g")" = a1abbe1b85619d20911d617364fbe38340ce9637a9f6e2d2ed982928d97631cc ]; then ok; else bad "power gen: the pinned data set changed (sha256 of the files: $(sums "${P}g"))"; fi
if "$VERIFY" "${P}1" > "$T/log" 2>&1 && grep -q "0 defects found and listed, model consistent" "$T/log"; then ok; else bad "gen_verify on the clean data set"; cat "$T/log"; fi
# field counts without gen_verify: the unquoted files by awk, the JSON lines by shape
for spec in labels.csv:2 readings.csv:3 bills.csv:8 weather.csv:3 manifest.csv:9 corrupt.csv:4; do
    f=${spec%%:*} n=${spec##*:}
    if awk -F, -v n="$n" 'NF != n { bad = 1 } END { exit bad }' "${P}1/$f"; then ok; else bad "power gen: $f has a line without $n fields"; fi
done
if [ "$(grep -cv '^{"event_id":".*}$' "${P}1/events.jsonl")" -eq 0 ] && [ "$(wc -l < "${P}1/corrupt.csv")" -eq 1 ]; then ok; else bad "power gen: events.jsonl shape or corrupt.csv not empty"; fi
# the byte split: structured (customers, readings, bills, weather) : events : blobs = 100 : 50 : 80, within 10%
ratio=$(cd "${P}1" && { stat -c %s customers.csv readings.csv bills.csv weather.csv | awk '{ s += $1 } END { print s }';
    stat -c %s events.jsonl; cat blobs-*.bin | wc -c; } | tr '\n' ' ')
if echo "$ratio" | awk '{ j = 100 * $2 / $1; u = 100 * $3 / $1; exit !(j > 45 && j < 55 && u > 72 && u < 88) }'; then ok; else bad "power gen: byte split structured:semi:unstructured = $ratio, not about 100:50:80"; fi
# defects at a rate: exactly what gen_verify finds, as many as the rate says (4 sigma), any rank count
records=$(cd "${P}1" && { cat customers.csv readings.csv bills.csv weather.csv | grep -vc '^customer_id,\|^province,';
    wc -l < events.jsonl; tail -n +2 manifest.csv | wc -l; } | awk '{ s += $1 } END { print s }')
for np in 1 3; do
    rm -rf "$P-bad$np"
    mpi "$np" "$G" gen --out "$P-bad$np" --size 2M --provinces 4 --seed 11 --corrupt-rate 0.02 --quiet > "$T/log" 2>&1 || { bad "power gen --corrupt-rate np=$np"; cat "$T/log"; }
done
if [ "$(sums "$P-bad1")" = "$(sums "$P-bad3")" ]; then ok; else bad "power gen --corrupt-rate: np=3 differs from np=1"; fi
if "$VERIFY" "$P-bad1" > "$T/log" 2>&1; then ok; else bad "gen_verify: injected defects differ from corrupt.csv"; cat "$T/log"; fi
defects=$(($(wc -l < "$P-bad1/corrupt.csv") - 1))
if awk -v d="$defects" -v n="$records" 'BEGIN { e = 0.02 * n; s = sqrt(n * 0.02 * 0.98); exit !(d > e - 4 * s && d < e + 4 * s) }'; then ok; else bad "power gen: $defects defects for rate 0.02 of $records records"; fi
# a rerun into the same directory replaces the data set, blob packs of the larger run included
mpi 2 "$G" gen --out "$P-re" --size 3M --pack-size 1M --quiet > /dev/null 2>&1
mpi 2 "$G" gen --out "$P-re" --size 1M --pack-size 1M --quiet > /dev/null 2>&1
if [ -f "$P-re/blobs-000.bin" ] && [ ! -e "$P-re/blobs-001.bin" ] && "$VERIFY" "$P-re" > /dev/null 2>&1; then ok; else bad "power gen: rerun left stale files"; ls "$P-re"; fi
# error paths: one clear line, non-zero exit, nothing left behind
expect "power gen: bad --size" 2 "invalid value '12Q' for --size" "$G" gen --out "$P-e" --size 12Q
expect "power gen: unknown option" 2 "unknown option '--frobnicate'" mpi 2 "$G" gen --out "$P-e" --size 1M --frobnicate 1
if [ "$(grep -c '^gridmr gen:' "$T/err")" -eq 1 ]; then ok; else bad "power gen: usage error printed more than once"; cat "$T/err"; fi
expect "power gen: missing --out" 2 "--out DIR and --size SIZE are required" "$G" gen --size 1M
expect "power gen: directory cannot be created" 1 "cannot create directory $D/tiny.txt/sub: Not a directory" mpi 3 "$G" gen --out "$D/tiny.txt/sub" --size 1M
if [ "$(grep -c '^gridmr gen:' "$T/err")" -eq 1 ]; then ok; else bad "power gen: I/O error printed more than once"; cat "$T/err"; fi
expect "power gen: bad --corrupt-rate" 2 "invalid value '1.5' for --corrupt-rate" "$G" gen --out "$P-e" --size 1M --corrupt-rate 1.5
if [ ! -e "$P-e" ]; then ok; else bad "power gen: a failed run left $P-e"; fi
rm -rf "$P"* 

# ---- 7b. readers: jsonl and blob, through `gridmr events` and `gridmr blobs` -----------------
# A generated data set with 10% damaged records: the rows must equal the independent
# tests/ref_ingest at 1..4 ranks (small splits, so duplicates also fall on split boundaries),
# and the rejects must be exactly the events and blob rows of corrupt.csv, by line or offset.
REFING="$BUILD/tests/ref_ingest"
I="$T/ingest"
rm -rf "$I"
"$G" gen --out "$I" --size 6M --mix 10:10:40 --provinces 3 --seed 23 --customers 50 --days 40 --corrupt-rate 0.1 --pack-size 1M --quiet > "$T/log" 2>&1 || { bad "ingest: gen"; cat "$T/log"; }
# a reject reason -> the kind corrupt.csv uses (the reference prints kinds directly)
kinds() { sed -E 's/^([^:]*:[0-9]+): (.*)$/\1 \2/' "$1" | awk '{ k = "other"
    if ($0 ~ / invalid JSON/) k = "truncated_json"; else if ($0 ~ / unknown event type/) k = "bad_enum"
    else if ($0 ~ / bad time/) k = "bad_timestamp"; else if ($0 ~ / duplicate event_id/) k = "duplicate_key"
    else if ($0 ~ / hash mismatch/) k = "hash_mismatch"; else if ($0 ~ / type mismatch/) k = "bad_magic"
    print $1 "," k }'; }
"$REFING" events type,province payment.amount_yuan "$T/ev.ref.rej" "$I/events.jsonl" > "$T/ev.ref" 2> "$T/log" || { bad "ingest: ref_ingest events"; cat "$T/log"; }
"$REFING" blobs "$T/bl.ref.rej" "$I/manifest.csv" > "$T/bl.ref" 2> "$T/log" || { bad "ingest: ref_ingest blobs"; cat "$T/log"; }
# corrupt.csv's events rows as FILE:LINE,KIND; its blob rows as PACK,OFFSET,KIND
grep '^events.jsonl,' "$I/corrupt.csv" | awk -F, -v d="$I" '{ print d "/" $1 ":" $2 "," $4 }' | sort > "$T/ev.want"
grep '^blobs-' "$I/corrupt.csv" | awk -F, '{ print $1 "," $3 "," $4 }' | sort > "$T/bl.want"
if [ -s "$T/ev.want" ] && [ "$(wc -l < "$T/bl.want")" -ge 2 ] && grep -q payment "$T/ev.ref" \
    && [ "$(sort "$T/ev.ref.rej")" = "$(cat "$T/ev.want")" ]; then ok; else bad "ingest: test data lacks defects or payments, or the reference disagrees with corrupt.csv"; fi
for np in 1 2 3 4; do
    prov=""; [ "$np" -eq 4 ] && prov="--provinces 2"
    # shellcheck disable=SC2086
    expect "events np=$np" 0 "" mpi "$np" "$G" events $prov --split-size 16K --input "$I/events.jsonl" --output "$T/ev.h5"
    "$G" dump "$T/ev.h5" > "$T/got.txt"
    if cmp -s "$T/got.txt" "$T/ev.ref"; then ok; else bad "events np=$np: rows differ from ref_ingest"; diff "$T/got.txt" "$T/ev.ref" | head -5; fi
    if [ "$(kinds "$T/ev.h5.rejects" | sort)" = "$(cat "$T/ev.want")" ]; then ok; else bad "events np=$np: rejects are not corrupt.csv's events rows"; kinds "$T/ev.h5.rejects" | sort | diff - "$T/ev.want" | head -5; fi
    # counted, and nothing valid lost: records = rejected + the rows' counts
    nrej=$(wc -l < "$T/ev.want"); nrec=$(grep -cv '^[[:space:]]*$' "$I/events.jsonl")
    if grep -q "$nrec records, $nrej rejected" "$T/out" && [ "$(awk -F '\t' '{ s += $2 } END { print s }' "$T/got.txt")" -eq $((nrec - nrej)) ] \
        && h5dump -a /rejected "$T/ev.h5" | grep -q "(0): $nrej"; then ok; else bad "events np=$np: counts ($nrec records, $nrej bad)"; grep input "$T/out"; fi
    # shellcheck disable=SC2086
    expect "blobs np=$np" 0 "" mpi "$np" "$G" blobs $prov --split-size 200 --input "$I/manifest.csv" --output "$T/bl.h5"
    "$G" dump "$T/bl.h5" > "$T/got.txt"
    if cmp -s "$T/got.txt" "$T/bl.ref"; then ok; else bad "blobs np=$np: rows differ from ref_ingest"; diff "$T/got.txt" "$T/bl.ref" | head -5; fi
    # the blob's pack and offset are in the reason: PACK,OFFSET,KIND as corrupt.csv has them
    sed -E 's/.*\(([^ ]*) at offset ([0-9]*), .*(hash|type) mismatch.*/\1,\2,\3/; s/,hash$/,hash_mismatch/; s/,type$/,bad_magic/' "$T/bl.h5.rejects" | sort > "$T/got.txt"
    if cmp -s "$T/got.txt" "$T/bl.want" && [ "$(kinds "$T/bl.h5.rejects" | sort)" = "$(sort "$T/bl.ref.rej")" ]; then ok; else bad "blobs np=$np: rejects are not corrupt.csv's blob rows"; diff "$T/got.txt" "$T/bl.want" | head -5; fi
done
first=$(sort -t: -k2,2n "$T/ev.want" | head -n 1 | cut -d, -f1)
expect "events --strict: exit 65 at the first bad record" 65 "${first#"$I"/}: " mpi 1 "$G" events --strict --input "$I/events.jsonl" --output "$T/evs.h5"
expect "events --strict on 3 ranks" 65 "events.jsonl:" mpi 3 "$G" events --strict --split-size 16K --input "$I/events.jsonl" --output "$T/evs.h5"
expect "blobs --strict" 65 "mismatch" mpi 2 "$G" blobs --strict --split-size 200 --input "$I/manifest.csv" --output "$T/bls.h5"
mpi 2 "$G" events --quiet --split-size 16K --input "$I/events.jsonl" --output "$T/ev.h5" > /dev/null 2>&1
expect "events: resume reuses the stage" 0 "" mpi 2 "$G" events --split-size 16K --resume --input "$I/events.jsonl" --output "$T/ev.h5"
if grep -q "map skipped" "$T/out" && "$G" dump "$T/ev.h5" | cmp -s - "$T/ev.ref" && [ "$(kinds "$T/ev.h5.rejects" | sort)" = "$(cat "$T/ev.want")" ]; then ok; else bad "events: resume"; cat "$T/out"; fi

# hand-made JSON lines: nesting, arrays, CRLF, blank lines, escapes, "\u0000", numbers and
# booleans as keys, and what the reader refuses (a non-object, a duplicate member, bad UTF-8)
J="$D/hand.jsonl"
{
    printf '{"a":{"b":[1,{"c":"x"}]},"k":"p","v":1.5}\r\n'
    printf '\n   \n'
    printf '{"k":"p","v":2,"a":{"b":[2]}}\n'
    printf '{"k":"q\\u00e9\\t","v":-0.25}\n'
    printf '{"k":7,"v":1e2}\n'
    printf '{"k":true,"v":null}\n'
    printf '{"k":"nul\\u0000x","v":3}\n'
    printf '[1,2]\n'
    printf '{"k":"p","k":"q","v":1}\n'
    printf '{"k":"bad \377 utf8","v":1}\n'
    printf '{"k":"p","v":"ten"}\n'
    printf '{"k":{"o":1},"v":1}\n'
    printf '{"k":"long","v":1,"pad":"%080d"}\n' 0
    printf '{"k":"p","v":4,"a":{"b":[3,{"c":"x"}]}}'
} > "$J"
"$REFING" events --no-checks k,a.b.1.c v,a.b.0 "$T/h.ref.rej" "$J" > "$T/h.ref" 2> "$T/log" || { bad "ingest: ref_ingest on hand-made JSON"; cat "$T/log"; }
for np in 1 3; do
    expect "events hand-made np=$np" 0 "" mpi "$np" "$G" events --no-checks --split-size 16 --key k,a.b.1.c --value v,a.b.0 --input "$J" --output "$T/h.h5"
    if "$G" dump "$T/h.h5" | cmp -s - "$T/h.ref" && [ "$(kinds "$T/h.h5.rejects")" = "$(cat "$T/h.ref.rej")" ] \
        && [ "$(wc -l < "$T/h.ref.rej")" -eq 5 ] && [ "$(wc -l < "$T/h.ref")" -eq 7 ]; then ok; else bad "events hand-made np=$np"; "$G" dump "$T/h.h5" | diff - "$T/h.ref"; cat "$T/h.h5.rejects"; fi
done
if grep -q "hand.jsonl:10: invalid JSON at column [0-9]*: duplicate object key" "$T/h.h5.rejects" \
    && grep -q "hand.jsonl:9: a JSON line must hold an object, this one holds an array" "$T/h.h5.rejects"; then ok; else bad "jsonl reasons"; cat "$T/h.h5.rejects"; fi
expect "events: over-long JSON line" 0 "" mpi 2 "$G" events --no-checks --max-record 64 --key k --value v --input "$J" --output "$T/h.h5"
if grep -q "hand.jsonl:14: record longer than --max-record 64 bytes" "$T/h.h5.rejects"; then ok; else bad "events: over-long line not rejected"; cat "$T/h.h5.rejects"; fi

# hand-made manifests: loose files (offset 0), an absolute path, optional columns, and bad rows
B="$D/loose"
mkdir -p "$B"
printf '\211PNG\r\n\032\nrest of a png' > "$B/a.png"
printf '%%PDF-1.4 body' > "$B/b.pdf"
printf 'ID3\003\000 tag' > "$B/c.mp3"
printf 'plain text' > "$B/d.txt"
printf 'file,length,offset\na.png,21,0\nb.pdf,13,0\n%s,9,0\nd.txt,10,0\nd.txt,20,0\nnope.bin,1,0\nb.pdf,x,0\nc.mp3,5,4\n' "$B/c.mp3" > "$B/m1.csv"
printf 'blob_id,file,offset,length,mime,xxh3\nX1,a.png,0,21,image/png,\nX2,b.pdf,0,13,image/png,\n' > "$B/m2.csv"
cat > "$T/want.txt" <<EOW
mp3	1	9
pdf	1	13
png	2	42
unknown	2	15
EOW
cat > "$T/want.rej" <<EOW
$B/m1.csv:6: blob (d.txt at offset 0, 20 bytes): truncated: the file ends after 10 of its bytes
$B/m1.csv:7: blob (nope.bin at offset 0, 1 bytes): cannot open $B/nope.bin: No such file or directory
$B/m1.csv:8: offset '0' or length 'x' is not a number
$B/m2.csv:3: blob X2 (b.pdf at offset 0, 13 bytes): type mismatch: the bytes are pdf, the manifest says image/png
EOW
for np in 1 2; do
    expect "blobs hand-made np=$np" 0 "" mpi "$np" "$G" blobs --split-size 16 --input "$B/m1.csv" "$B/m2.csv" --output "$T/hb.h5"
    if "$G" dump "$T/hb.h5" | cmp -s - "$T/want.txt" && cmp -s "$T/hb.h5.rejects" "$T/want.rej"; then ok; else bad "blobs hand-made np=$np"; "$G" dump "$T/hb.h5"; diff "$T/hb.h5.rejects" "$T/want.rej"; fi
done
printf 'name,size\nx,1\n' > "$B/m3.csv"
expect "blobs: manifest without the columns" 65 "needs the columns file, offset and length" mpi 2 "$G" blobs --input "$B/m3.csv" --output "$T/hb.h5"
expect "events: bad --key" 2 "needs 1 to" mpi 1 "$G" events --key "" --input "$J" --output "$T/h.h5"
rm -rf "$I"
# ---- 8. LASSO (gridmr lasso): certified by tests/ref_lasso, the same on 1..4 ranks ------------
REFL="$BUILD/tests/ref_lasso"
LB="$BUILD/bench/lasso_bench"
L="$T/lasso"
mkdir -p "$L"
# AR(1) correlation 0.8, columns neither centred nor scaled (means 1 pu to 1000, scales 0.01 to
# 100), 5 true non-zeros, Gaussian-kernel weights in column w
"$LB" --n 3000 --p 15 --k 5 --rho 0.8 --weighted 1 --seed 5 --csv "$L/d.csv" > "$T/log" 2>&1 || { bad "lasso: generating data"; cat "$T/log"; }
# every rank count gives the same model file, bit for bit (docs/lasso.md, "Reproducibility across
# rank counts"): the dump's 17-digit values and h5dump of the whole file (h5same, at the top)
for cfg in "--weights w" "--no-intercept" "--kernel x1,x2 --z0 1.002,50.3 --bandwidth 0.8 --standardize" \
    "--weights w --no-intercept --standardize"; do
    for np in 1 2 3 4; do
        # shellcheck disable=SC2086
        expect "lasso $cfg np=$np" 0 "" mpi "$np" "$G" lasso --quiet --input "$L/d.csv" --response y $cfg --nlambda 30 --output "$L/m$np.h5"
        "$G" dump "$L/m$np.h5" > "$L/d$np.txt" || bad "lasso $cfg np=$np: dump"
    done
    # shellcheck disable=SC2086
    if "$REFL" "$L/d.csv" y $cfg < "$L/d1.txt" > "$T/log" 2>&1 && grep -q "ok: 30 lambdas certified" "$T/log"; then ok; else bad "lasso $cfg: not certified by ref_lasso"; cat "$T/log"; fi
    for np in 2 3 4; do
        if cmp -s "$L/d1.txt" "$L/d$np.txt" && h5same "$L/m1.h5" "$L/m$np.h5"; then ok; else bad "lasso $cfg: np=$np differs from np=1"; diff "$L/d1.txt" "$L/d$np.txt" | head -n 4; fi
    done
done
# FISTA, whose every iteration reduces a p-vector over the rows: the same bits too
for np in 1 2 3 4; do
    expect "lasso FISTA np=$np" 0 "" mpi "$np" "$G" lasso --quiet --input "$L/d.csv" --response y --weights w --nlambda 8 --method fista --output "$L/fi$np.h5"
    [ "$np" = 1 ] || if h5same "$L/fi1.h5" "$L/fi$np.h5"; then ok; else bad "lasso FISTA: np=$np differs from np=1"; fi
done
# HDF5 input (one dataset per column, read by row blocks with collective transfers): the same
# model, bit for bit, as the same rows in CSV on the same rank count
"$LB" --n 3000 --p 15 --k 5 --rho 0.8 --weighted 1 --seed 5 --h5 "$L/d.h5" > "$T/log" 2>&1 || { bad "lasso: generating HDF5 data"; cat "$T/log"; }
for np in 1 3; do
    expect "lasso: HDF5 input np=$np" 0 "" mpi "$np" "$G" lasso --quiet --input "$L/d.h5" --response y --weights w --nlambda 30 --output "$L/h.h5"
    mpi "$np" "$G" lasso --quiet --input "$L/d.csv" --response y --weights w --nlambda 30 --output "$L/c.h5" > /dev/null 2>&1
    if "$G" dump "$L/h.h5" > "$L/h.txt" && "$G" dump "$L/c.h5" > "$L/c.txt" && cmp -s "$L/h.txt" "$L/c.txt"; then ok; else bad "lasso: HDF5 input np=$np differs from CSV"; fi
done
# weights all 1 reproduce the unweighted problem, bit for bit
awk -F, 'BEGIN { OFS = "," } { print $0, (NR == 1 ? "one" : 1) }' "$L/d.csv" > "$L/ones.csv"
mpi 2 "$G" lasso --quiet --input "$L/ones.csv" --response y --weights one --nlambda 20 --output "$L/o1.h5" > /dev/null 2>&1
mpi 2 "$G" lasso --quiet --input "$L/ones.csv" --response y --exclude one --nlambda 20 --output "$L/o0.h5" > /dev/null 2>&1
if "$G" dump "$L/o1.h5" > "$L/o1.txt" && "$G" dump "$L/o0.h5" > "$L/o0.txt" && [ -s "$L/o1.txt" ] && cmp -s "$L/o1.txt" "$L/o0.txt"; then ok; else bad "lasso: weights of 1 differ from no weights"; fi
"$LB" --n 3000 --p 15 --k 5 --seed 5 --spoil 2500 --h5 "$L/nan.h5" > /dev/null 2>&1
expect "lasso: NaN in HDF5" 65 "nan.h5: row 2501: column 'x3': nan is not a finite number" mpi 3 "$G" lasso --input "$L/nan.h5" --response y --output "$L/e.h5"
# the dump: 30 blocks in order lambda, objective, gap, intercept, beta...; lambda_max first, all zero
if [ "$(grep -c '^lambda ' "$L/d1.txt")" -eq 30 ] && [ "$(head -n 5 "$L/d1.txt" | cut -d' ' -f1 | tr '\n' ' ')" = "lambda objective gap intercept lambda " ] \
    && awk '$1 == "lambda" { if (NR > 1 && !($2 < prev)) exit 1; prev = $2 }' "$L/d1.txt" \
    && [ "$(grep -cv '^\(lambda\|objective\|gap\|intercept\|beta\) ' "$L/d1.txt")" -eq 0 ]; then ok; else bad "lasso: dump format"; head -n 8 "$L/d1.txt"; fi
expect "lasso: model attributes" 0 "" h5dump -A "$L/m1.h5"
for a in job options response weights intercept standardize tol lambda_max; do
    if grep -q "ATTRIBUTE \"$a\"" "$T/out"; then ok; else bad "lasso: model attribute $a missing"; fi
done
# one lambda, cold start
expect "lasso: one lambda" 0 "" mpi 2 "$G" lasso --input "$L/d.csv" --response y --weights w --lambda 700 --output "$L/one.h5"
if grep -q "converged  1 of 1" "$T/out" && "$G" dump "$L/one.h5" > "$L/one.txt" && [ "$(grep -c '^lambda ' "$L/one.txt")" -eq 1 ] \
    && "$REFL" "$L/d.csv" y --weights w < "$L/one.txt" > "$T/log" 2>&1; then ok; else bad "lasso: one lambda"; cat "$T/out" "$T/log"; fi
# prediction: intercept + x^T beta of the dump's last lambda, row by row, and the model's own R^2
expect "lasso: unweighted fit" 0 "" mpi 2 "$G" lasso --input "$L/d.csv" --response y --exclude w --nlambda 10 --output "$L/u.h5"
r2fit=$(awk '/^  last / { for (i = 1; i <= NF; i++) if ($i == "R^2") print $(i + 1) }' "$T/out" | tr -d ,)
expect "lasso: predict" 0 "" mpi 3 "$G" lasso --predict "$L/u.h5" --input "$L/d.csv" --output "$L/pred.csv"
r2pred=$(awk '$1 == "R^2" { print $2 }' "$T/out")
"$G" dump "$L/u.h5" | awk '$1 == "lambda" { delete b; b0 = 0 } $1 == "intercept" { b0 = $2 } $1 == "beta" { b[$2] = $3 }
    END { for (k in b) printf "%s %s\n", k, b[k]; printf "(intercept) %s\n", b0 }' > "$L/last.txt"
if [ "$(wc -l < "$L/pred.csv")" -eq 3001 ] && [ "$(head -n 1 "$L/pred.csv")" = prediction ] \
    && awk -F, 'FILENAME == ARGV[1] { split($0, f, " "); c[f[1]] = f[2]; next }
        FILENAME == ARGV[2] && FNR == 1 { for (i = 1; i <= NF; i++) col[i] = $i; next }
        FILENAME == ARGV[2] { s = c["(intercept)"]; for (i = 1; i <= NF; i++) if (col[i] in c) s += c[col[i]] * $i; want[FNR] = s; next }
        FNR > 1 { d = $1 - want[FNR]; if (d < 0) d = -d; if (d > 1e-9 * (want[FNR] < 0 ? -want[FNR] : want[FNR]) + 1e-9) { print "row " FNR ": " $1 " vs " want[FNR]; exit 1 } }' \
        "$L/last.txt" "$L/d.csv" "$L/pred.csv" \
    && awk -v a="$r2fit" -v b="$r2pred" 'BEGIN { d = a - b; exit !(a != "" && (d < 0 ? -d : d) < 1e-6) }'; then ok; else bad "lasso: predictions differ from intercept + x^T beta, or R^2 $r2pred from the fit's $r2fit"; fi
# gamma_locRMSE around operating points, and the threshold test, against sums over pred.csv here
expect "lasso: kernel fit" 0 "" mpi 2 "$G" lasso --quiet --input "$L/d.csv" --response y --kernel x1,x2 --z0 1.002,50.3 --bandwidth 0.8 --nlambda 10 --output "$L/k.h5"
printf 'x2,x1\n50.3,1.002\n50,0.99\n48,1.01\n' > "$L/points.csv"
mpi 2 "$G" lasso --quiet --predict "$L/k.h5" --input "$L/d.csv" --output "$L/kpred.csv" > /dev/null 2>&1
expect "lasso: gamma at points" 0 "" mpi 3 "$G" lasso --predict "$L/k.h5" --input "$L/d.csv" --points "$L/points.csv" --threshold 30
if awk -F, 'FILENAME == ARGV[1] { if (FNR > 1) yhat[FNR] = $1; next }
        FILENAME == ARGV[2] { if (FNR > 1) { r = $16 - yhat[FNR]; x1[FNR] = $1; x2[FNR] = $2; r2[FNR] = r * r; n = FNR } next }
        /^point / { split($0, f, " "); q = f[2]; z1 = q == 1 ? 1.002 : q == 2 ? 0.99 : 1.01; z2 = q == 1 ? 50.3 : q == 2 ? 50 : 48
            s = 0; for (i = 2; i <= n; i++) { d = (x1[i] - z1) ^ 2 + (x2[i] - z2) ^ 2; s += exp(-d / (2 * 0.8 ^ 2)) * r2[i] }
            g = sqrt(s); d = g - f[4]; if ((d < 0 ? -d : d) > 1e-9 * g) { print "point " q ": " f[4] " vs " g; exit 1 }
            if ((g > 30) != (f[7] == "update")) { print "point " q ": threshold verdict " f[7]; exit 1 } m++ }
        END { exit m != 3 }' "$L/kpred.csv" "$L/d.csv" "$T/out" && grep -q "operating points exceed gamma_locRMSE 30" "$T/out"; then ok; else bad "lasso: gamma_locRMSE at points"; cat "$T/out"; fi
# FISTA (chosen above --max-features): every lambda converged, objectives within 1e-8 of the
# Gram method's exact ones (and not below them)
expect "lasso: Gram, 15 lambdas" 0 "" mpi 2 "$G" lasso --quiet --input "$L/d.csv" --response y --weights w --nlambda 15 --output "$L/g.h5"
expect "lasso: FISTA above --max-features" 0 "" mpi 3 "$G" lasso --input "$L/d.csv" --response y --weights w --nlambda 15 --max-features 10 --output "$L/f.h5"
if grep -q "method FISTA" "$T/out" && grep -q "converged  15 of 15" "$T/out" && "$G" dump "$L/g.h5" > "$L/g.txt" && "$G" dump "$L/f.h5" > "$L/f.txt" \
    && [ "$(grep -c '^objective ' "$L/f.txt")" -eq 15 ] \
    && paste -d ' ' "$(grep '^objective ' "$L/g.txt" > "$L/go.txt"; echo "$L/go.txt")" "$(grep '^objective ' "$L/f.txt" > "$L/fo.txt"; echo "$L/fo.txt")" \
        | awk '{ g = $2; f = $4; if (!(f >= g * (1 - 1e-12) && f <= g * (1 + 1e-8))) { print "objective " f " vs the Gram method'"'"'s " g; exit 1 } }'; then ok; else bad "lasso: FISTA"; cat "$T/out"; fi
# documented treatments: a constant column gets 0 and a warning; fewer rows than features work
awk -F, 'BEGIN { OFS = "," } NR > 1 { $5 = "1.05" } { print }' "$L/d.csv" > "$L/const.csv"
expect "lasso: constant column" 0 "column 'x5' is constant" mpi 2 "$G" lasso --input "$L/const.csv" --response y --weights w --nlambda 10 --output "$L/c.h5"
if "$G" dump "$L/c.h5" > "$L/c.txt" && ! grep -q "^beta x5 " "$L/c.txt" && "$REFL" "$L/const.csv" y --weights w < "$L/c.txt" > "$T/log" 2>&1; then ok; else bad "lasso: constant column"; cat "$T/log"; fi
head -n 13 "$L/d.csv" > "$L/wide.csv"
expect "lasso: n < p" 0 "may not be" mpi 3 "$G" lasso --input "$L/wide.csv" --response y --weights w --nlambda 10 --output "$L/w.h5"
if "$G" dump "$L/w.h5" | "$REFL" "$L/wide.csv" y --weights w > "$T/log" 2>&1; then ok; else bad "lasso: n < p not certified"; cat "$T/log"; fi
# bad inputs: one line naming the file and line, exit 65 for data and 2 for usage
awk -F, 'BEGIN { OFS = "," } NR == 1500 { $3 = "nan" } { print }' "$L/d.csv" > "$L/nan.csv"
expect "lasso: NaN" 65 "nan.csv:1500: column 'x3': 'nan' is not a finite number" mpi 3 "$G" lasso --input "$L/nan.csv" --response y --output "$L/e.h5"
if [ "$(grep -c '^gridmr lasso:' "$T/err")" -eq 1 ] && [ ! -e "$L/e.h5" ]; then ok; else bad "lasso: NaN reported more than once or left a model"; cat "$T/err"; fi
awk -F, 'BEGIN { OFS = "," } NR == 2999 { $16 = "inf" } { print }' "$L/d.csv" > "$L/inf.csv"
expect "lasso: Inf in y" 65 "inf.csv:2999: column 'y'" mpi 4 "$G" lasso --input "$L/inf.csv" --response y --output "$L/e.h5"
awk -F, 'BEGIN { OFS = "," } NR == 1900 { $17 = "-0.5" } { print }' "$L/d.csv" > "$L/negw.csv"
expect "lasso: negative weight" 65 "negw.csv:1900: column 'w': weight -0.5 is negative" mpi 3 "$G" lasso --input "$L/negw.csv" --response y --weights w --output "$L/e.h5"
expect "lasso: missing response" 65 "d.csv:1: no column named 'yy'" mpi 2 "$G" lasso --input "$L/d.csv" --response yy --output "$L/e.h5"
expect "lasso: lambda < 0" 2 "is negative" mpi 2 "$G" lasso --input "$L/d.csv" --response y --lambda -1 --output "$L/e.h5"
expect "lasso: z0 length" 2 "--z0 has 1 values for 2 kernel columns" mpi 2 "$G" lasso --input "$L/d.csv" --response y --kernel x1,x2 --z0 1 --bandwidth 1 --output "$L/e.h5"
expect "lasso: weights and kernel" 2 "choose one" mpi 1 "$G" lasso --input "$L/d.csv" --response y --weights w --kernel x1 --z0 1 --bandwidth 1 --output "$L/e.h5"
expect "lasso: bad bandwidth" 2 "not a positive number" mpi 1 "$G" lasso --input "$L/d.csv" --response y --kernel x1 --z0 1 --bandwidth 0 --output "$L/e.h5"
expect "lasso: too many features for the Gram method" 2 "limit of 10" mpi 2 "$G" lasso --input "$L/d.csv" --response y --method gram --max-features 10 --output "$L/e.h5"
expect "lasso: bad method" 2 "is not auto, gram or fista" mpi 1 "$G" lasso --input "$L/d.csv" --response y --method newton --output "$L/e.h5"
expect "lasso: missing input" 1 "nope.csv: No such file or directory" mpi 2 "$G" lasso --input "$L/nope.csv" --response y --output "$L/e.h5"
expect "lasso: predict, missing feature" 65 "no column named 'x3' (a feature of the model)" mpi 2 "$G" lasso --predict "$L/u.h5" --input "$L/points.csv"
mpi 1 "$G" wordcount --quiet --input "$L/points.csv" --output "$L/wc.h5" > /dev/null 2>&1
expect "lasso: predict, not a model" 65 "not a lasso model" mpi 2 "$G" lasso --predict "$L/wc.h5" --input "$L/d.csv"

# ---- 9. customer segmentation (gridmr segment) ------------------------------------------------
# Features from `gridmr gen` readings (tests/segment_features.awk: the 24-hour normalised
# profile, log mean load, weekend ratio; one row per customer, 600 customers in 6 classes).
# k-means must recover the generator's classes exactly (checked here from SEG.h5 against
# labels.csv with awk: every cluster pure, one cluster per class), choose k = 6 by itself, and
# write the same file on 1..4 ranks; the supervised classifier (3-fold CV) must reach 0.95 and
# be the same on 1 and 3 ranks; then empty cells, a class with no members and bad inputs.
S="$T/segment"
mkdir -p "$S"
"$G" gen --out "$S/pw" --size 8M --customers 600 --days 7 --mix 100:0:0 --quiet > "$T/log" 2>&1 || { bad "segment: gen"; cat "$T/log"; }
awk -F, -f "$(dirname "$0")/segment_features.awk" "$S/pw/readings.csv" > "$S/f.csv"
h5col() { # FILE DATASET: the values of a 1-D dataset, one a line
    h5dump -d "$2" -y -w 1 -A 0 "$1" | awk '/DATA \{/ { on = 1; next } on && /^ *\}/ { on = 0 } on { gsub(/[ ",]/, ""); if ($0 != "") print }'
}
seg_pure() { # SEG.h5 labels.csv: every cluster holds one class, every class one cluster
    h5col "$1" id > "$S/ids.txt"
    h5col "$1" segment | paste -d, "$S/ids.txt" - | awk -F, 'NR == FNR { if (FNR > 1) cls[$1] = $2; next }
        { key = $2 SUBSEP cls[$1]; if (!(key in seen)) { seen[key] = 1; nc[$2]++; nk[cls[$1]]++ } n++ }
        END { for (c in nc) if (nc[c] != 1) bad = 1; for (k in nk) if (nk[k] != 1) bad = 1; exit bad || n != 600 }' "$2" -
}
for np in 1 2 3 4; do
    if mpi "$np" "$G" segment --input "$S/f.csv" --id customer_id --labels "$S/pw/labels.csv" --label-col class \
        --output "$S/k$np.h5" --no-plot > "$S/k$np.txt" 2> "$T/log" \
        && grep -q '^accuracy 1.000000$' "$S/k$np.txt" && grep -q '^  k          6, the best mean silhouette' "$S/k$np.txt" \
        && seg_pure "$S/k$np.h5" "$S/pw/labels.csv"; then ok; else bad "segment: k-means np=$np"; cat "$S/k$np.txt" "$T/log"; fi
    h5dump "$S/k$np.h5" | tail -n +2 > "$S/k$np.dump"
    if [ "$np" -gt 1 ]; then
        if cmp -s "$S/k1.dump" "$S/k$np.dump"; then ok; else bad "segment: k-means np=$np differs from np=1"; fi
    fi
done
for np in 1 3; do
    if mpi "$np" "$G" segment --input "$S/f.csv" --id 1 --labels "$S/pw/labels.csv" --label-col 2 --supervised --cv 3 \
        --nlambda 4 --output "$S/s$np.h5" --plot "$S/s$np.png" > "$S/s$np.txt" 2> "$T/log" \
        && awk '/^accuracy / { found = 1; exit !($2 >= 0.95) } END { if (!found) exit 1 }' "$S/s$np.txt"; then ok
    else bad "segment: supervised np=$np"; cat "$S/s$np.txt" "$T/log"; fi
    h5dump "$S/s$np.h5" | tail -n +2 > "$S/s$np.dump"
done
if cmp -s "$S/s1.dump" "$S/s3.dump"; then ok; else bad "segment: supervised np=3 differs from np=1"; fi
# every fold on every rank (no replicated fold-parallel CV): the same file
if mpi 2 "$G" segment --input "$S/f.csv" --id 1 --labels "$S/pw/labels.csv" --label-col 2 --supervised --cv 3 \
    --nlambda 4 --replicate-mb 0 --output "$S/s0.h5" --no-plot > "$S/s0.txt" 2> "$T/log" \
    && h5dump "$S/s0.h5" | tail -n +2 | cmp -s "$S/s1.dump" -; then ok; else bad "segment: --replicate-mb 0 differs"; cat "$S/s0.txt" "$T/log"; fi
if command -v gnuplot > /dev/null 2>&1; then
    if [ -s "$S/s1.png" ]; then ok; else bad "segment: no profile plot"; fi
fi
# empty cells (and NA) are imputed and counted: 1 cell in 10 rows of column h05, 1 NA
awk -F, 'BEGIN { OFS = "," } NR > 1 && NR % 10 == 0 { $7 = "" } NR == 5 { $9 = "NA" } { print }' "$S/f.csv" > "$S/gaps.csv"
want=$(awk -F, 'NR > 1 && ($7 == "" || $9 == "NA") { n++ } END { print n + 0 }' "$S/gaps.csv")
if mpi 2 "$G" segment --input "$S/gaps.csv" --id customer_id --labels "$S/pw/labels.csv" --label-col class --k 6 \
    --output "$S/g.h5" --no-plot > "$S/g.txt" 2> "$T/log" && grep -q "($want empty cells imputed" "$S/g.txt" \
    && grep -q '^accuracy 1.000000$' "$S/g.txt"; then ok; else bad "segment: empty cells ($want)"; cat "$S/g.txt" "$T/log"; fi
# a class with no members among the customers: a warning, an empty row, exit 0
{ cat "$S/pw/labels.csv"; echo "9999999999,ghost_town"; } > "$S/ghost.csv"
if mpi 3 "$G" segment --input "$S/f.csv" --id customer_id --labels "$S/ghost.csv" --label-col class --k 6 \
    --output "$S/gh.h5" --no-plot > "$S/gh.txt" 2> "$T/log" && grep -q "class 'ghost_town' of .* has no member" "$T/log" \
    && grep -q '^  ghost_town .* 0$' "$S/gh.txt" && grep -q '^accuracy 1.000000$' "$S/gh.txt"; then ok
else bad "segment: class with no members"; cat "$S/gh.txt" "$T/log"; fi
# HDF5 input (one 1-D dataset per column, made with h5import; ids are the row numbers, since
# h5import reads integers in 32 bits, and its values are rounded through single precision, so
# the cluster numbering may differ from the CSV run's): the ids and the exact recovery as in CSV
awk -F, 'BEGIN { OFS = "," } NR > 1 { $1 = NR - 1 } { print }' "$S/f.csv" > "$S/hc.csv"
awk -F, 'NR == FNR { if (FNR > 1) cls[$1] = $2; next } FNR == 1 { print "customer_id,class"; next } { print FNR - 1 "," cls[$1] }' "$S/pw/labels.csv" "$S/f.csv" > "$S/hl.csv"
h5args=""
for c in $(seq 1 27); do
    name=$(head -n 1 "$S/hc.csv" | cut -d, -f"$c")
    tail -n +2 "$S/hc.csv" | cut -d, -f"$c" > "$S/hcol$c.txt"
    if [ "$c" -eq 1 ]; then cls="TEXTIN"; out="IN"; else cls="TEXTFP"; out="FP"; fi
    printf 'PATH %s\nINPUT-CLASS %s\nRANK 1\nDIMENSION-SIZES 600\nOUTPUT-CLASS %s\nOUTPUT-SIZE 64\n' "$name" "$cls" "$out" > "$S/hcol$c.conf"
    h5args="$h5args $S/hcol$c.txt -c $S/hcol$c.conf"
done
rm -f "$S/hc.h5"
# shellcheck disable=SC2086
if h5import $h5args -o "$S/hc.h5" > "$T/log" 2>&1 \
    && mpi 3 "$G" segment --input "$S/hc.h5" --id customer_id --labels "$S/hl.csv" --label-col class --k 6 --output "$S/h5in.h5" --no-plot > "$S/h5in.txt" 2>> "$T/log" \
    && mpi 2 "$G" segment --input "$S/hc.csv" --id customer_id --labels "$S/hl.csv" --label-col class --k 6 --output "$S/csvin.h5" --no-plot > "$S/csvin.txt" 2>> "$T/log" \
    && h5same "$S/h5in.h5" "$S/csvin.h5" /id \
    && grep -q '^accuracy 1.000000$' "$S/h5in.txt" && grep -q '^accuracy 1.000000$' "$S/csvin.txt"; then ok; else bad "segment: HDF5 input"; cat "$S/h5in.txt" "$T/log"; fi
# bad inputs
awk -F, 'BEGIN { OFS = "," } NR == 377 { $6 = "abc" } { print }' "$S/f.csv" > "$S/nan.csv"
expect "segment: not a number" 65 "nan.csv:377: column 'h04': 'abc' is not a number" mpi 3 "$G" segment --input "$S/nan.csv" --id customer_id --k 3 --output "$S/e.h5"
awk 'NR == 200 { print $0 ",1"; next } { print }' "$S/f.csv" > "$S/fields.csv"
expect "segment: field count" 65 "fields.csv:200: expected 27 fields, found 28" mpi 2 "$G" segment --input "$S/fields.csv" --id customer_id --k 3 --output "$S/e.h5"
expect "segment: no id column" 65 "no column 'cust'" mpi 2 "$G" segment --input "$S/f.csv" --id cust --k 3 --output "$S/e.h5"
{ cat "$S/pw/labels.csv"; sed -n 2p "$S/pw/labels.csv" | sed 's/,.*/,ghost_town/'; } > "$S/dup.csv"
expect "segment: conflicting labels" 65 "dup.csv:602: id '.*' already has another label" mpi 2 "$G" segment --input "$S/f.csv" --id customer_id --labels "$S/dup.csv" --label-col class --k 3 --output "$S/e.h5"
expect "segment: no label column" 65 "labels.csv:1: no column 'kind'" mpi 2 "$G" segment --input "$S/f.csv" --id customer_id --labels "$S/pw/labels.csv" --label-col kind --k 3 --output "$S/e.h5"
printf 'customer_id,class\n1,a\n2,b\n' > "$S/other.csv"
expect "segment: no customer labelled" 65 "none of the customers" mpi 2 "$G" segment --input "$S/f.csv" --id customer_id --labels "$S/other.csv" --label-col class --k 3 --output "$S/e.h5"
expect "segment: supervised without labels" 2 "needs --labels" mpi 1 "$G" segment --input "$S/f.csv" --id customer_id --supervised --output "$S/e.h5"
expect "segment: bad k" 2 "--k 0: not a valid value" mpi 1 "$G" segment --input "$S/f.csv" --id customer_id --k 0 --output "$S/e.h5"
head -4 "$S/f.csv" > "$S/three.csv"
expect "segment: more clusters than customers" 2 "k = 5 clusters for 3 rows" mpi 2 "$G" segment --input "$S/three.csv" --id customer_id --k 5 --output "$S/e.h5"
expect "segment: missing input" 1 "nope.csv: No such file or directory" mpi 2 "$G" segment --input "$S/nope.csv" --id customer_id --output "$S/e.h5"
# ---- 10. load forecasting (gridmr forecast): exact recovery, 1..4 ranks, bottom-up, bad input --
# Series from tests/gen_series.awk (plain awk). With no noise the load is an exact function of
# the vanilla design's terms: least squares (--lambda 0) must recover it (MAPE 0 to 4 decimals,
# RMSE at the rounding of the printed loads), and the recency design, lambda chosen on the last
# year of training, must come within 0.05%. Noisy series: the same report on 1, 2, 3 and 4 ranks
# (lambda chosen on validation, 3 series over min(3, ranks) provinces), and every MAPE of the
# report (per series and the bottom-up total) recomputed by awk from the --csv forecasts.
F="$T/forecast"
GS="$(dirname "$0")/gen_series.awk"
mkdir -p "$F"
awk -v from=2010-12-20 -v days=757 -v noise=0 -f "$GS" > "$F/exact.csv"
awk -v series=3 -v from=2010-12-20 -v days=757 -v noise=1 -f "$GS" > "$F/noisy.csv"
FCT="--train 2011-01-01:2012-12-31 --test 2013-01-01:2013-01-14"
for np in 1 3; do
    # shellcheck disable=SC2086
    expect "forecast exact vanilla np=$np" 0 "" mpi "$np" "$G" forecast --input "$F/exact.csv" $FCT --design vanilla --lambda 0 --no-plot --output "$F/e.h5"
    if grep -q '^MAPE 0.0000$' "$T/out" && awk '$1 == "RMSE" { exit !($2 < 1e-5) }' "$T/out"; then ok; else bad "forecast exact vanilla np=$np: not recovered"; cat "$T/out"; fi
done
# shellcheck disable=SC2086
expect "forecast exact recency" 0 "" mpi 1 "$G" forecast --input "$F/exact.csv" $FCT --temp-lags 1 --temp-days 1 --nlambda 10 --no-plot --output "$F/r.h5"
if awk '$1 == "MAPE" { m = $2 } END { exit !(m != "" && m < 0.05) }' "$T/out"; then ok; else bad "forecast exact recency: MAPE not below 0.05%"; cat "$T/out"; fi
# gridmr dump names a file it does not print instead of an HDF5 message
expect "dump of a forecast file" 1 "is a 'forecast' file, not a MapReduce result" "$G" dump "$F/r.h5"
for np in 1 2 3 4; do
    # shellcheck disable=SC2086
    expect "forecast 3 series np=$np" 0 "" mpi "$np" "$G" forecast --input "$F/noisy.csv" --series zone $FCT --design vanilla --nlambda 10 --reconcile --csv "$F/fc$np.csv" --output "$F/n$np.h5"
    grep -v '^gridmr forecast:\|fit time\|^plot\|^output' "$T/out" > "$F/rep$np.txt"
    # the Figure 4 plot beside FC.h5, or a note that it was skipped when gnuplot is missing
    if command -v gnuplot > /dev/null; then
        if [ -s "$F/n$np.png" ] && grep -q "^plot $F/n$np.png" "$T/out"; then ok; else bad "forecast np=$np: no plot"; fi
    elif grep -q "^plot skipped (gnuplot not found)" "$T/out"; then ok; else bad "forecast np=$np: no note of the skipped plot"; fi
done
for np in 2 3 4; do
    if cmp -s "$F/rep1.txt" "$F/rep$np.txt"; then ok; else bad "forecast 3 series: np=$np report differs from np=1"; diff "$F/rep1.txt" "$F/rep$np.txt"; fi
done
# every forecast the same bits on 1..4 ranks (docs/lasso.md, "Reproducibility across rank
# counts"): the CSV and FC.h5 (h5dump but for its name line: it holds no timings); and with one
# province, so that each series' rows are split among 1..4 ranks
for np in 2 3 4; do
    if cmp -s "$F/fc1.csv" "$F/fc$np.csv" && h5same "$F/n1.h5" "$F/n$np.h5"; then ok
    else bad "forecast 3 series: np=$np forecasts differ from np=1"; cmp "$F/fc1.csv" "$F/fc$np.csv"; fi
done
for np in 1 2 3 4; do
    # shellcheck disable=SC2086
    expect "forecast 3 series, one province, np=$np" 0 "" mpi "$np" "$G" forecast --input "$F/noisy.csv" --series zone $FCT --design vanilla --nlambda 10 --provinces 1 --no-plot --csv "$F/fp$np.csv" --output "$F/p$np.h5"
    grep -v '^gridmr forecast:\|fit time\|^output' "$T/out" > "$F/prep$np.txt"
    [ "$np" = 1 ] || if cmp -s "$F/fp1.csv" "$F/fp$np.csv" && cmp -s "$F/prep1.txt" "$F/prep$np.txt" && h5same "$F/p1.h5" "$F/p$np.h5"; then ok
    else bad "forecast, one province: np=$np differs from np=1"; diff "$F/prep1.txt" "$F/prep$np.txt"; cmp "$F/fp1.csv" "$F/fp$np.csv"; fi
done
# the report's MAPEs from the CSV: per series, and of the hourly sums over the series (bottom-up)
awk -F, 'NR > 1 { k = $2 " " $3; A[k] += $4; P[k] += $5; n[$1]++; e[$1] += ($5 - $4) / $4 * (($5 - $4) / $4 < 0 ? -1 : 1) }
    END { for (s in n) printf "%s %.3f\n", s, 100 * e[s] / n[s]
          for (k in A) { t += (P[k] - A[k]) / A[k] * ((P[k] - A[k]) / A[k] < 0 ? -1 : 1); m++ }
          printf "total %.3f\n", 100 * t / m }' "$F/fc1.csv" | sort > "$F/ref_mape.txt"
awk '$1 == "series" { sub("%", "", $NF); for (i = 1; i <= NF; i++) if ($i == "MAPE" && $(i - 1) ~ /:$/) { v = $(i + 1); sub("%", "", v); print $2, v } }
     /^  total \(bottom-up/ { for (i = 1; i <= NF; i++) if ($i == "MAPE") { v = $(i + 1); sub("%", "", v); print "total", v; break } }' "$F/rep1.txt" | sort > "$F/got_mape.txt"
if [ "$(wc -l < "$F/got_mape.txt")" -eq 4 ] && cmp -s "$F/ref_mape.txt" "$F/got_mape.txt"; then ok; else bad "forecast: report MAPEs differ from the CSV's"; diff "$F/ref_mape.txt" "$F/got_mape.txt"; fi
# FC.h5 holds what the report says: the total's MAPE attribute, and 3 series x 336 forecasts
h5m=$(h5dump -a /total/mape "$F/n1.h5" 2>/dev/null | awk '/\(0\):/ { printf "%.4f", $2 }')
h5n=$(h5dump -H -d /series/2/forecast "$F/n1.h5" 2>/dev/null | grep -c 'SIMPLE { ( 336 )')
if [ "$h5m" = "$(awk '$1 == "MAPE" { print $2 }' "$F/rep1.txt")" ] && [ "$h5n" = 1 ]; then ok; else bad "forecast: FC.h5 MAPE '$h5m' or shape differs from the report"; fi
# without gnuplot on the PATH the command still succeeds and says the plot was skipped (a
# singleton: mpirun itself needs a PATH)
mkdir -p "$F/nognuplot"
ln -sf "$(command -v orted)" "$F/nognuplot/orted" 2>/dev/null
# shellcheck disable=SC2086
expect "forecast without gnuplot" 0 "" env PATH="$F/nognuplot" OMPI_MCA_plm_rsh_agent=/bin/false "$G" forecast --input "$F/exact.csv" $FCT --design vanilla --lambda 0 --output "$F/ng.h5"
if grep -q '^plot skipped (gnuplot not found)' "$T/out" && [ ! -e "$F/ng.png" ] && grep -q '^MAPE 0.0000$' "$T/out"; then ok; else bad "forecast without gnuplot: no note, or a plot"; cat "$T/out"; fi
# --reconcile: the reconciled total is bottom-up + w (direct - bottom-up), w the file's weight
h5vals() { h5dump -d "$1" -c 24 "$2" 2>/dev/null | awk '/DATA \{/ { on = 1; next } on && /\}/ { exit } on { gsub(/\([0-9]+\):/, ""); gsub(/,/, " "); for (i = 1; i <= NF; i++) print $i }'; }
h5w=$(h5dump -a /reconcile_weight "$F/n1.h5" 2>/dev/null | awk '/\(0\):/ { print $2 }')
h5vals /total/forecast "$F/n1.h5" > "$F/bu.txt"; h5vals /total_direct/forecast "$F/n1.h5" > "$F/di.txt"; h5vals /total_reconciled/forecast "$F/n1.h5" > "$F/rc.txt"
if [ -n "$h5w" ] && [ "$(wc -l < "$F/rc.txt")" -eq 24 ] && paste "$F/bu.txt" "$F/di.txt" "$F/rc.txt" | awk -v w="$h5w" '{ e = $1 + w * ($2 - $1) - $3; if (e < 0) e = -e; if (e > 1e-5 * $3) bad = 1 } END { exit bad }' \
    && grep -q '^  total (reconciled, WLS' "$F/rep1.txt" && grep -q '^reconciled MAPE ' "$F/rep1.txt"; then ok; else bad "forecast --reconcile: reconciled total is not bottom-up + w (direct - bottom-up)"; fi
# the layout of `gridmr supply`'s forecasting table, day ahead (loads lagged 24 h and more)
awk -v series=2 -v layout=supply -v from=2010-12-20 -v days=757 -v noise=1 -f "$GS" > "$F/supply.csv"
# shellcheck disable=SC2086
expect "forecast supply layout, day ahead" 0 "" mpi 3 "$G" forecast --input "$F/supply.csv" --series province --load-col load_kwh --temp-col temperature_c --holiday-col holiday $FCT --horizon 24 --design vanilla --nlambda 10 --no-plot --output "$F/s.h5"
if grep -q '^  total (bottom-up sum of 2 series)' "$T/out" && awk '$1 == "MAPE" { m = $2 } $1 == "naive" { nv = $3 } END { exit !(m < nv) }' "$T/out"; then ok; else bad "forecast supply layout: no total or not better than naive"; cat "$T/out"; fi
# empty load cells: skipped in training (counted), not scored
awk -F, 'BEGIN { OFS = "," } NR > 1 && NR % 997 == 0 { $3 = "" } 1' "$F/exact.csv" > "$F/holes.csv"
# shellcheck disable=SC2086
expect "forecast empty loads" 0 "" mpi 2 "$G" forecast --input "$F/holes.csv" $FCT --design vanilla --lambda 0 --no-plot --output "$F/h.h5"
if grep -q "18 empty load cells" "$T/out" && grep -q '^MAPE 0.0000$' "$T/out"; then ok; else bad "forecast empty loads: not counted or not recovered"; cat "$T/out"; fi
# bad input: file:line and exit 65; bad options: exit 2
head -n 1000 "$F/exact.csv" > "$F/short.csv"
sed '500d' "$F/short.csv" > "$F/gap.csv"
sed '500p' "$F/short.csv" > "$F/dup.csv"
awk -F, 'BEGIN { OFS = "," } NR >= 300 && NR < 310 { $4 = "" } 1' "$F/short.csv" > "$F/notemp.csv"
expect "forecast: gap" 65 "gap.csv:500: gap in the hours: 1 missing" mpi 2 "$G" forecast --input "$F/gap.csv" $FCT --output "$F/x.h5"
expect "forecast: repeated hour" 65 "dup.csv:501: 2011-01-09 hour 19 repeats line 500" mpi 2 "$G" forecast --input "$F/dup.csv" $FCT --output "$F/x.h5"
expect "forecast: missing temperatures" 65 "notemp.csv:300: temperature missing for 10 hour(s)" mpi 1 "$G" forecast --input "$F/notemp.csv" $FCT --output "$F/x.h5"
expect "forecast: short series" 65 "not the whole training period" mpi 3 "$G" forecast --input "$F/short.csv" $FCT --output "$F/x.h5"
expect "forecast: no load column" 65 ":1: no load column 'kwh'" mpi 2 "$G" forecast --input "$F/short.csv" $FCT --load-col kwh --output "$F/x.h5"
expect "forecast: bad --train" 2 "is not FROM:TO" mpi 1 "$G" forecast --input "$F/short.csv" --train 2011-01-01:2011-02-30 --test 2013-01-01:2013-01-14 --output "$F/x.h5"
expect "forecast: test before train" 2 "must start after the training period" mpi 1 "$G" forecast --input "$F/short.csv" --train 2011-01-01:2012-12-31 --test 2012-06-01:2013-01-14 --output "$F/x.h5"
expect "forecast: missing input" 1 "nope.csv: cannot open" mpi 2 "$G" forecast --input "$F/nope.csv" $FCT --output "$F/x.h5"
if [ "$(grep -c '^gridmr forecast' "$T/err")" -eq 1 ]; then ok; else bad "forecast: missing input: not exactly one error line"; cat "$T/err"; fi
# ---- 11. data supply models (gridmr supply) against tests/ref_supply ------------------------
# Two generated data sets (one with 1% damaged records; one across February and March 2026,
# Spring Festival included): every value of the summary wide table, both application tables
# and the bills equal the independent tests/ref_supply, app_forecast.csv is byte for byte the
# reference's, the file, the CSVs and the rejects are identical on 1..4 ranks with small
# splits, and the rejects are exactly corrupt.csv's records. Then a duplicate that starts a
# split (the look-back), --strict, wrong headers, usage errors, and table groups read by
# `gridmr lasso` and `gridmr segment` as FILE.h5:/group (text columns: ids, left out, errors).
REFSUP="$BUILD/tests/ref_supply"
S="$T/supply"
mkdir -p "$S"
"$G" gen --out "$S/bad" --size 2M --provinces 3 --seed 1 --corrupt-rate 0.01 --quiet || bad "supply: gen bad"
"$G" gen --out "$S/feb" --size 2M --provinces 2 --seed 12 --start 2026-02-10 --days 30 --customers 40 --quiet || bad "supply: gen feb"
for set in bad feb; do
    for np in 1 2 3 4; do
        prov=""; [ "$np" = 3 ] && prov="--provinces 3"
        mkdir -p "$S/$set.csv$np"
        # shellcheck disable=SC2086
        if mpi "$np" "$G" supply --quiet $prov --split-size 64K --input "$S/$set" --output "$S/$set$np.h5" --csv "$S/$set.csv$np" \
            > "$T/log" 2>&1; then ok; else bad "supply $set np=$np exit"; cat "$T/log"; continue; fi
        if [ "$np" = 1 ]; then
            if "$REFSUP" "$S/$set" "$S/${set}1.h5" "$S/$set.ref_forecast.csv" > "$T/ref.txt" 2>&1; then ok; else bad "supply $set: values differ from ref_supply"; head -25 "$T/ref.txt"; fi
            if cmp -s "$S/$set.ref_forecast.csv" "$S/$set.csv1/app_forecast.csv"; then ok; else bad "supply $set: app_forecast.csv differs from ref_supply's"; diff "$S/$set.ref_forecast.csv" "$S/$set.csv1/app_forecast.csv" | head -5; fi
            continue
        fi
        if h5same "$S/${set}1.h5" "$S/$set$np.h5"; then ok; else bad "supply $set: np=$np model file differs from np=1"; h5diff "$S/${set}1.h5" "$S/$set$np.h5" | head -5; fi
        for f in app_forecast.csv app_segment.csv; do
            if cmp -s "$S/$set.csv1/$f" "$S/$set.csv$np/$f"; then ok; else bad "supply $set: np=$np $f differs"; fi
        done
        if [ "$set" = bad ]; then
            if cmp -s "$S/bad1.h5.rejects" "$S/bad$np.h5.rejects"; then ok; else bad "supply: np=$np rejects differ"; fi
        fi
    done
done
# /app/segment is built by every rank (a sample sort of the customers, one Alltoallv, collective
# writes): the table and app_segment.csv equal the 1-rank ones at 2..4 ranks with 1 and 2
# provinces, the values equal tests/ref_supply's at 4 ranks, and a data set with fewer
# customers than ranks (ranks with no customer still write their empty part) works too
"$G" gen --out "$S/few" --size 300K --provinces 2 --seed 5 --days 3 --customers 3 --quiet || bad "supply: gen few"
mkdir -p "$S/few.csv1"
mpi 1 "$G" supply --quiet --split-size 64K --input "$S/few" --output "$S/few1.h5" --csv "$S/few.csv1" > "$T/log" 2>&1 || { bad "supply few np=1"; cat "$T/log"; }
for cfg in "feb 2 1" "feb 2 2" "feb 3 2" "feb 4 1" "feb 4 2" "few 3 1" "few 4 2"; do
    # shellcheck disable=SC2086
    set -- $cfg
    o="$S/seg.$1.$2.$3"
    mkdir -p "$o"
    if mpi "$2" "$G" supply --quiet --provinces "$3" --split-size 64K --input "$S/$1" --output "$o.h5" --csv "$o" > "$T/log" 2>&1; then ok
    else bad "supply segment $cfg exit"; cat "$T/log"; continue; fi
    if h5same "$S/${1}1.h5" "$o.h5" /app/segment && cmp -s "$S/$1.csv1/app_segment.csv" "$o/app_segment.csv"; then ok
    else bad "supply $1: /app/segment at np=$2 provinces=$3 differs from np=1"; h5diff "$S/${1}1.h5" "$o.h5" /app/segment /app/segment | head -5; fi
done
for set in feb few; do
    if "$REFSUP" "$S/$set" "$S/seg.$set.4.2.h5" > "$T/ref.txt" 2>&1; then ok; else bad "supply $set np=4: values differ from ref_supply"; head -5 "$T/ref.txt"; fi
done
if [ "$(wc -l < "$S/seg.few.4.2/app_segment.csv")" = 4 ] && [ ! -e "$S/seg.few.4.2.h5.profile.h5" ]; then ok; else bad "supply few: app_segment.csv is not 3 customers, or the profile job's result was left"; fi
# --mem-budget (spilled runs) gives the same models
mpi 2 "$G" supply --quiet --mem-budget 256K --split-size 64K --input "$S/bad" --output "$S/mb.h5" > "$T/log" 2>&1
if h5same "$S/bad1.h5" "$S/mb.h5"; then ok; else bad "supply --mem-budget 256K differs"; cat "$T/log"; fi
# --threads (each mapping thread with its own look-back) gives the same models and rejects
mpi 2 "$G" supply --quiet --threads 2 --split-size 64K --input "$S/bad" --output "$S/th.h5" > "$T/log" 2>&1
if h5same "$S/bad1.h5" "$S/th.h5" && cmp -s "$S/bad1.h5.rejects" "$S/th.h5.rejects"; then ok; else bad "supply --threads 2 differs"; cat "$T/log"; fi
# the rejects are exactly the damaged records of the files supply reads; none on clean data
awk -F, 'NR > 1 && $1 !~ /^blobs/ { print $1 ":" $2 }' "$S/bad/corrupt.csv" | sort > "$T/want.txt"
sed "s|^$S/bad/||" "$S/bad1.h5.rejects" | cut -d: -f1,2 | sort > "$T/got.txt"
if [ -s "$T/want.txt" ] && cmp -s "$T/want.txt" "$T/got.txt"; then ok; else bad "supply: rejects are not corrupt.csv's records"; diff "$T/want.txt" "$T/got.txt" | head -5; fi
if [ ! -e "$S/feb1.h5.rejects" ] && [ ! -e "$S/feb1.h5.structured.h5" ] && [ ! -e "$S/feb1.h5.structured.h5.stage" ]; then ok; else bad "supply: clean data left a rejects or temporary file"; ls "$S"; fi
if h5dump -d /dim/date/holiday "$S/feb1.h5" 2>/dev/null | grep -q '(0): 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,'; then ok; else bad "supply: Spring Festival 2026-02-15..23 not flagged"; fi
# feb's outages hit counties with customers, so the county join is compared with values
if [ "$(h5dump -y -w 0 -d /summary/customer_month/outage_minutes "$S/feb1.h5" 2>/dev/null | sed -n '/DATA {/,/}/p' | tr ',' '\n' | grep -c '^ *[1-9]')" -ge 5 ]; then ok; else bad "supply: feb has too few customer-months with outages to test the join"; fi
# the reference must notice a wrong file (a test that cannot fail is no test)
if "$REFSUP" "$S/feb" "$S/bad1.h5" > /dev/null 2>&1; then bad "ref_supply accepted another data set's models"; else ok; fi
# a duplicate reading that starts a split: found by reading the line before the split
mkdir -p "$S/dup"
for f in customers.csv bills.csv weather.csv; do cp "$S/feb/$f" "$S/dup/$f"; done
awk -v B=65535 '{ o += length($0) + 1; print; if (!done && o - 1 >= B) { split($0, f, ","); print f[1] "," f[2] ",9.999"; done = NR + 1 } }
    END { print done > "/dev/stderr" }' "$S/feb/readings.csv" > "$S/dup/readings.csv" 2> "$T/dupline"
# ... and a duplicate event (the same line again) that starts a split of events.jsonl
awk -v B=65535 '{ o += length($0) + 1; print; if (!done && o - 1 >= B) { print; done = NR + 1 } } END { print done > "/dev/stderr" }' \
    "$S/feb/events.jsonl" > "$S/dup/events.jsonl" 2> "$T/dupev"
for np in 1 2; do
    mpi "$np" "$G" supply --quiet --split-size 64K --input "$S/dup" --output "$S/dup.h5" > "$T/log" 2>&1
    id=$(sed -n "$(cat "$T/dupev")p" "$S/dup/events.jsonl" | sed 's/^{"event_id":"\([^"]*\)".*/\1/')
    want="$S/dup/readings.csv:$(cat "$T/dupline"): duplicate key (the record before has the same customer_id and timestamp)
$S/dup/events.jsonl:$(cat "$T/dupev"): duplicate event_id '$id' (the record before has it)"
    if [ "$(cat "$S/dup.h5.rejects" 2>/dev/null)" = "$want" ]; then ok; else bad "supply: duplicate at a split start np=$np"; cat "$S/dup.h5.rejects"; echo "want $want"; fi
    if "$REFSUP" "$S/dup" "$S/dup.h5" > "$T/ref.txt" 2>&1; then ok; else bad "supply dup np=$np: values differ"; head -5 "$T/ref.txt"; fi
done
# --strict stops at the first bad record with 65 and names it
mpi 2 "$G" supply --strict --input "$S/bad" --output "$S/strict.h5" > "$T/log" 2>&1
st=$?
if [ $st -eq 65 ] && grep -q '/bad/[a-z]*\.csv:[0-9]*: ' "$T/log" && [ ! -e "$S/strict.h5" ]; then ok; else bad "supply --strict: exit $st"; cat "$T/log"; fi
# a data set of headers only: empty tables, not an error; an empty file: its header is missing
mkdir -p "$S/empty"
for f in customers.csv readings.csv bills.csv weather.csv; do head -n 1 "$S/feb/$f" > "$S/empty/$f"; done
: > "$S/empty/events.jsonl"
if mpi 2 "$G" supply --quiet --input "$S/empty" --output "$S/empty.h5" --csv "$S/empty.csv" > "$T/log" 2>&1 \
    && "$REFSUP" "$S/empty" "$S/empty.h5" > /dev/null 2>&1 && [ "$(wc -l < "$S/empty.csv/app_forecast.csv")" = 1 ]; then ok; else bad "supply on headers only"; cat "$T/log"; fi
: > "$S/empty/bills.csv"
"$G" supply --input "$S/empty" --output "$S/empty.h5" > "$T/log" 2>&1
st=$?
if [ $st -eq 65 ] && grep -q 'bills.csv: empty file' "$T/log"; then ok; else bad "supply on an empty bills.csv: exit $st"; cat "$T/log"; fi
# a wrong header, a missing input, usage errors
mkdir -p "$S/hdr"
for f in readings.csv bills.csv weather.csv events.jsonl; do ln -sf "$S/feb/$f" "$S/hdr/$f"; done
sed '1s/capacity_kva/capacity/' "$S/feb/customers.csv" > "$S/hdr/customers.csv"
mpi 2 "$G" supply --input "$S/hdr" --output "$S/hdr.h5" > "$T/log" 2>&1
st=$?
if [ $st -eq 65 ] && grep -q 'customers.csv:1: header' "$T/log" && [ "$(grep -c header "$T/log")" = 1 ]; then ok; else bad "supply wrong header: exit $st"; cat "$T/log"; fi
"$G" supply --input "$S/nowhere" --output "$S/x.h5" > "$T/log" 2>&1
st=$?
if [ $st -eq 1 ] && grep -q 'nowhere/customers.csv' "$T/log"; then ok; else bad "supply missing input: exit $st"; cat "$T/log"; fi
for args in "--input $S/feb" "--output $S/x.h5" "--input $S/feb --output $S/x.h5 --bogus 1" "--input $S/feb --output $S/x.h5 --split-size 0"; do
    # shellcheck disable=SC2086
    "$G" supply $args > "$T/log" 2>&1
    st=$?
    if [ $st -eq 2 ]; then ok; else bad "supply usage '$args': exit $st"; cat "$T/log"; fi
done
# a table group is a table for the other apps
if mpi 2 "$G" lasso --quiet --input "$S/feb1.h5:/summary/customer_month" --response energy_kwh --exclude customer_id,month \
    --output "$S/lasso.h5" > "$T/log" 2>&1; then ok; else bad "lasso on FILE.h5:/summary/customer_month"; cat "$T/log"; fi
# groups with text columns (names): a text column is the id (segment), skipped when not asked
# for (lasso), and an error naming file, group and column when asked for as a number
if mpi 2 "$G" segment --quiet --k 2 --input "$S/feb1.h5:/dim/city" --id name --exclude province --output "$S/city.h5" > "$T/log" 2>&1 \
    && [ "$(h5dump -d /id "$S/city.h5" 2>/dev/null | grep -c '"Harbin"')" = 1 ]; then ok; else bad "segment --id name on a group with a text column"; cat "$T/log"; fi
# the ids are /dim/city's names in its row order, whatever the rank count
h5dump -y -w 0 -d /dim/city/name "$S/feb1.h5" 2>/dev/null | sed -n '/DATA {/,/}/p' | tr -d ' \n' > "$T/want.txt"
for np in 1 3; do
    mpi "$np" "$G" segment --quiet --k 2 --input "$S/feb1.h5:/dim/city" --id name --exclude province --output "$S/city$np.h5" > "$T/log" 2>&1
    if h5dump -y -w 0 -d /id "$S/city$np.h5" 2>/dev/null | sed -n '/DATA {/,/}/p' | tr -d ' \n' | cmp -s - "$T/want.txt" && [ -s "$T/want.txt" ]; then ok
    else bad "segment on /dim/city np=$np: the ids are not /dim/city/name"; cat "$T/log"; fi
done
if mpi 2 "$G" lasso --input "$S/feb1.h5:/dim/city" --response code --output "$S/lasso_c.h5" > "$T/log" 2>&1 \
    && grep -q "6 rows .* 1 features" "$T/log" && h5dump -d /features "$S/lasso_c.h5" 2>/dev/null | grep -q '(0): "province"'; then ok
else bad "lasso on /dim/city: the text column 'name' is not left out of the features"; cat "$T/log"; fi
mpi 2 "$G" lasso --quiet --input "$S/feb1.h5:/dim/province" --response name --output "$S/lasso_p.h5" > "$T/log" 2>&1
st=$?
if [ $st -eq 65 ] && grep -q "column 'name' (dataset /dim/province/name in $S/feb1.h5) is text, not a number" "$T/log" \
    && [ "$(grep -c 'is text' "$T/log")" = 1 ]; then ok; else bad "lasso --response on a text column: exit $st"; cat "$T/log"; fi
mpi 1 "$G" lasso --quiet --input "$S/feb1.h5:/app/nothing" --response x --output "$S/lasso.h5" > "$T/log" 2>&1
st=$?
if [ $st -eq 65 ] && grep -q 'no group /app/nothing' "$T/log"; then ok; else bad "lasso on a missing group: exit $st"; cat "$T/log"; fi

# ---- 11a. gridmr supply --resume: interrupted in job 1 or job 2, killed, changed inputs -------
# SIGTERM (the engine's test hook, limited to one job by GRIDMR_TEST_JOB; waves of 2 splits so
# there are checkpoints) stops supply with 75 and keeps the finished job's result and the
# unfinished job's stage; --resume then skips the finished job, maps only the splits the stage
# lacks (the summary's "resumed" line counts them) and writes the same model file (h5same) and
# CSVs (cmp) as the uninterrupted 1-rank run of section 11, and leaves no temporary file. A
# changed input between the runs must not reuse a stale job result or stage.
R="$S/resume"
mkdir -p "$R"
# same_supply NAME REF: NAME.h5 and NAME.csv/* equal REF.h5 and REF.csv/* (h5same, at the top),
# and no temporary file is left
same_supply() {
    h5same "$2.h5" "$1.h5" && cmp -s "$2.csv/app_forecast.csv" "$1.csv/app_forecast.csv" \
        && cmp -s "$2.csv/app_segment.csv" "$1.csv/app_segment.csv" && [ -z "$(ls "$1".h5.* 2> /dev/null)" ]
}
mkdir -p "$R/ref.csv"
cp "$S/feb1.h5" "$R/ref.h5" && cp "$S/feb.csv1/"*.csv "$R/ref.csv/"
ns=$(mpi 1 "$G" supply --split-size 64K --input "$S/feb" --output "$R/n.h5" | sed -n 's/.*provinces, \([0-9]*\) + \([0-9]*\) splits$/\1 \2/p')
n1=${ns% *} n2=${ns#* }
if [ -n "$n1" ] && [ "$n1" -ge 8 ] && [ "$n2" -ge 4 ]; then ok; else bad "supply resume: expected >= 8 + 4 splits at 64K, got '$ns'"; n1=8 n2=4; fi
# resumed J: "A B" = splits of job J reused, of all; from the summary line
resumed() { sed -n 's/^  resumed    structured \([0-9]*\) of \([0-9]*\) splits.*, events \([0-9]*\) of \([0-9]*\) splits.*/\1 \2 \3 \4/p' "$T/out"; }
for case in "2 supply.structured" "3 supply.events" "1 supply.events"; do
    np=${case% *} job=${case#* }
    name="$R/t$np"
    rm -rf "$name".h5* "$name.csv"
    expect "supply resume np=$np: SIGTERM in $job: exit 75" 75 "interrupted by a signal" env GRIDMR_TEST_JOB="$job" GRIDMR_TEST_WAVE=2 \
        GRIDMR_TEST_CRASH=term-map-split timeout 120 mpirun -np "$np" "$G" supply --split-size 64K --input "$S/feb" --output "$name.h5" --csv "$name.csv"
    if [ "$job" = supply.structured ]; then kept="$name.h5.structured.h5.stage"; else kept="$name.h5.structured.h5 $name.h5.events.h5.stage"; fi
    # shellcheck disable=SC2086
    if ls $kept > /dev/null 2>&1 && [ ! -e "$name.h5" ]; then ok; else bad "supply resume np=$np: after 75, expected $kept and no model file"; ls "$R"; fi
    expect "supply resume np=$np: --resume" 0 "" mpi "$np" "$G" supply --resume --split-size 64K --input "$S/feb" --output "$name.h5" --csv "$name.csv"
    # shellcheck disable=SC2046
    set -- $(resumed)
    if [ "$job" = supply.structured ]; then
        good=$([ "${1:-x}" -ge 1 ] 2> /dev/null && [ "$1" -lt "$n1" ] && [ "$3" = 0 ] && echo y)
    else
        good=$([ "${1:-x}" = "$n1" ] && grep -q "finished before: not run" "$T/out" && [ "$3" -ge 1 ] 2> /dev/null && [ "$3" -lt "$n2" ] && echo y)
    fi
    if [ "$good" = y ]; then ok; else bad "supply resume np=$np ($job interrupted): reused '$*' (structured, of, events, of)"; cat "$T/out"; fi
    if same_supply "$name" "$R/ref"; then ok; else bad "supply resume np=$np: not the uninterrupted run's models, or temporary files left"; ls "$R"; fi
done
# SIGKILL after a checkpoint of job 2 (a node failure): the same
rm -rf "$R/k.h5"* "$R/k.csv"
GRIDMR_TEST_JOB=supply.events GRIDMR_TEST_WAVE=2 GRIDMR_TEST_CRASH=map-run mpi 2 "$G" supply --split-size 64K --input "$S/feb" \
    --output "$R/k.h5" --csv "$R/k.csv" > "$T/log" 2>&1
st=$?
if [ "$st" -ne 0 ] && [ -e "$R/k.h5.structured.h5" ] && [ -e "$R/k.h5.events.h5.stage" ]; then ok; else bad "supply killed in job 2: exit $st, or its files are gone"; cat "$T/log"; fi
expect "supply resume after SIGKILL" 0 "" mpi 2 "$G" supply --resume --split-size 64K --input "$S/feb" --output "$R/k.h5" --csv "$R/k.csv"
# shellcheck disable=SC2046
set -- $(resumed)
if [ "${1:-x}" = "$n1" ] && [ "$3" -ge 1 ] 2> /dev/null && [ "$3" -lt "$n2" ] && same_supply "$R/k" "$R/ref"; then ok; else bad "supply resume after SIGKILL: reused '$*', or not the same models"; cat "$T/out"; fi
# a changed input between the runs: a new readings.csv reruns job 1 (its result is stale), a
# new events.jsonl reruns job 2's map (its stage is stale); the models are those of the changed
# data (a fresh run), not the old ones
mkdir -p "$R/chg"
cp "$S/feb/"* "$R/chg/"
rm -rf "$R/c.h5"* "$R/c.csv"
GRIDMR_TEST_JOB=supply.events GRIDMR_TEST_WAVE=2 GRIDMR_TEST_CRASH=term-map-split mpi 2 "$G" supply --split-size 64K --input "$R/chg" \
    --output "$R/c.h5" --csv "$R/c.csv" > "$T/log" 2>&1
sed -i '$d' "$R/chg/readings.csv"
expect "supply resume: changed readings.csv" 0 "" mpi 2 "$G" supply --resume --split-size 64K --input "$R/chg" --output "$R/c.h5" --csv "$R/c.csv"
# shellcheck disable=SC2046
set -- $(resumed)
mkdir -p "$R/f1.csv"
mpi 2 "$G" supply --quiet --split-size 64K --input "$R/chg" --output "$R/f1.h5" --csv "$R/f1.csv" > /dev/null 2>&1
if [ "${1:-x}" = 0 ] && ! grep -q "finished before" "$T/out" && same_supply "$R/c" "$R/f1" && ! h5same "$R/ref.h5" "$R/c.h5"; then ok
else bad "supply resume: a changed readings.csv reused the stale job 1 (reused '$*') or gave other models than a fresh run"; cat "$T/out"; fi
GRIDMR_TEST_JOB=supply.events GRIDMR_TEST_WAVE=2 GRIDMR_TEST_CRASH=term-map-split mpi 2 "$G" supply --split-size 64K --input "$R/chg" \
    --output "$R/c.h5" --csv "$R/c.csv" > "$T/log" 2>&1
sed -i '$d' "$R/chg/events.jsonl"
expect "supply resume: changed events.jsonl" 0 "other options, inputs or rank counts" mpi 2 "$G" supply --resume --split-size 64K --input "$R/chg" --output "$R/c.h5" --csv "$R/c.csv"
# shellcheck disable=SC2046
set -- $(resumed)
mkdir -p "$R/f2.csv"
mpi 2 "$G" supply --quiet --split-size 64K --input "$R/chg" --output "$R/f2.h5" --csv "$R/f2.csv" > /dev/null 2>&1
if [ "${1:-x}" = "$n1" ] && [ "$3" = 0 ] && same_supply "$R/c" "$R/f2" && ! h5same "$R/f1.h5" "$R/c.h5"; then ok
else bad "supply resume: a changed events.jsonl reused its stale stage (reused '$*') or gave other models than a fresh run"; cat "$T/out" "$T/err"; fi
# without --resume an interrupted run's leftovers are not used, and are gone after success
GRIDMR_TEST_JOB=supply.events GRIDMR_TEST_WAVE=2 GRIDMR_TEST_CRASH=term-map-split mpi 2 "$G" supply --split-size 64K --input "$S/feb" \
    --output "$R/c.h5" --csv "$R/c.csv" > "$T/log" 2>&1
expect "supply: no --resume after 75" 0 "" mpi 2 "$G" supply --split-size 64K --input "$S/feb" --output "$R/c.h5" --csv "$R/c.csv"
if ! grep -q "^  resumed" "$T/out" && same_supply "$R/c" "$R/ref"; then ok; else bad "supply without --resume after 75"; cat "$T/out"; fi
set --

# ---- 12. examples: built and run, output checked against the serial reference -------------
# examples/peak.c: readings and peak kWh per customer; the count column must equal aggregate's
if [ -x "$BUILD/examples/peak" ]; then
    "$REFAGG" customer_id kwh "$D/meter2.csv" 2>/dev/null | awk -F '\t' '{ printf "%s\t%s\t%s\n", $1, $2, $5 }' > "$T/ref.txt"
    for np in 1 3; do
        if mpi "$np" "$BUILD/examples/peak" "$T/ex.h5" "$D/meter2.csv" > "$T/log" 2>&1 && "$G" dump "$T/ex.h5" > "$T/got.txt" \
            && cmp -s "$T/got.txt" "$T/ref.txt"; then ok; else bad "example peak np=$np"; cat "$T/log"; diff "$T/got.txt" "$T/ref.txt" | head -5; fi
    done
else
    bad "examples/peak was not built"
fi

# ---- 13. incremental sync (gridmr sync): stores, chunks, resume, checksums, both ways ---------
# Province stores are loaded from the generator's customers.csv and bills.csv split by province
# (the first two digits of customer_id); HQ owns a tariff table (tests/data/sync_tariffs.csv).
# The merged view must equal the union of the CSV files (sort), every rank count must leave
# byte-identical stores, and the report's counts must match comm(1) on the snapshots.
S="$T/sync"
TOP=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$S/base"
mpi 2 "$G" gen --out "$S/d" --size 2M --customers 3000 --days 1 --provinces 4 --seed 7 --quiet
split_prov() { # FILE PREFIX: one CSV per province, header kept
    awk -F, -v out="$2" 'NR == 1 { h = $0; next } { p = substr($1, 1, 2); f = out "-" p ".csv"
        if (!(p in seen)) { seen[p] = 1; print h > f } print > f }' "$1"
}
split_prov "$S/d/customers.csv" "$S/c"
split_prov "$S/d/bills.csv" "$S/b"
provs=$(ls "$S"/c-*.csv | sed 's/.*c-\(..\)\.csv/\1/')
load_all() { # DIR SUFFIX: load every province's snapshots into DIR/pNN.db
    for p in $provs; do
        "$G" sync load --quiet --store "$1/p$p.db" --table customers --key customer_id "$S/c-$p.csv$2" &&
        "$G" sync load --quiet --store "$1/p$p.db" --table bills --key customer_id,month "$S/b-$p.csv$2" || return 1
    done
}
union() { # TABLE FILE-PREFIX SUFFIX: the reference view, sorted
    { head -n 1 "$S/d/$1.csv"; for p in $provs; do tail -n +2 "$2-$p.csv$3"; done; } | sort
}
same_view() { # LABEL HQ.db SUFFIX
    for t in customers:c bills:b; do
        "$G" sync dump "$2" --table "${t%%:*}" | sort > "$S/view.txt"
        union "${t%%:*}" "$S/${t##*:}" "$3" > "$S/ref.txt"
        if cmp -s "$S/view.txt" "$S/ref.txt"; then ok; else bad "sync $1: HQ's ${t%%:*} is not the union of the CSVs"; diff "$S/view.txt" "$S/ref.txt" | head -5; fi
    done
}
field() { # WORD N: the N-th number after "WORD " in the report
    awk -v w="$1" -v n="$2" '$1 == w { gsub(/[^0-9. ]/, " "); split($0, a, " "); print a[n] }' "$S/out"
}
dump_all() { # DIR HQ.db -> one text of every store's whole state
    "$G" sync dump "$2"; for p in $provs; do echo "== p$p"; "$G" sync dump "$1/p$p.db"; done
}
if load_all "$S/base" "" && "$G" sync load --quiet --store "$S/base-hq.db" --table tariffs --key tariff "$TOP/tests/data/sync_tariffs.csv"; then ok; else bad "sync: loading the stores"; fi
# initial full sync on 1..4 ranks (2 province groups on 4 ranks): the same state everywhere
for np in 1 2 3 4; do
    rm -rf "$S/r$np"; cp -r "$S/base" "$S/r$np"; cp "$S/base-hq.db" "$S/r$np.hq"
    case $np in 4) pg=2 ;; *) pg=$np ;; esac # province groups: every rank a leader, then two of four
    if mpi "$np" "$G" sync --provinces "$pg" --hq "$S/r$np.hq" --stores "$S/r$np" > "$S/out" 2>&1; then ok; else bad "sync np=$np"; cat "$S/out"; fi
    dump_all "$S/r$np" "$S/r$np.hq" > "$S/state$np.txt"
    [ "$np" -eq 1 ] || { cmp -s "$S/state1.txt" "$S/state$np.txt" && ok || bad "sync: state on $np ranks differs from 1 rank"; }
done
same_view "initial" "$S/r1.hq" ""
rows=$(cat "$S"/c-*.csv "$S"/b-*.csv | grep -vc '^customer_id')
[ "$(field up 2)" = "$rows" ] && ok || bad "sync initial: $(field up 2) upserts, expected $rows"
# HQ's tariffs reached every province
for p in $provs; do
    "$G" sync dump "$S/r3/p$p.db" --table tariffs | sort > "$S/view.txt"; sort "$TOP/tests/data/sync_tariffs.csv" > "$S/ref.txt"
    cmp -s "$S/view.txt" "$S/ref.txt" && ok || bad "sync: tariffs did not reach p$p"
done
# 1% of the rows changed, a few deleted: only they travel, at most 2% of a full copy's bytes
for p in $provs; do
    for f in c b; do
        awk -F, 'BEGIN { OFS = "," } NR > 1 && NR % 100 == 0 { $NF = $NF + 1 } NR > 1 && NR % 997 == 0 { next } { print }' "$S/$f-$p.csv" > "$S/$f-$p.csv.v2"
    done
done
ups=0; dels=0
for f in "$S"/c-*.csv "$S"/b-*.csv; do
    u=$(comm -13 "$f" "$f.v2" | wc -l); d=$(($(wc -l < "$f") - $(wc -l < "$f.v2")))
    ups=$((ups + u)); dels=$((dels + d))
done
for np in 1 3; do
    load_all "$S/r$np" ".v2" || bad "sync: loading the changes"
    if mpi "$np" "$G" sync --provinces "$np" --hq "$S/r$np.hq" --stores "$S/r$np" > "$S/out" 2>&1; then ok; else bad "sync changes np=$np"; cat "$S/out"; fi
    [ "$(field up 2)" = "$ups" ] && [ "$(field up 3)" = "$dels" ] && ok || bad "sync 1%: sent $(field up 2) upserts, $(field up 3) deletes; comm says $ups, $dels"
    awk '$1 == "up" { r = $NF; sub(/%/, "", r); exit !(r + 0 <= 2.0 && r + 0 > 0) }' "$S/out" && ok || { bad "sync 1%: bytes ratio above 2%"; cat "$S/out"; }
done
same_view "changes" "$S/r1.hq" ".v2"
dump_all "$S/r1" "$S/r1.hq" > "$S/state1.txt"; dump_all "$S/r3" "$S/r3.hq" > "$S/state3.txt"
cmp -s "$S/state1.txt" "$S/state3.txt" && ok || bad "sync changes: 1 and 3 ranks differ"
# nothing changed: nothing travels, nothing changes
mpi 2 "$G" sync --hq "$S/r1.hq" --stores "$S/r1" > "$S/out" 2>&1
dump_all "$S/r1" "$S/r1.hq" > "$S/again.txt"
[ "$(field up 1)" = "0" ] && [ "$(field up 4)" = "0" ] && cmp -s "$S/state1.txt" "$S/again.txt" && ok || { bad "sync: a rerun with no change sent or changed something"; cat "$S/out"; }
# HQ edits its tariff table (a price, a row gone): the change flows down to every province
awk -F, 'BEGIN { OFS = "," } $1 == "AGR" { $3 = "0.5100"; $4 = "0.5100"; $5 = "0.5100" } $1 == "EV-TOU" { next } { print }' "$TOP/tests/data/sync_tariffs.csv" > "$S/tariffs2.csv"
for r in 1 3; do "$G" sync load --quiet --store "$S/r$r.hq" --table tariffs --key tariff "$S/tariffs2.csv"; done
GRIDMR_TEST_SYNC_FLIP=1 mpi 2 "$G" sync --provinces 2 --hq "$S/r1.hq" --stores "$S/r1" > "$S/out" 2>&1 || { bad "sync down"; cat "$S/out"; }
mpi 3 "$G" sync --hq "$S/r3.hq" --stores "$S/r3" > "$S/out3" 2>&1 || { bad "sync down np=3"; cat "$S/out3"; }
n=$(echo $provs | wc -w)
[ "$(field down 2)" = "$n" ] && [ "$(field down 3)" = "$n" ] && ok || { bad "sync down: expected $n upserts and $n deletes"; cat "$S/out"; }
[ "$(field checks 1)" = "1" ] && ok || { bad "sync down: the flipped chunk was not refused once"; cat "$S/out"; }
sort "$S/tariffs2.csv" > "$S/ref.txt"
for p in $provs; do
    "$G" sync dump "$S/r1/p$p.db" --table tariffs | sort > "$S/view.txt"
    cmp -s "$S/view.txt" "$S/ref.txt" && ok || bad "sync down: p$p's tariffs are not HQ's"
done
dump_all "$S/r1" "$S/r1.hq" > "$S/state1.txt"; dump_all "$S/r3" "$S/r3.hq" > "$S/state3.txt"
cmp -s "$S/state1.txt" "$S/state3.txt" && ok || bad "sync down: a refused and re-sent chunk changed the result"
# HQ's customer reassignments, routed by their store column: each province gets its own rows; a
# customer moved to another province leaves the old one (a delete) and reaches the new one
awk -F, 'BEGIN { print "customer_id,store,reason" } NR > 1 && NR % 40 == 2 { print $1 ",p" substr($1, 1, 2) ",audit" }' "$S/d/customers.csv" > "$S/assign1.csv"
p2=$(echo $provs | cut -d' ' -f2)
awk -F, -v to="p$p2" 'BEGIN { OFS = "," } NR > 1 && n < 3 && $2 != to { $2 = to; $3 = "moved"; n++ } { print }' "$S/assign1.csv" > "$S/assign2.csv"
for a in 1 2; do
    for r in 1 3; do "$G" sync load --quiet --store "$S/r$r.hq" --table assign --key customer_id --route store "$S/assign$a.csv"; done
    mpi 3 "$G" sync --hq "$S/r3.hq" --stores "$S/r3" > "$S/out" 2>&1 || { bad "sync routed $a np=3"; cat "$S/out"; }
    mpi 2 "$G" sync --provinces 2 --hq "$S/r1.hq" --stores "$S/r1" > "$S/out" 2>&1 || { bad "sync routed $a"; cat "$S/out"; }
    for p in $provs; do
        "$G" sync dump "$S/r1/p$p.db" --table assign | sort > "$S/view.txt"
        awk -F, -v s="p$p" 'NR == 1 || $2 == s' "$S/assign$a.csv" | sort > "$S/ref.txt"
        cmp -s "$S/view.txt" "$S/ref.txt" && ok || { bad "sync routed $a: p$p's assign rows are not those routed to it"; diff "$S/view.txt" "$S/ref.txt" | head -5; }
    done
done
# each moved row goes to its new province as an upsert and to every other one as a delete
[ "$(field down 2)" = "3" ] && [ "$(field down 3)" = "$((3 * (n - 1)))" ] && ok || { bad "sync routed: expected 3 upserts and $((3 * (n - 1))) deletes"; cat "$S/out"; }
expect "sync load: route changed" 65 "has the route column 'store', not ''" "$G" sync load --store "$S/r1.hq" --table assign --key customer_id "$S/assign2.csv"
# upward: a chunk flipped in transit is refused and re-sent; a chunk sent twice changes nothing
for p in $provs; do awk -F, 'BEGIN { OFS = "," } NR > 1 && NR % 50 == 7 { $NF = $NF + 2 } { print }' "$S/c-$p.csv.v2" > "$S/c-$p.csv.v3"; cp "$S/b-$p.csv.v2" "$S/b-$p.csv.v3"; done
for r in 1 3; do load_all "$S/r$r" ".v3"; done
GRIDMR_TEST_SYNC_FLIP=1 GRIDMR_TEST_SYNC_DUP=2 mpi 1 "$G" sync --chunk 256 --hq "$S/r1.hq" --stores "$S/r1" > "$S/out" 2>&1 || { bad "sync flip/dup"; cat "$S/out"; }
[ "$(field checks 1)" = "1" ] && [ "$(field checks 2)" = "1" ] && ok || { bad "sync: expected 1 refused and 1 duplicate chunk"; cat "$S/out"; }
# interrupted: HQ killed after 3 chunks; the rerun resumes where HQ stopped and ends alike
cp "$S/r3.hq" "$S/r3.hq.before"; rm -rf "$S/r3.before"; cp -r "$S/r3" "$S/r3.before"
GRIDMR_TEST_SYNC_CRASH=3 mpi 3 "$G" sync --provinces 3 --chunk 256 --hq "$S/r3.hq" --stores "$S/r3" > "$S/out" 2>&1 && bad "sync: the crash hook did not stop the run"
mpi 3 "$G" sync --provinces 3 --chunk 256 --hq "$S/r3.hq" --stores "$S/r3" > "$S/out" 2>&1 || { bad "sync resume"; cat "$S/out"; }
[ "$(field checks 4)" -ge 1 ] && ok || { bad "sync resume: nothing was resumed"; cat "$S/out"; }
dump_all "$S/r1" "$S/r1.hq" > "$S/state1.txt"; dump_all "$S/r3" "$S/r3.hq" > "$S/state3.txt"
cmp -s "$S/state1.txt" "$S/state3.txt" && ok || { bad "sync: interrupted + resumed differs from uninterrupted"; diff "$S/state1.txt" "$S/state3.txt" | head -5; }
same_view "after resume" "$S/r3.hq" ".v3"
# sync status: the head of the dump, and HQ's count of each province's live customers is its CSV's
"$G" sync status "$S/r3.hq" > "$S/status.txt"
"$G" sync dump "$S/r3.hq" | head -n "$(wc -l < "$S/status.txt")" | cmp -s - "$S/status.txt" && ok || bad "sync status is not the head of the dump"
for p in $provs; do
    want=$(($(wc -l < "$S/c-$p.csv.v3") - 1))
    grep -q "^holds customers origin 'p$p' live $want deleted" "$S/status.txt" && ok || { bad "sync status: p$p should hold $want customers"; grep "holds customers" "$S/status.txt"; }
done
# interrupted downward: HQ killed after 2 acknowledged chunks of a tariff edit, then resumed
awk -F, 'BEGIN { OFS = "," } NR > 1 && $1 != "AGR" { $6 = $6 + 1 } { print }' "$S/tariffs2.csv" > "$S/tariffs3.csv"
for r in 1 3; do "$G" sync load --quiet --store "$S/r$r.hq" --table tariffs --key tariff "$S/tariffs3.csv"; done
mpi 2 "$G" sync --provinces 2 --chunk 64 --hq "$S/r1.hq" --stores "$S/r1" > "$S/out" 2>&1 || { bad "sync down edit"; cat "$S/out"; }
GRIDMR_TEST_SYNC_CRASH=2 mpi 3 "$G" sync --provinces 3 --chunk 64 --hq "$S/r3.hq" --stores "$S/r3" > "$S/out" 2>&1 && bad "sync: the crash hook did not stop the downward run"
mpi 3 "$G" sync --provinces 3 --chunk 64 --hq "$S/r3.hq" --stores "$S/r3" > "$S/out" 2>&1 || { bad "sync down resume"; cat "$S/out"; }
[ "$(field checks 4)" -ge 1 ] && ok || { bad "sync down resume: nothing was resumed"; cat "$S/out"; }
dump_all "$S/r1" "$S/r1.hq" > "$S/state1.txt"; dump_all "$S/r3" "$S/r3.hq" > "$S/state3.txt"
cmp -s "$S/state1.txt" "$S/state3.txt" && ok || { bad "sync: interrupted + resumed downward differs"; diff "$S/state1.txt" "$S/state3.txt" | head -5; }
# bad input: the store stays as it was; a stale store is refused
dump_all "$S/r1" "$S/r1.hq" > "$S/before.txt"
p1=$(echo $provs | cut -d' ' -f1)
awk -F, 'BEGIN { OFS = "," } NR == 42 { NF = NF - 1 } { print }' "$S/c-$p1.csv.v3" > "$S/bad1.csv"
expect "sync load: short row" 65 "bad1.csv:42: expected 11 fields as in the header, found 10" "$G" sync load --store "$S/r1/p$p1.db" --table customers --key customer_id "$S/bad1.csv"
awk 'NR == 30 { print; print } NR != 30 { print }' "$S/c-$p1.csv.v3" > "$S/bad2.csv"
expect "sync load: duplicate key" 65 "bad2.csv:31: duplicate key" "$G" sync load --store "$S/r1/p$p1.db" --table customers --key customer_id "$S/bad2.csv"
{ cat "$S/c-$p1.csv.v3"; printf '9999999999,"open quote,x\n'; } > "$S/bad3.csv"
expect "sync load: open quote" 65 "unterminated quoted field" "$G" sync load --store "$S/r1/p$p1.db" --table customers --key customer_id "$S/bad3.csv"
expect "sync load: no key column" 65 "no key column 'cust'" "$G" sync load --store "$S/r1/p$p1.db" --table customers --key cust "$S/c-$p1.csv.v3"
expect "sync load: other header" 65 "header differs" "$G" sync load --store "$S/r1/p$p1.db" --table customers --key customer_id "$S/b-$p1.csv.v3"
expect "sync load: HQ's table" 2 "comes from HQ" "$G" sync load --store "$S/r1/p$p1.db" --table tariffs --key tariff "$S/tariffs2.csv"
dump_all "$S/r1" "$S/r1.hq" > "$S/after.txt"
cmp -s "$S/before.txt" "$S/after.txt" && ok || bad "sync load: a refused file changed a store"
cp "$S/base/p$p1.db" "$S/r1/p$p1.db"; rm -f "$S/r1/p$p1.db-wal" "$S/r1/p$p1.db-shm"
"$G" sync load --quiet --store "$S/r1.hq" --table tariffs --key tariff "$S/tariffs2.csv"
expect "sync: store behind HQ" 65 "behind the" mpi 2 "$G" sync --hq "$S/r1.hq" --stores "$S/r1"
expect "sync: no stores dir" 1 "cannot open the stores directory" mpi 2 "$G" sync --hq "$S/x.hq" --stores "$S/nope"
expect "sync: usage" 2 "needs --hq" mpi 1 "$G" sync --stores "$S/r1"
# a store that is not one: at HQ (setup) and at a leader's province (rank 1): agreed, no hang
echo "not a database, just text" > "$S/junk.hq"
expect "sync: HQ not a store" 65 "not a gridmr sync store" mpi 2 "$G" sync --hq "$S/junk.hq" --stores "$S/r3"
mkdir -p "$S/mixed"; cp "$S/base/p$p1.db" "$S/mixed/a.db"; cp "$S/junk.hq" "$S/mixed/b.db"
expect "sync: province not a store" 65 "b.db: not a gridmr sync store" mpi 2 "$G" sync --provinces 2 --hq "$S/mixed.hq" --stores "$S/mixed"
[ "$(grep -c 'gridmr sync' "$T/err")" -eq 1 ] && ok || { bad "sync: a province's error not printed exactly once"; cat "$T/err"; }
# ---- 14. power flow, CPF and voltage-stability batches (gridmr pf, cpf, vsm) ------------------
# MATPOWER's own solutions and CPF noses as the independent references (tests/data/ieee), the
# batch's points the same bytes on 1..4 ranks, a batch of unvaried points equal to `gridmr cpf`
# and `gridmr pf` of the case, a failed point reported while the batch goes on, the error paths.
P="$T/pf"
I="$(cd "$(dirname "$0")" && pwd)/data/ieee"
mkdir -p "$P"
# h5v17 FILE DATASET: the values, one a line, with 17 significant digits
h5v17() { h5dump -m '%.17g' -y -w 0 -d "$2" "$1" | awk '/DATA \{/ { f = 1; next } f && /^ *\}/ { f = 0 } f' | tr ',' '\n' | tr -d ' ' | grep .; }
for c in case9 case14; do
    expect "pf $c" 0 "" "$G" pf --case "$I/$c.m"
    if tail -n +2 "$T/out" | paste -d ' ' - "$(tail -n +2 "$I/pf-$c.csv" | tr , ' ' > "$P/ref.txt"; echo "$P/ref.txt")" \
        | awk 'BEGIN { n = 0 } { n++; dv = $2 - $5; da = $3 - $6; if ($1 != $4 || (dv < 0 ? -dv : dv) > 1e-6 || (da < 0 ? -da : da) > 1e-4) { print "bus " $1 ": " $2 " " $3 " vs MATPOWER " $5 " " $6; exit 1 } }
            END { exit n == 0 }' && [ "$(head -n 1 "$T/out")" = "bus Vm_pu Va_deg" ]; then ok; else bad "pf $c differs from MATPOWER"; head "$T/out"; fi
done
# MATPOWER's t_cpf: t_case9_pfv2 with generator 1's Qmax = 200, loads and generation x 2.5, step 0.02
awk '/^mpc.gen/ { g = 1 } g && $1 == "1" && $4 == "300" { $4 = 200; g = 0 } { print }' "$I/t_case9_pfv2.m" > "$P/t9.m"
for spec in "-:0.99025" "--qlim:0.795809"; do
    q=${spec%%:*}; wl=${spec#*:}
    [ "$q" = - ] && q=""
    # shellcheck disable=SC2086
    expect "cpf t_case9_pfv2 $q" 0 "" "$G" cpf --case "$P/t9.m" --scale 2.5 --step 0.02 $q
    if awk -v w="$wl" '$1 == "lambda" { d = $2 - w; f = 1; exit !((d < 0 ? -d : d) <= 1e-3) } END { if (!f) exit 1 }' "$T/out" \
        && grep -q "^stop nose" "$T/out"; then ok; else bad "cpf t_case9_pfv2 $q: lambda not $wl"; cat "$T/out"; fi
done
# the batch: the same file and the same figures on 1..4 ranks; a point whose outage islands a bus
# fails with its reason and the batch goes on (seed 5, point 84)
for np in 1 2 3 4; do
    expect "vsm np=$np" 0 "point 84 failed: power flow: the network is split into islands" mpi "$np" "$G" vsm --case "$I/case14.m" \
        --points 200 --seed 5 --outage-rate 0.3 --update 2 --local 3 --output "$P/v$np.h5"
    grep -v '^  time \|^  cpu \|^  output \|^gridmr vsm: ' "$T/out" > "$P/s$np.txt"
    h5dump -m '%.17g' "$P/v$np.h5" | tail -n +2 > "$P/d$np.txt"
done
if grep -q "200 points (1 failed)" "$T/out" && grep -q "^  update 1 " "$P/s1.txt" && grep -q "^  held-out " "$P/s1.txt"; then ok; else bad "vsm: summary"; cat "$T/out"; fi
for np in 2 3 4; do
    if cmp -s "$P/d1.txt" "$P/d$np.txt" && cmp -s "$P/s1.txt" "$P/s$np.txt"; then ok; else bad "vsm: np=$np differs from np=1"; diff "$P/s1.txt" "$P/s$np.txt" | head; fi
done
# gridmr dump of the batch: a header and one line per point, the failed one with its reason
expect "vsm: dump" 0 "" "$G" dump "$P/v1.h5"
if [ "$(wc -l < "$T/out")" -eq $(($(h5v17 "$P/v1.h5" index | wc -l) + 1)) ] && head -n 1 "$T/out" | grep -q "^index	set	status	margin_mw" \
    && awk -F '\t' '$1 == 84 && $3 == 1 && $8 ~ /islands/ { f = 1 } END { exit !f }' "$T/out"; then ok; else bad "vsm: dump"; head -3 "$T/out"; fi
# with reactive limits (power flow and CPF), on another case: the same bytes on 1 and 3 ranks
for np in 1 3; do
    expect "vsm --qlim np=$np" 0 "" mpi "$np" "$G" vsm --case "$I/case9.m" --points 40 --seed 2 --qlim --no-surrogate --output "$P/q$np.h5"
    h5dump -m '%.17g' "$P/q$np.h5" | tail -n +2 > "$P/q$np.txt"
done
if cmp -s "$P/q1.txt" "$P/q3.txt" && grep -q "reactive limits on" "$T/out"; then ok; else bad "vsm --qlim: np=3 differs from np=1"; fi
# every point: margin_mw = lambda x (scale - 1) x load_mw; a failed point has NaN and a message
for d in margin_mw lambda load_mw status; do h5v17 "$P/v1.h5" $d > "$P/$d.txt"; done
if paste -d ' ' "$P/margin_mw.txt" "$P/lambda.txt" "$P/load_mw.txt" "$P/status.txt" | awk '{ if ($4 == 0) { d = $1 - $2 * $3; if ((d < 0 ? -d : d) > 1e-9 * $3) { print NR ": " $0; exit 1 } n++ }
        else if ($1 !~ /nan/) { print NR ": failed with a margin"; exit 1 } else f++ } END { exit !(n > 150 && f >= 1) }' \
    && [ "$(h5v17 "$P/v1.h5" message | grep -c 'islands')" -ge 1 ]; then ok; else bad "vsm: margin_mw is not lambda x (scale - 1) x load, or no failed point"; fi
# no variation at all: every point is the base case, so its margin is gridmr cpf's and its voltages gridmr pf's
expect "vsm: unvaried points" 0 "" mpi 2 "$G" vsm --case "$I/case14.m" --points 3 --seed 1 --level 1,1 --spread 0 --q-spread 0 --gen-spread 0 \
    --no-surrogate --output "$P/u.h5"
"$G" cpf --case "$I/case14.m" --scale 2 > "$P/cpf.txt" 2>&1
"$G" pf --case "$I/case14.m" > "$P/pf.txt" 2>&1
if h5v17 "$P/u.h5" margin_mw | awk -v w="$(awk '$1 == "mw_margin" { print $2 }' "$P/cpf.txt")" '{ d = $1 - w; if ((d < 0 ? -d : d) > 1e-3) exit 1; n++ } END { exit n != 3 }' \
    && h5v17 "$P/u.h5" features | head -n 14 | paste -d ' ' - "$(tail -n +2 "$P/pf.txt" | cut -d ' ' -f 2 > "$P/vm.txt"; echo "$P/vm.txt")" \
        | awk '{ d = $1 - $2; if ((d < 0 ? -d : d) > 1e-9) exit 1; n++ } END { exit n != 14 }'; then ok; else bad "vsm: unvaried points differ from gridmr cpf / gridmr pf"; cat "$P/cpf.txt"; fi
expect "vsm: the model file is a lasso model" 0 "" "$G" dump "$P/v1-model.h5"
grep -q "^beta " "$T/out" && ok || bad "vsm: model dump has no coefficients"
# the surrogate's figures, recomputed here from the file's points and the model file's
# coefficients: the last round's held-out R^2 and RMSE (set 1)
cp "$T/out" "$P/model.txt"
h5v17 "$P/v1.h5" feature_names | tr -d '"' > "$P/names.txt"
h5v17 "$P/v1.h5" features > "$P/x.txt"
h5v17 "$P/v1.h5" set > "$P/set.txt"
if awk -v p="$(wc -l < "$P/names.txt")" 'FILENAME == ARGV[1] { if ($1 == "intercept") b0 = $2; if ($1 == "beta") b[$2] = $3; next }
        FILENAME == ARGV[2] { name[FNR - 1] = $1; next }
        FILENAME == ARGV[3] { i = int((FNR - 1) / p); j = (FNR - 1) % p; if (name[j] in b) yh[i] += b[name[j]] * $1; next }
        FILENAME == ARGV[4] { set[FNR - 1] = $1; next }
        FILENAME == ARGV[5] { st[FNR - 1] = $1; next }
        FILENAME == ARGV[6] { y[FNR - 1] = $1; n = FNR; next }
        /^  update / && /held-out/ { for (k = 1; k <= NF; k++) { if ($k == "held-out") { r2 = $(k + 2); rm = $(k + 4) } } }
        END { gsub(/,/, "", r2); for (i = 0; i < n; i++) if (set[i] == 1 && st[i] == 0) { m++; sy += y[i] }
            for (i = 0; i < n; i++) if (set[i] == 1 && st[i] == 0) { e = y[i] - b0 - yh[i]; ssr += e * e; sst += (y[i] - sy / m) ^ 2 }
            R2 = 1 - ssr / sst; RM = sqrt(ssr / m); d1 = R2 - r2; d2 = RM - rm
            if (m < 30 || r2 == "" || (d1 < 0 ? -d1 : d1) > 2e-6 || (d2 < 0 ? -d2 : d2) > 2e-4) { print "R^2 " R2 " RMSE " RM " from the file, printed " r2 " " rm; exit 1 } }' \
    "$P/model.txt" "$P/names.txt" "$P/x.txt" "$P/set.txt" "$P/status.txt" "$P/margin_mw.txt" "$P/s1.txt"; then ok; else bad "vsm: held-out figures differ from the file's points and model"; fi
# error paths
sed 's/^\t2\t2\t21.7\t12.7/\t2\t2\t21.7\tx12.7/' "$I/case14.m" > "$P/bad.m"
expect "pf: bad number" 65 "bad.m:7: mpc.bus: 'x12.7' is not a number" "$G" pf --case "$P/bad.m"
expect "vsm: bad case file" 65 "bad.m:7: mpc.bus: 'x12.7' is not a number" mpi 3 "$G" vsm --case "$P/bad.m" --points 5 --seed 1 --output "$P/e.h5"
if [ "$(grep -c '^gridmr vsm:' "$T/err")" -eq 1 ] && [ ! -e "$P/e.h5" ]; then ok; else bad "vsm: bad case reported more than once or left a file"; cat "$T/err"; fi
sed 's/mpc.version = .2./mpc.version = '"'"'1'"'"';/' "$I/case9.m" > "$P/v1case.m"
expect "pf: version 1" 65 "v1case.m:3: mpc.version is not '2'" "$G" pf --case "$P/v1case.m"
awk '/^mpc.bus/ { b = 1 } b && $1 == "1" && $2 == "3" { $2 = 1; b = 0 } { print }' "$I/case9.m" > "$P/noslack.m"
expect "pf: no slack" 65 "no slack bus" "$G" pf --case "$P/noslack.m"
awk '/^mpc.branch/ { b = 1 } b && (($1 == "7" && $2 == "8") || ($1 == "8" && $2 == "7")) { $11 = 0 } { print }' "$I/case14.m" > "$P/island.m"
expect "pf: island" 65 "bus 8 is not connected to the slack bus 1" "$G" pf --case "$P/island.m"
awk '/^mpc.bus/ { b = 1 } b && NF >= 13 { $3 = $3 * 4; $4 = $4 * 4 } /^\];/ { b = 0 } { print }' "$I/case9.m" > "$P/heavy.m"
expect "pf: infeasible" 65 "did not converge" "$G" pf --case "$P/heavy.m"
expect "cpf: infeasible base case" 65 "did not converge" "$G" cpf --case "$P/heavy.m" --scale 2
expect "vsm: infeasible points" 0 "point 3 failed: power flow: the power flow did not converge" mpi 2 "$G" vsm --case "$I/case9.m" --points 4 --seed 1 \
    --level 3.5,3.6 --output "$P/inf.h5"
grep -q "4 points (4 failed)" "$T/out" && ok || bad "vsm: infeasible points not all reported"
expect "vsm: too few points for a surrogate" 0 "the surrogate needs at least 8" mpi 2 "$G" vsm --case "$I/case9.m" --points 5 --seed 1 --output "$P/few.h5"
[ "$(h5v17 "$P/few.h5" margin_mw | wc -l)" -eq 5 ] && ok || bad "vsm: too few points: the batch was not written"
expect "pf: missing file" 1 "nope.m: cannot open" "$G" pf --case "$P/nope.m"
expect "cpf: no scale" 2 "--scale F" "$G" cpf --case "$I/case9.m"
expect "vsm: no points" 2 "--points N" mpi 1 "$G" vsm --case "$I/case9.m" --seed 1 --output "$P/e.h5"
expect "vsm: bad level" 2 "--level: 'x' is not LO,HI" mpi 1 "$G" vsm --case "$I/case9.m" --points 3 --seed 1 --level x --output "$P/e.h5"
expect "vsm: --local out of range" 2 "--local 9" mpi 1 "$G" vsm --case "$I/case9.m" --points 3 --seed 1 --local 9 --output "$P/e.h5"
# ---- 15. progress and --profile ---------------------------------------------------------------
# progress: plain lines every --progress-interval when stderr is not a terminal, percent rising
# to at most 100 and the splits counted; a bar redrawn on a terminal (a pty from script(1));
# none with --quiet. The map is slowed by the test hook GRIDMR_TEST_SLOW_SPLIT so it lasts.
expect "progress: plain lines" 0 "" env GRIDMR_TEST_SLOW_SPLIT=0.08 timeout 120 mpirun -np 2 "$G" wordcount --split-size 64K --progress-interval 0.15 --input "$D/zipf2.txt" --output "$T/pg.h5"
nsp=$(awk '/splits$/ && /^gridmr wordcount/ { print $(NF - 1) }' "$T/out")
if grep -q "^gridmr: map [0-9.]*% (.* of 1.0 MB, [0-9]*/$nsp splits) [0-9.]* MB/s, ETA " "$T/err" \
    && grep '^gridmr: map ' "$T/err" | awk '{ p = $3 + 0; if (p < last || p > 100) exit 1; last = p; n++ } END { exit n < 2 }'; then ok; else bad "progress: no rising map lines"; cat "$T/err"; fi
expect "progress: --quiet" 0 "" env GRIDMR_TEST_SLOW_SPLIT=0.03 timeout 120 mpirun -np 2 "$G" wordcount --quiet --split-size 64K --progress-interval 0.2 --input "$D/zipf2.txt" --output "$T/pg.h5"
if [ ! -s "$T/err" ] && [ ! -s "$T/out" ]; then ok; else bad "progress: --quiet printed something"; cat "$T/err"; fi
if GRIDMR_TEST_SLOW_SPLIT=0.03 timeout 120 script -qec "'$G' wordcount --split-size 64K --input '$D/zipf2.txt' --output '$T/pg.h5'" /dev/null > "$T/tty.out" 2>&1 \
    && grep -q "map      \[#*\.*\] *[0-9.]*%" "$T/tty.out" && [ "$(tr -cd '\r' < "$T/tty.out" | wc -c)" -gt 3 ]; then ok; else bad "progress: no bar on a terminal"; head -c 600 "$T/tty.out"; fi
expect "progress: bad interval" 2 "not a positive number of seconds" mpi 1 "$G" wordcount --progress-interval 0 --input "$D/zipf2.txt" --output "$T/pg.h5"
# --profile: the counts against wc(1) on the input, the same on 1..4 ranks, and in the file
recs=$(wc -l < "$D/zipf2.txt") bytes=$(wc -c < "$D/zipf2.txt") words=$(wc -w < "$D/zipf2.txt")
"$HASHCOUNT" "$D/zipf2.txt" 2>/dev/null | wc -l > "$T/nkeys" || true
nkeys=$(cat "$T/nkeys")
for np in 1 2 3 4; do
    expect "profile np=$np" 0 "" mpi "$np" "$G" wordcount --profile --split-size 128K --input "$D/zipf2.txt" --output "$T/pf.h5"
    # phase min avg max imbal records_in records_out bytes_in(2 words) bytes_out(2 words)
    if awk -v r="$recs" -v w="$words" -v k="$nkeys" -v np="$np" '
        $1 == "profile" && $3 == np { seen = 1 }
        $1 == "map" && NF == 11 { m = ($6 == r && $7 == w) }
        $1 == "reduce" && NF == 11 { rd = ($6 == k && $7 == k) }
        $1 == "write" && NF == 11 { wr = ($6 == k) }
        $1 == "plan" && NF == 11 { for (i = 2; i <= 4; i++) if ($i < 0) bad = 1; if (!($2 <= $3 && $3 <= $4)) bad = 1 }
        /^  peak memory per rank/ { nm = NF - 5 }
        END { exit !(seen && m && rd && wr && !bad && nm == np) }' "$T/out" \
        && h5dump -a /profile/records_in "$T/pf.h5" | grep -q "(0): 0, $recs, 0, 0, $nkeys, $nkeys" \
        && h5dump -a /profile/bytes_in "$T/pf.h5" | grep -q "(0): $bytes, $bytes," \
        && h5dump -d /profile/rank_peak_rss "$T/pf.h5" | grep -q "SIMPLE { ( $np )" \
        && h5dump -d /profile/rank_time "$T/pf.h5" | grep -q "SIMPLE { ( $np, 6 )"; then ok; else bad "profile np=$np: counts differ from wc (lines $recs, words $words, bytes $bytes, keys $nkeys) or the file's /profile"; cat "$T/out"; h5dump -g /profile -A "$T/pf.h5" 2>&1 | head -40; fi
done
if ! h5dump -g /profile "$T/pg.h5" > /dev/null 2>&1; then ok; else bad "profile: stored without --profile"; fi

# ---- 16. Slurm: the slurm/ scripts on a private single-node cluster (tests/slurm.sh) ---------
sh "$(dirname "$0")/slurm.sh" "$BUILD" > "$T/slurm.log" 2>&1
slurm_st=$?
grep -E "^(SKIP|FAIL|slurm:)" "$T/slurm.log"
sp=$(sed -n 's/^slurm: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$T/slurm.log")
sf=$(sed -n 's/^slurm: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$T/slurm.log")
if [ -n "$sp" ]; then pass=$((pass + sp)); fail=$((fail + sf)); fi
if [ "$slurm_st" -ne 0 ] && [ "${sf:-0}" -eq 0 ]; then bad "tests/slurm.sh exited $slurm_st"; tail -n 30 "$T/slurm.log"; fi
if [ "$slurm_st" -eq 0 ] && [ -z "$sp" ] && ! grep -q "^SKIP" "$T/slurm.log"; then bad "tests/slurm.sh reported nothing"; fi

# ---- 17. make install, and an example built against it with pkg-config -----------------------
ROOT=$(cd "$(dirname "$0")/.." && pwd)
P="$T/prefix"
if make -s -C "$ROOT" --no-print-directory install PREFIX="$P" BUILD="$BUILD" > "$T/log" 2>&1 \
    && [ -x "$P/bin/gridmr" ] && [ -f "$P/include/gridmr/mr.h" ] && [ -f "$P/lib/libgridmr.so" ] && [ -f "$P/lib/libgridmr.a" ] \
    && [ -x "$P/share/gridmr/slurm/gridmr.sbatch" ] \
    && grep -q "^prefix=$P\$" "$P/lib/pkgconfig/gridmr.pc"; then ok; else bad "make install PREFIX=$P"; cat "$T/log"; fi
"$REFAGG" customer_id kwh "$D/meter2.csv" 2>/dev/null | awk -F '\t' '{ printf "%s\t%s\t%s\n", $1, $2, $5 }' > "$T/ref.txt"
export PKG_CONFIG_PATH="$P/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# shared: found at run time through LD_LIBRARY_PATH
if mpicc -o "$T/peak_shared" "$ROOT/examples/peak.c" $(pkg-config --cflags --libs gridmr) > "$T/log" 2>&1 \
    && LD_LIBRARY_PATH="$P/lib" mpi 2 "$T/peak_shared" "$T/pk.h5" "$D/meter2.csv" >> "$T/log" 2>&1 \
    && LD_LIBRARY_PATH="$P/lib" ldd "$T/peak_shared" | grep -q "$P/lib/libgridmr.so" \
    && "$G" dump "$T/pk.h5" > "$T/got.txt" && cmp -s "$T/got.txt" "$T/ref.txt"; then ok; else bad "installed library: example (shared) built with pkg-config"; cat "$T/log"; fi
# static: the archive and pkg-config --static's private libraries
if mpicc -o "$T/peak_static" "$ROOT/examples/peak.c" $(pkg-config --cflags gridmr) "$P/lib/libgridmr.a" \
        $(pkg-config --static --libs gridmr | sed 's/-lgridmr//') > "$T/log" 2>&1 \
    && ! ldd "$T/peak_static" | grep -q libgridmr && mpi 3 "$T/peak_static" "$T/pk.h5" "$D/meter2.csv" >> "$T/log" 2>&1 \
    && "$G" dump "$T/pk.h5" > "$T/got.txt" && cmp -s "$T/got.txt" "$T/ref.txt"; then ok; else bad "installed library: example (static) built with pkg-config --static"; cat "$T/log"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
