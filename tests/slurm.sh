#!/bin/sh
# tests/slurm.sh BUILD: the slurm/ scripts on a real single-node Slurm cluster (section 21 of
# tests/run.sh, which runs it; it also runs alone).
#
# Starts a private munged, slurmctld and slurmd in a temporary state directory (ports picked
# from this shell's PID so two runs do not collide), records their PIDs and, on exit, stops
# exactly those PIDs (TERM, then waits for each; never by name). The node advertises 4 CPUs on
# whatever the machine has (SlurmdParameters=config_overrides) so jobs of 4 tasks run.
# Then, each through `timeout ... sbatch --wait` so nothing can hang:
#   - slurm/gridmr.sbatch (srun --mpi=pmix on 1, 2, 4 tasks, GRIDMR_LAUNCH=mpirun on 3): wordcount
#     results identical to an ordinary 1-rank run (gridmr dump, byte for byte);
#   - gridmr.sbatch --config: a two-step pipeline (aggregate, then wordcount), both results right;
#   - requeue: a pipeline is requeued by `scontrol requeue` while the map of its second step
#     runs (slowed by GRIDMR_TEST_SLOW_SPLIT, a test hook); gridmr checkpoints and exits 75,
#     Slurm restarts the job, which skips the finished first step, runs the second with
#     --resume, reuses the checkpointed splits (its log says so) and ends with the same results;
#   - the time-limit path, with mpirun as the launcher: the --signal=B:USR1 warning delivered
#     early by `scancel --signal=USR1 --batch`, with the same outcome (the script forwards USR1,
#     gridmr exits 75, the script requeues itself);
#   - gridmr supply as a pipeline step, requeued in its second job: the restart (--resume)
#     does not run the first job again, maps only what the second job's checkpoint lacks and
#     writes the models of a plain 1-rank run;
#   - slurm/speedup.sbatch: a CSV with one row per rank count whose results match;
#   - slurm/vsm.sbatch on 2 tasks: the same HDF5 file (h5dump) as a 1-rank batch, only if
#     `gridmr vsm` and tests/data/ieee/case9.m exist in this tree (a SKIP line otherwise).
# Without Slurm or munge installed it prints one SKIP line and fails nothing: scripts/
# install-deps.sh installs them for `make check`, so a SKIP means they could not be installed.
# Prints "slurm: N passed, M failed"; exit status non-zero on any failure.
set -u
BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")/.." && pwd)
G="$BUILD/bin/gridmr"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OPENBLAS_NUM_THREADS=1 LC_ALL=C
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: slurm: $*"; }

for p in munged mungekey slurmctld slurmd sbatch scontrol sinfo srun; do
    if ! command -v "$p" > /dev/null 2>&1 && [ ! -x "/usr/sbin/$p" ]; then
        echo "SKIP: slurm: '$p' is not installed (apt-get install slurm-wlm munge; make check does it via scripts/install-deps.sh)"
        exit 0
    fi
done
PATH=$PATH:/usr/sbin
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: slurm: the private cluster runs its daemons as root (SlurmUser=root); run as root"
    exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/gridmr-slurm.XXXXXX")
chmod 755 "$T"
PIDS=""
stop_cluster() {
    # jobs still running (a test that timed out) are cancelled through our own slurmctld first,
    # so no slurmstepd or rank outlives the cluster; then slurmd, slurmctld and munged: each PID
    # we started, and only those
    if [ -n "$PIDS" ] && [ -n "${SLURM_CONF:-}" ]; then
        ids=$(squeue -h -o %i 2> /dev/null)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            scancel $ids 2> /dev/null
            i=0
            while [ -n "$(squeue -h -o %i 2> /dev/null)" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
        fi
    fi
    for pid in $PIDS; do kill -TERM "$pid" 2> /dev/null; wait "$pid" 2> /dev/null; done
    PIDS=""
}
trap 'stop_cluster; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# ---- the cluster ---------------------------------------------------------------------------
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/jobs"
chmod 755 "$T/munge"
mungekey --create --keyfile="$T/munge/munge.key" > /dev/null 2>&1
chmod 600 "$T/munge/munge.key"
SOCK="$T/munge/munge.socket"
munged --foreground --key-file="$T/munge/munge.key" --socket="$SOCK" --pid-file="$T/munge/munged.pid" \
    --log-file="$T/munge/munged.log" --seed-file="$T/munge/seed" < /dev/null > "$T/munge/out.log" 2>&1 &
MUNGED=$!
i=0
until munge -S "$SOCK" -n 2> /dev/null | unmunge -S "$SOCK" > /dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 50 ] || ! kill -0 $MUNGED 2> /dev/null; then
        bad "munged did not start"; cat "$T/munge/out.log" "$T/munge/munged.log" 2> /dev/null
        PIDS="$MUNGED"; exit 1
    fi
    sleep 0.1
