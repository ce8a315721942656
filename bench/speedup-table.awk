# speedup-table.awk: bench/speedup's speedup.csv as a markdown table with its average row
# (used by bench/run-all and bench/experiments: awk -F, -f bench/speedup-table.awk speedup.csv).
NR == 1 { next }
n++ == 0 {
    printf "Zipf text, 1 rank (serial) vs %d ranks (parallel), median of %d runs each.\n\n", $3, $4
    print "| size (MiB) | input (MB) | serial wall (s) | parallel wall (s) | speedup, wall | serial total (s) | parallel total (s) | speedup, total | throughput, wall (MB/s) | throughput, total (MB/s) | shuffle rate (Mbit/s) | shuffled (MB) | other work during the runs (% CPU) |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
{ printf "| %s | %.1f | %.2f | %.2f | **%.2f** | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f | %s |\n",
      $1, $2, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $16
  sw += $7; st += $10; tw += $11; tt += $12; rate += $13 }
END { if (n) printf "| average | | | | **%.2f** | | | %.2f | %.1f | %.1f | %.1f | | |\n",
                    sw / n, st / n, tw / n, tt / n, rate / n }
