# bench/lib/cpu.sh — CPU per request of the servers a bench script measured;
# sourced by bench/run.sh and bench/ab.sh, so both compute it the same way.

# seconds DURATION: a wrk/Go duration ("5s", "500ms", "1m") in seconds.
seconds() {
	awk -v d="$1" 'BEGIN { n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
		f = (u == "ms") ? 0.001 : (u == "m") ? 60 : (u == "h") ? 3600 : 1; printf "%g", n * f }'
}

# cpu_ticks PID: the user and system clock ticks PID has used, all its
# threads ("0 0" without a PID).
cpu_ticks() {
	if [[ -n $1 && -r /proc/$1/stat ]]; then awk '{ print $14, $15 }' "/proc/$1/stat"; else echo "0 0"; fi
}

# cpu_per_request RATE SECONDS "U0 S0 OU0 OS0" "U1 S1 OU1 OS1": from the
# cpu_ticks of a proxy and of its origin before and after RATE × SECONDS
# requests, prints "USER SYSTEM ORIGIN": µs per request of the proxy's user
# and system time and of the origin's both.
cpu_per_request() {
	awk -v r="$1" -v t="$2" -v hz="$(getconf CLK_TCK)" -v a="$3" -v b="$4" 'BEGIN {
		split(a, x, " "); split(b, y, " "); k = 1e6 / hz / (r * t)
		printf "%.1f %.1f %.1f", (y[1] - x[1]) * k, (y[2] - x[2]) * k, (y[3] + y[4] - x[3] - x[4]) * k }'
}