done
PORT=$((20000 + ($$ % 20000)))
# skip ports something already listens on (when ss is there to tell)
if command -v ss > /dev/null 2>&1; then
    while ss -Htln 2> /dev/null | awk '{ print $4 }' | grep -Eq ":($PORT|$((PORT + 1)))\$"; do PORT=$((PORT + 2)); done
fi
MEM=$(slurmd -C 2> /dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
CONF="$T/slurm.conf"
cat > "$CONF" << EOF
ClusterName=gridmrtest
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCK,cred_expire=5
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=pmix
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$T/jobcomp.txt
EnforcePartLimits=ALL
ReturnToService=2
# a small MinJobAge keeps sbatch --wait polling every 2 s (it backs off up to MinJobAge / 2)
KillWait=5
MinJobAge=4
SchedulerParameters=sched_interval=1
NodeName=localhost CPUs=4 RealMemory=${MEM:-2000} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$CONF"
slurmctld -D -c -f "$CONF" < /dev/null > "$T/slurmctld.out" 2>&1 &
CTLD=$!
slurmd -D -N localhost -f "$CONF" < /dev/null > "$T/slurmd.out" 2>&1 &
SLURMD=$!
PIDS="$SLURMD $CTLD $MUNGED"
i=0
until [ "$(sinfo -h -n localhost -o %T 2> /dev/null)" = idle ]; do
    i=$((i + 1))
    if [ $i -gt 150 ] || ! kill -0 $CTLD 2> /dev/null || ! kill -0 $SLURMD 2> /dev/null; then
        bad "the cluster did not come up (sinfo: $(sinfo -h -n localhost -o %T 2>&1))"
        tail -n 20 "$T/slurmctld.log" "$T/slurmd.log" "$T/slurmctld.out" "$T/slurmd.out" 2> /dev/null
        exit 1
    fi
    sleep 0.2
done
echo "slurm: cluster up ($(sinfo -V), port $PORT, state in $T)"

# ---- helpers -------------------------------------------------------------------------------
cd "$T/jobs" || exit 1
D="$T/data"
mkdir -p "$D"
"$G" gen --kind text --size 2M --seed 11 --vocab 5000 --out "$D/text.txt" > /dev/null 2>&1 || bad "gen text"
mpirun -np 1 "$G" wordcount --quiet --input "$D/text.txt" --output "$D/ref.h5" > /dev/null 2>&1 && "$G" dump "$D/ref.h5" > "$D/ref.txt" \
    || bad "the 1-rank reference run"
same_as_ref() { "$G" dump "$1" > "$T/got.txt" 2> /dev/null && cmp -s "$T/got.txt" "$D/ref.txt"; }
"$G" gen --kind meter --size 200K --seed 12 --customers 40 --out "$D/meter.csv" > /dev/null 2>&1 || bad "gen meter"
mpirun -np 1 "$G" aggregate --quiet --input "$D/meter.csv" --key customer_id --value kwh --output "$D/agg.h5" > /dev/null 2>&1 \
    && "$G" dump "$D/agg.h5" > "$D/agg.txt" || bad "the 1-rank aggregate reference"
same_as_agg() { "$G" dump "$1" > "$T/got.txt" 2> /dev/null && cmp -s "$T/got.txt" "$D/agg.txt"; }
# sub NAME SECONDS sbatch-args...: submit with --wait under a timeout; $T/NAME.log is the job log
sub() {
    name=$1 secs=$2
    shift 2
    GRIDMR="$G" timeout "$secs" sbatch --wait -p debug -t 5 -o "$T/$name.log" -J "$name" "$@" > "$T/$name.sub" 2>&1
}
show() { echo "--- $1"; cat "$T/$1.sub" "$T/$1.log" 2> /dev/null | tail -n 30; }

# ---- generic job: srun --mpi=pmix and mpirun, 1..4 tasks --------------------------------------
# submitted together (each through its own sbatch --wait; Slurm runs what fits on the 4 CPUs
# at once): sbatch --wait polls every few seconds, so one after another would mostly wait
jobs=""
for np in 1 2 4; do
    (sub "wc$np" 90 -n "$np" "$HERE/slurm/gridmr.sbatch" wordcount --input "$D/text.txt" --output "$T/wc$np.h5"; echo $? > "$T/wc$np.rc") &
    jobs="$jobs $!"
done
(GRIDMR_LAUNCH=mpirun sub wcm 90 -n 3 "$HERE/slurm/gridmr.sbatch" wordcount --input "$D/text.txt" --output "$T/wcm.h5"; echo $? > "$T/wcm.rc") &
jobs="$jobs $!"
(sub usage 90 -n 1 "$HERE/slurm/gridmr.sbatch"; echo $? > "$T/usage.rc") &
jobs="$jobs $!"
# a pipeline from a config file: two steps, in order
cat > "$T/pipe.conf" << EOF
# a comment, then a blank line

aggregate --input $D/meter.csv --key customer_id --value kwh --output $T/pipe-agg.h5
wordcount --input $D/text.txt --output $T/pipe-wc.h5   # words
EOF
(sub pipe 90 -n 2 "$HERE/slurm/gridmr.sbatch" --config "$T/pipe.conf"; echo $? > "$T/pipe.rc") &
jobs="$jobs $!"
for pid in $jobs; do wait "$pid"; done
for np in 1 2 4; do
    if [ "$(cat "$T/wc$np.rc")" -eq 0 ] && same_as_ref "$T/wc$np.h5" && grep -q "gridmr wordcount: $np ranks" "$T/wc$np.log"; then ok; else bad "gridmr.sbatch srun -n $np (exit $(cat "$T/wc$np.rc"))"; show "wc$np"; fi
done
if [ "$(cat "$T/wcm.rc")" -eq 0 ] && same_as_ref "$T/wcm.h5" && grep -q "gridmr wordcount: 3 ranks" "$T/wcm.log"; then ok; else bad "gridmr.sbatch GRIDMR_LAUNCH=mpirun -n 3 (exit $(cat "$T/wcm.rc"))"; show wcm; fi
if [ "$(cat "$T/pipe.rc")" -eq 0 ] && same_as_agg "$T/pipe-agg.h5" && same_as_ref "$T/pipe-wc.h5" \
    && grep -q "step 2/2" "$T/pipe.log"; then ok; else bad "gridmr.sbatch --config: a 2-step pipeline (exit $(cat "$T/pipe.rc"))"; show pipe; fi
if [ "$(cat "$T/usage.rc")" -eq 2 ] && grep -q "usage: sbatch" "$T/usage.log"; then ok; else bad "gridmr.sbatch without a command: exit $(cat "$T/usage.rc"), expected 2 and the usage line"; show usage; fi

# ---- requeue in the middle of the map ---------------------------------------------------------
# 32 splits of 64K, each mapped in no less than 0.15 s (GRIDMR_TEST_SLOW_SPLIT): about 2.4 s of
# map on 2 ranks. The job is requeued once it has mapped a few splits.
# requeue_test NAME HOW LAUNCH: HOW=requeue (scontrol requeue) or signal (scancel --signal=USR1
# --batch, what --signal=B:USR1@120 does before the time limit); LAUNCH=srun or mpirun
requeue_test() {
    name=$1 how=$2 launcher=$3 pipe=${4:-}
    rm -rf "$T/$name.h5" "$T/$name.stage" "$T/$name.log"
    set -- wordcount --split-size 64K --progress-interval 0.5 --checkpoint 0 --input "$D/text.txt" --output "$T/$name.h5"
    if [ -n "$pipe" ]; then
        # as a pipeline's second step, after a quick aggregate that the restart must skip
        { echo "aggregate --input $D/meter.csv --key customer_id --value kwh --output $T/$name-agg.h5"; echo "$*"; } > "$T/$name.conf"
        set -- --config "$T/$name.conf"
    fi
    GRIDMR_LAUNCH=$launcher GRIDMR="$G" GRIDMR_TEST_SLOW_SPLIT=0.15 sbatch --parsable -p debug -t 5 -n 2 -o "$T/$name.log" -J "$name" \
        "$HERE/slurm/gridmr.sbatch" "$@" > "$T/$name.sub" 2>&1
    id=$(cat "$T/$name.sub")
    case $id in '' | *[!0-9]*) bad "$name: sbatch said '$id'"; return ;; esac
    # wait for the map to be under way: a progress line with some splits done
    i=0
    until grep -q "map .*[1-9][0-9]*/32 splits" "$T/$name.log" 2> /dev/null; do
        i=$((i + 1)); [ $i -gt 300 ] && break; sleep 0.1
    done
    if [ "$how" = requeue ]; then scontrol requeue "$id" > "$T/$name.ctl" 2>&1; else scancel --signal=USR1 --batch "$id" > "$T/$name.ctl" 2>&1; fi
    # then wait for the job to finish for good (restarted once); the record is read often, as
    # MinJobAge lets slurmctld forget a finished job after a few seconds
    i=0
    while :; do
        scontrol show job "$id" > "$T/$name.show" 2> /dev/null || break
        st=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' "$T/$name.show")
        cp "$T/$name.show" "$T/$name.last"
        case $st in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
        i=$((i + 1)); [ $i -gt 600 ] && { bad "$name: job $id still $st after 60 s"; scancel "$id"; return; }
        sleep 0.1
    done
    restarts=$(sed -n 's/.*Restarts=\([0-9]*\).*/\1/p' "$T/$name.last" 2> /dev/null)
    reused=$(awk '/^  resumed/ { print $2 }' "$T/$name.log")
    if [ "$st" = COMPLETED ] && [ "${restarts:-0}" -ge 1 ] && grep -q "exit 75" "$T/$name.log" \
        && grep -q -- "--resume" "$T/$name.log" && [ -n "$reused" ] && [ "$reused" -ge 1 ] && [ "$reused" -lt 32 ] \
        && same_as_ref "$T/$name.h5" \
        && { [ -z "$pipe" ] || { grep -q "step 1 done before the restart: skipped" "$T/$name.log" && same_as_agg "$T/$name-agg.h5"; }; }; then
        ok
    else
        bad "$name: requeued job $id ended $st after ${restarts:-?} restarts, resumed '${reused}' of 32 splits (want 1..31), result same as 1 rank: $(same_as_ref "$T/$name.h5" && echo yes || echo no)"
        cat "$T/$name.ctl"; tail -n 40 "$T/$name.log"
    fi
}
requeue_test rq requeue srun pipeline
requeue_test sig signal mpirun

