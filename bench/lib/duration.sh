# bench/lib/duration.sh — Go/wrk durations in seconds, for the bench scripts'
# per-request arithmetic; sourced by bench/run.sh and bench/ab.sh.

# seconds DURATION: a wrk/Go duration ("5s", "500ms", "1m") in seconds.
seconds() {
	awk -v d="$1" 'BEGIN { n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
		f = (u == "ms") ? 0.001 : (u == "m") ? 60 : (u == "h") ? 3600 : 1; printf "%g", n * f }'
}
