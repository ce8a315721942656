#!/bin/sh
# demo.sh BUILD: the `make demo` job. Generates the default data set once (same bytes for the
# same seed: 64 MiB of Zipf text and 40 MiB of meter-reading CSV in BUILD/demo-data), then runs
# wordcount and aggregate under mpirun on 4 ranks (2 provinces) and prints what they did.
set -eu
BUILD=${1:-build}
G="$BUILD/bin/gridmr"
DATA="$BUILD/demo-data"
NP=${GRIDMR_DEMO_RANKS:-4}
export OPENBLAS_NUM_THREADS=1

# one node: Open MPI's ob1 over shared memory (vader). The default pml, UCX, probes the network
# devices in MPI_Init (about 0.2 s of each run here); a cluster launch keeps its own settings.
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1} OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader}
MPIRUN="mpirun --oversubscribe -np $NP"
[ "$(id -u)" -eq 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"

mkdir -p "$DATA"
if [ ! -s "$DATA/text.txt" ] || [ ! -s "$DATA/meter.csv" ]; then
    echo "== generating the demo data set (seed 2026) in $DATA"
    "$G" gen --kind text --size 64M --seed 2026 --out "$DATA/text.txt"
    "$G" gen --kind meter --size 40M --seed 2026 --customers 20000 --out "$DATA/meter.csv"
fi
ls -l "$DATA"

echo
echo "== wordcount on $NP ranks: $MPIRUN $G wordcount --input $DATA/text.txt --output $BUILD/demo-wordcount.h5"
$MPIRUN "$G" wordcount --input "$DATA/text.txt" --output "$BUILD/demo-wordcount.h5"
echo "-- top 10 words (gridmr dump --top 10)"
"$G" dump "$BUILD/demo-wordcount.h5" --top 10

echo
echo "== aggregate on $NP ranks: kWh and voltage per province"
$MPIRUN "$G" aggregate --input "$DATA/meter.csv" --key province --value kwh,voltage \
    --output "$BUILD/demo-aggregate.h5"
echo "-- per province: key, count, kwh sum/min/max, voltage sum/min/max (gridmr dump)"
"$G" dump "$BUILD/demo-aggregate.h5"
echo
echo "results: $BUILD/demo-wordcount.h5 $BUILD/demo-aggregate.h5 (h5dump -A shows their attributes)"