# ---- gridmr supply requeued in its second job -----------------------------------------------
# A pipeline whose only step is gridmr supply (64K splits: 69 + 7 on this data set); job 2's
# splits take 0.6 s each (GRIDMR_TEST_SLOW_SPLIT, limited to it by GRIDMR_TEST_JOB). Once job 2
# has started (its stage exists) the job is requeued: supply exits 75 keeping job 1's result
# and job 2's checkpoint, Slurm restarts the batch script, which adds --resume: job 1 is not run
# again, job 2 maps only what its stage lacks, and the models equal a plain 1-rank run's.
"$G" gen --out "$D/power" --size 2M --provinces 2 --seed 12 --start 2026-02-10 --days 30 --customers 40 --quiet || bad "gen power"
mpirun -np 1 "$G" supply --quiet --input "$D/power" --output "$D/sup1.h5" > /dev/null 2>&1 || bad "the 1-rank supply reference"
rm -f "$T/sup.h5"*
echo "supply --split-size 64K --input $D/power --output $T/sup.h5" > "$T/sup.conf"
GRIDMR="$G" GRIDMR_TEST_SLOW_SPLIT=0.6 GRIDMR_TEST_JOB=supply.events sbatch --parsable -p debug -t 5 -n 2 -o "$T/sup.log" -J sup \
    "$HERE/slurm/gridmr.sbatch" --config "$T/sup.conf" > "$T/sup.sub" 2>&1
