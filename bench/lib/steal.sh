# bench/lib/steal.sh — how much CPU time the machine lost to other guests,
# sourced by bench/run.sh and bench/ab.sh.
#
# A virtual machine whose host runs other guests loses time to them
# ("steal" in /proc/stat): a server then loses it in the middle of
# requests, which moves throughput and above all the latency tail by more
# than most changes measured here. Both scripts print each measured run's
# share of steal beside it, so a result can be read against how disturbed
# its minutes were.

# steal_ticks: "STEAL TOTAL", the machine's stolen and total CPU ticks so
# far (the first line of /proc/stat, all CPUs).
steal_ticks() {
	awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $9 + 0, t; exit }' /proc/stat
}

# steal_pct BEFORE: the percentage of CPU ticks since BEFORE (steal_ticks'
# output) that were stolen, with one decimal.
steal_pct() {
	awk -v a="$1" -v b="$(steal_ticks)" 'BEGIN { split(a, x, " "); split(b, y, " ")
		printf "%.1f", (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0 }'
}
