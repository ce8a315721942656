# tests/gen_series.awk: hourly series laid out like GEFCom2014-E for tests/run.sh (section 10) and
# bench/apps. Plain awk, none of gridmr's code.
#
#   awk -v series=S -v from=YYYY-MM-DD -v days=D -v noise=A [-v layout=supply] -f gen_series.awk
#
# Series k = 1..S (named p1, p2, ... in a first column when S > 1 or layout=supply):
#   T    = 50 + 25 sin(2 pi (d - 100) / 365.25) + 8 sin(2 pi (h - 9) / 24) + 4 sin(1.3 d + 0.37 h)
#   load = b (1 + 0.05 cos(m) + 0.1 w(wd, h)) + 0.01 i + k (3 (T - 55) + 0.08 (T - 55)^2)
#          + 0.4 (T - 55) cos(2 pi h / 24) + A b 0.02 sin(0.731 i) cos(0.117 i)
# with b = 1000 k, d the day and i the hour counted from `from`, m the month, wd the weekday
# (Monday 0), h the hour 1..24 and w(wd, h) = sin(pi h / 24) - 0.3 [wd >= 5] + 0.05 wd. With A = 0 the
# load is an exact function of the vanilla design's terms (trend, month, weekday x hour, T^1..3
# and T x hour), so a least-squares fit of that design recovers it exactly.
# layout=supply writes the columns of `gridmr supply`'s forecasting table:
# province,date,hour,load_kwh,temperature_c,weekday,month,holiday (holiday: 1 on 1 January and
# 25 December).
function days_from_civil(y, m, d,    era, yoe, doy, doe) {
    y -= m <= 2
    era = int((y >= 0 ? y : y - 399) / 400)
    yoe = y - era * 400
    doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
    doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
    return era * 146097 + doe - 719468
}
BEGIN {
    pi = 3.141592653589793
    if (series == "") series = 1
    split(from, f, "-"); y = f[1] + 0; m = f[2] + 0; dd = f[3] + 0
    ml = "31 28 31 30 31 30 31 31 30 31 30 31"; split(ml, mlen, " ")
    named = series > 1 || layout == "supply"
    if (layout == "supply") print "province,date,hour,load_kwh,temperature_c,weekday,month,holiday"
    else print (named ? "zone," : "") "Date,Hour,load,T"
    for (d = 0; d < days; d++) {
        z = days_from_civil(y, m, dd); wd = ((z + 3) % 7 + 7) % 7
        date = sprintf("%04d-%02d-%02d", y, m, dd)
        for (h = 1; h <= 24; h++) {
            i = d * 24 + h - 1
            T = 50 + 25 * sin(2 * pi * (d - 100) / 365.25) + 8 * sin(2 * pi * (h - 9) / 24) + 4 * sin(1.3 * d + 0.37 * h)
            T = sprintf("%.6f", T) + 0
            for (k = 1; k <= series; k++) {
                b = 1000 * k
                w = sin(pi * h / 24) - 0.3 * (wd >= 5) + 0.05 * wd
                load = b * (1 + 0.05 * cos(m) + 0.1 * w) + 0.01 * i + k * (3 * (T - 55) + 0.08 * (T - 55) ^ 2) \
                       + 0.4 * (T - 55) * cos(2 * pi * h / 24) + noise * b * 0.02 * sin(0.731 * i) * cos(0.117 * i)
                printf "%s%s,%d,%.10g,%.6f", named ? "p" k "," : "", date, h, load, T
                if (layout == "supply") printf ",%d,%d,%d", wd + 1, m, (m == 1 && dd == 1) || (m == 12 && dd == 25)
                printf "\n"
            }
        }
        leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        if (++dd > mlen[m] + (m == 2 && leap)) { dd = 1; if (++m > 12) { m = 1; y++ } }
    }
}
