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
# 6. The incremental sync (gridmr sync, section 10): province stores loaded from generated
#    customers/bills split by province, synced on 1..4 ranks to byte-identical states, HQ's view
#    equal to the union of the CSVs (sort), 1% changes sending exactly comm(1)'s upserts and
#    deletes at <= 2% of a full copy's bytes, HQ's tariff edits flowing down, a flipped chunk
#    refused and re-sent, a duplicate chunk changing nothing, HQ killed mid-sync and resumed to
#    the same state, and bad CSV rows, headers, keys and stale stores refused.
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
expect() { # label, wanted exit status, grep pattern for stderr (or ""), command...
    label=$1 want=$2 pat=$3; shift 3
    "$@" > "$T/out" 2> "$T/err"
    st=$?
    if [ "$st" -ne "$want" ]; then bad "$label: exit $st, expected $want"; cat "$T/err"; return; fi
    if [ -n "$pat" ] && ! grep -q -- "$pat" "$T/err"; then bad "$label: stderr lacks '$pat'"; cat "$T/err"; return; fi
    ok
}
# ---- 10. incremental sync (gridmr sync): stores, chunks, resume, checksums, both ways ---------
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

echo "$pass passed, $fail failed"