id=$(cat "$T/sup.sub")
case $id in
'' | *[!0-9]*) bad "supply requeue: sbatch said '$id'" ;;
*)
    i=0
    until [ -e "$T/sup.h5.events.h5.stage" ]; do i=$((i + 1)); [ $i -gt 300 ] && break; sleep 0.1; done
    sleep 0.5
    scontrol requeue "$id" > "$T/sup.ctl" 2>&1
    i=0 st=""
    while :; do
        scontrol show job "$id" > "$T/sup.show" 2> /dev/null || break
        st=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' "$T/sup.show")
        cp "$T/sup.show" "$T/sup.last"
        case $st in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
        i=$((i + 1)); [ $i -gt 600 ] && { bad "supply requeue: job $id still $st after 60 s"; scancel "$id"; break; }
        sleep 0.1
    done
    reused=$(sed -n 's/^  resumed    structured 69 of 69 splits (finished before: not run), events \([0-9]*\) of 7 splits, profile .*$/\1/p' "$T/sup.log")
    h5dump "$D/sup1.h5" 2> /dev/null | tail -n +2 > "$T/sup1.txt"
    if [ "$st" = COMPLETED ] && grep -q "exit 75" "$T/sup.log" && grep -q -- "--resume" "$T/sup.log" \
        && [ -n "$reused" ] && [ "$reused" -ge 1 ] && [ "$reused" -lt 7 ] \
        && h5dump "$T/sup.h5" 2> /dev/null | tail -n +2 | cmp -s - "$T/sup1.txt" && [ -z "$(ls "$T"/sup.h5.* 2> /dev/null)" ]; then ok
    else
        bad "supply requeue: job $id ended '$st', events splits reused '$reused' (want 1..6, job 1 not run), models same as 1 rank: $(h5dump "$T/sup.h5" 2> /dev/null | tail -n +2 | cmp -s - "$T/sup1.txt" && echo yes || echo no)"
        cat "$T/sup.ctl"; tail -n 40 "$T/sup.log"
    fi ;;
