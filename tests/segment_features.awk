# tests/segment_features.awk: per-customer features from `gridmr gen --kind power` readings.csv
# (customer_id,timestamp,kwh at 15 minutes), a stand-in for the supply model's app_segment.csv
# in the tests of `gridmr segment`: the normalised mean daily profile in 24 hourly values
# (mean 1), the log10 of the mean kWh per 15 minutes and the weekend / weekday ratio.
# Usage: awk -F, -f tests/segment_features.awk readings.csv > features.csv
NR == 1 { next }
{
    id = $1
    if (!(id in seen)) { seen[id] = 1; order[++n] = id }
    h = substr($2, 12, 2) + 0
    # day of week from the date (Sakamoto), 0 = Sunday
    y = substr($2, 1, 4) + 0; m = substr($2, 6, 2) + 0; d = substr($2, 9, 2) + 0
    if (m < 3) y -= 1
    split("0 3 2 5 0 3 5 1 4 6 2 4", t, " ")
    dow = (y + int(y / 4) - int(y / 100) + int(y / 400) + t[m] + d) % 7
    s[id, h] += $3; tot[id] += $3; cnt[id]++
    if (dow == 0 || dow == 6) { we[id] += $3; nwe[id]++ } else { wd[id] += $3; nwd[id]++ }
}
END {
    printf "customer_id"
    for (h = 0; h < 24; h++) printf ",h%02d", h
    printf ",log_mean_kwh,weekend_ratio\n"
    for (i = 1; i <= n; i++) {
        id = order[i]; mean = tot[id] / cnt[id]
        printf "%s", id
        for (h = 0; h < 24; h++) printf ",%.6f", (mean > 0 ? s[id, h] / (cnt[id] / 24) / mean : 1)
        r = (nwe[id] && nwd[id] && wd[id] > 0) ? (we[id] / nwe[id]) / (wd[id] / nwd[id]) : 1
        printf ",%.6f,%.6f\n", (mean > 0 ? log(mean) / log(10) : -3), r
    }
}
