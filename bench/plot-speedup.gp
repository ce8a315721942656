# bench/plot-speedup.gp: draws BUILD/bench-results/speedup.png from speedup.csv (run by
# bench/speedup). Variables, set with gnuplot -e: csv, out (paths), ranks (N), runs, host
# (a one-line machine description).
# Top: speedup (wall and gridmr total) against input size, with the ideal N and the paper's
# 4-node average of 3.83 as reference lines. Bottom: throughput (MB/s, left axis) and the
# shuffle transmission rate (Mbit/s, right axis) of the N-rank runs.
if (!exists("csv"))   csv = 'build/bench-results/speedup.csv'
if (!exists("out"))   out = 'build/bench-results/speedup.png'
if (!exists("ranks")) ranks = 2
if (!exists("runs"))  runs = 3
if (!exists("host"))  host = ''

set terminal pngcairo size 1000,1100 font 'DejaVu Sans,12' noenhanced
set output out
set datafile separator ','

stats csv using 1 skip 1 nooutput
xmin = STATS_min / 1.4
xmax = STATS_max * 1.4
stats csv using 12 skip 1 nooutput
tmax = STATS_max
stats csv using 13 skip 1 nooutput
rmax = (STATS_max > 0 ? STATS_max : 1)
paper = 3.83

set multiplot layout 2,1 title sprintf("gridmr wordcount, 1 vs %d ranks, Zipf text, median of %d runs\n%s", ranks, runs, host)

set logscale x 2
set xrange [xmin:xmax]
set lmargin 11
set rmargin 11
set xlabel 'input size (MiB)'
set grid
set key at graph 0.02, graph 0.80 left top box opaque
set ylabel 'speedup over 1 rank'
ytop = (ranks > paper ? ranks : paper) * 1.15
set yrange [0:ytop]
set ytics 0.5
set label 1 sprintf('ideal: %d ranks', ranks) at first xmax / 1.06, first ranks + ytop * 0.03 right textcolor rgb '#2e7d32'
set label 2 "paper's Table 3/4 average on 4 nodes: 3.83" at first xmax / 1.06, first paper + ytop * 0.03 right textcolor rgb '#c62828'
plot csv skip 1 using 1:7:xtic(1) with linespoints lw 2 pt 7 ps 1.3 lc rgb '#1565c0' title 'speedup, wall time of mpirun', \
     ''  skip 1 using 1:10 with linespoints lw 2 pt 5 ps 1.2 lc rgb '#ef6c00' title "speedup, gridmr's total", \
     ''  skip 1 using 1:7:(sprintf('%.2f', $7)) with labels left offset char 1,0 font ',10' textcolor rgb '#1565c0' notitle, \
     ranks with lines dt 2 lw 2 lc rgb '#2e7d32' notitle, \
     paper with lines dt 4 lw 2 lc rgb '#c62828' notitle

unset label 1
unset label 2
set yrange [0:tmax * 1.5]
set ytics auto
set ylabel sprintf('throughput, %d ranks (MB/s)', ranks)
set y2label 'shuffle rate (Mbit/s)'
set y2range [0:rmax * 1.5]
set y2tics
set ytics nomirror
set key default
set key inside top left box opaque
plot csv skip 1 using 1:11:xtic(1) with linespoints lw 2 pt 7 ps 1.3 lc rgb '#1565c0' title 'throughput, wall time (MB/s)', \
     ''  skip 1 using 1:12 with linespoints lw 2 pt 5 ps 1.2 lc rgb '#ef6c00' title "throughput, gridmr's total (MB/s)", \
     ''  skip 1 using 1:13 axes x1y2 with linespoints lw 2 pt 9 ps 1.4 dt 3 lc rgb '#6a1b9a' title 'shuffle rate (Mbit/s, right axis)'
unset multiplot