esac

# ---- the strong-scaling sweep -----------------------------------------------------------------
if sub speedup 120 -n 3 "$HERE/slurm/speedup.sbatch" --input "$D/text.txt" --runs 1 --out "$T/speedup.csv" \
    && [ "$(wc -l < "$T/speedup.csv")" -eq 4 ] && head -n 1 "$T/speedup.csv" | grep -q '^ranks,' \
    && awk -F, 'NR > 1 { n[$1]++; if ($NF != "same") exit 1 } END { exit !(n[1] && n[2] && n[3]) }' "$T/speedup.csv"; then ok; else bad "speedup.sbatch: 3 rows (1..3 ranks) with the same result"; show speedup; cat "$T/speedup.csv" 2> /dev/null; fi

# ---- batch voltage stability ----------------------------------------------------------------
# the same batch by a plain 1-rank mpirun and by vsm.sbatch on 2 tasks: the same file (h5dump)
CASE="$HERE/tests/data/ieee/case9.m"
if "$G" vsm --help > /dev/null 2>&1 && [ -r "$CASE" ]; then
    set -- --case "$CASE" --points 24 --seed 3 --no-surrogate
    if mpirun -np 1 "$G" vsm "$@" --output "$T/vsm1.h5" > "$T/vsm1.out" 2>&1 && h5dump -m '%.17g' "$T/vsm1.h5" | tail -n +2 > "$T/vsm1.txt" \
        && sub vsm 120 -n 2 "$HERE/slurm/vsm.sbatch" "$@" --output "$T/vsm.h5" \
        && h5dump -m '%.17g' "$T/vsm.h5" | tail -n +2 | cmp -s - "$T/vsm1.txt"; then ok; else bad "vsm.sbatch -n 2: not the 1-rank batch"; cat "$T/vsm1.out"; show vsm; fi
else
    echo "SKIP: slurm: vsm.sbatch not run: this build has no 'gridmr vsm' or no $CASE (the pf/vsm work lands separately)"
fi

echo "slurm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
