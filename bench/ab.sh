#!/usr/bin/env bash
# bench/ab.sh — two or more builds (or nginx) measured in alternation.
#
#   bench/ab.sh BUILD_A BUILD_B [nginx] [ceiling]
#
# Each BUILD is a gatehouse binary; "nginx" is nginx with bench/run.sh's
# configuration (bench/lib/nginx.sh, one worker); "ceiling" is
# bench/cmd/ceiling on fasthttp's server — one key check and fasthttp's
# HostClient, nothing else: the fastest forwarder a Go gateway of this design
# could be, to tell the Go floor's tail from the gateway's own. For PAIRS
# rounds, every build in turn: a fresh gateway on a fresh embedded store,
# bench/bin/setup, optionally a garbage-key flood (FLOOD), WRKD of wrk with
# the key, then one measurement —
#   MODE=paced  p99 at RATE req/s (bench/bin/paced, 64 connections, 2 s of
#               warm-up, DURATION measured), with the status errors, which
#               must be 0 (a wrong key measures the rejection path), and
#               the CPU per request of the server and of the origin
#   MODE=wrk    req/s of DURATION of wrk, and the gateway's CPU ticks
# Pinned as bench/run.sh: the origin and the server on SERVER_CPUS, the load
# on WRK_CPUS. Single runs on a shared machine move by 2×; the point is the
# alternation: compare the builds pair by pair and by their medians.
#
# Settings: PAIRS=5 MODE=paced RATE=4000 DURATION=5s WRKD=3s FLOOD= (e.g.
# 15s) WRK_CPUS=0 SERVER_CPUS=1 PORT=19080 (the proxy; PORT+1 the admin
# API, PORT+2 the origin). PERF=DIR also records the server's CPU profile
# over each measurement (perf record -g at 2 999 Hz, on the load's CPU) into
# DIR/ROUND-BUILD.data, with the measurement's request count beside it in
# ROUND-BUILD.requests, so profiles of two rates or builds compare per
# request (perf report -i FILE --no-children --sort symbol).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bench/bin
# shellcheck source=bench/lib/nginx.sh
source "$ROOT/bench/lib/nginx.sh"
# shellcheck source=bench/lib/steal.sh
source "$ROOT/bench/lib/steal.sh"
# shellcheck source=bench/lib/cpu.sh
source "$ROOT/bench/lib/cpu.sh"
PAIRS=${PAIRS:-5}
MODE=${MODE:-paced}
RATE=${RATE:-4000}
DURATION=${DURATION:-5s}
WRKD=${WRKD:-3s}
FLOOD=${FLOOD:-}
WRK_CPUS=${WRK_CPUS:-0}
SERVER_CPUS=${SERVER_CPUS:-1}
PORT=${PORT:-19080}
PERF=${PERF:-}
PROXY=127.0.0.1:$PORT ADMIN=127.0.0.1:$((PORT + 1)) ORIGIN=127.0.0.1:$((PORT + 2))

die() {
	printf 'ab: %s\n' "$*" >&2
	exit 1
}
[[ $# -ge 1 ]] || die "usage: bench/ab.sh BUILD [BUILD|nginx|ceiling]... (see the header)"
[[ $MODE == paced || $MODE == wrk ]] || die "MODE must be paced or wrk, not '$MODE'"
for b in "$@"; do
	[[ $b == nginx || $b == ceiling || -x $b ]] || die "$b is neither an executable nor 'nginx' or 'ceiling'"
done
if [[ -n $PERF ]]; then
	command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
	mkdir -p "$PERF" || die "cannot create $PERF"
fi
for tool in wrk taskset; do
	command -v "$tool" >/dev/null || die "$tool not found (apt-get install wrk util-linux)"
done
for tool in upstream setup paced ceiling; do
	[[ -x $BIN/$tool ]] || (cd "$ROOT" && go build -o "$BIN/$tool" "./bench/cmd/$tool") ||
		die "cannot build bench/cmd/$tool"
done

TMP=$(mktemp -d /tmp/gatehouse-ab.XXXXXX)
chmod 700 "$TMP"
SRV= ORIGIN_PID=
cleanup() {
	local rc=$?
	[[ -n $SRV ]] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	[[ -n $ORIGIN_PID ]] && kill "$ORIGIN_PID" 2>/dev/null && wait "$ORIGIN_PID" 2>/dev/null
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT

cat >"$TMP/auth.lua" <<'EOF'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AB_KEY")
EOF
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
NGINX_KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

taskset -c "$SERVER_CPUS" "$BIN/upstream" -addr "$ORIGIN" >"$TMP/origin.log" 2>&1 &
ORIGIN_PID=$!

# wait_up URL: until it answers any HTTP status (10 s).
wait_up() {
	for _ in $(seq 100); do
		curl -s -o /dev/null -m 1 "$1" && return 0
		sleep 0.1
	done
	return 1
}
wait_up "http://$ORIGIN/" || die "the origin did not start: $(cat "$TMP/origin.log")"

# start BUILD DIR: starts the server, sets SRV and KEY.
start() {
	local build=$1 dir=$2
	if [[ $build == nginx ]]; then
		mkdir -p "$dir/logs"
		nginx_conf "$dir" "$PROXY" "$ORIGIN" "$NGINX_KEY" 1 >"$dir/nginx.conf"
		taskset -c "$SERVER_CPUS" nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" &
		SRV=$!
		KEY=$NGINX_KEY
		wait_up "http://$PROXY/" || die "nginx did not start: $(cat "$dir/logs/error.log")"
		return
	fi
	if [[ $build == ceiling ]]; then
		CEILING_KEY=$NGINX_KEY taskset -c "$SERVER_CPUS" "$BIN/ceiling" -addr "$PROXY" -upstream "$ORIGIN" \
			-server fasthttp >"$dir/ceiling.log" 2>&1 &
		SRV=$!
		KEY=$NGINX_KEY
		wait_up "http://$PROXY/" || die "ceiling did not start: $(cat "$dir/ceiling.log")"
		return
	fi
	cat >"$dir/gatehouse.yaml" <<-EOF
		environment: live
		proxy_addr: "$PROXY"
		admin_addr: "$ADMIN"
		database: "sqlite://$dir/gatehouse.db"
		log_level: warn
	EOF
	GATEHOUSE_ADMIN_TOKEN=$TOKEN taskset -c "$SERVER_CPUS" "$build" serve --config "$dir/gatehouse.yaml" \
		--ready-file "$dir/ready.json" >"$dir/gatehouse.log" 2>&1 &
	SRV=$!
	for _ in $(seq 300); do
		[[ -s $dir/ready.json ]] && break
		kill -0 "$SRV" 2>/dev/null || die "$build exited: $(tail -5 "$dir/gatehouse.log")"
		sleep 0.1
	done
	# setup's stdout is the keys, one per line; its report goes to stderr.
	GATEHOUSE_ADMIN_TOKEN=$TOKEN "$BIN/setup" -admin "http://$ADMIN" -upstream "http://$ORIGIN" \
		-proxy "http://$PROXY" -garbage garbage >"$dir/keys" 2>"$dir/setup.log" ||
		die "setup failed against $build: $(cat "$dir/setup.log")"
	KEY=$(sed -n 1p "$dir/keys")
}

load() { # load KEY DURATION: wrk with that key; prints wrk's report
	AB_KEY=$1 taskset -c "$WRK_CPUS" wrk -t1 -c64 -d"$2" -s "$TMP/auth.lua" "http://$PROXY/"
}

# profile PID NAME SECONDS [DELAY]: with PERF, records PID's profile for
# SECONDS, after DELAY seconds, in the background (PERF_PID); perf runs on
# the load's CPU.
PERF_PID=
profile() {
	[[ -n $PERF ]] || return 0
	(
		sleep "${4:-0}"
		exec taskset -c "$WRK_CPUS" perf record -q -F 2999 -g -p "$1" -o "$PERF/$2.data" -- sleep "$3"
	) >/dev/null 2>&1 &
	PERF_PID=$!
}
# profiled NAME REQUESTS: waits for the profile and notes the request count.
profiled() {
	[[ -n $PERF && -n $PERF_PID ]] || return 0
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=
	echo "$2" >"$PERF/$1.requests"
}

for ((p = 1; p <= PAIRS; p++)); do
	for build in "$@"; do
		dir=$(mktemp -d "$TMP/run.XXXX")
		start "$build" "$dir"
		if [[ -n $FLOOD && $build != nginx && $build != ceiling ]]; then load garbage "$FLOOD" >/dev/null; fi
		load "$KEY" "$WRKD" >/dev/null
		name=$(basename "$build")
		if [[ $MODE == wrk ]]; then
			c0=$(awk '{print $14 + $15}' "/proc/$SRV/stat") t0=$(steal_ticks)
			profile "$SRV" "$p-$name" "$(seconds "$DURATION")"
			rps=$(load "$KEY" "$DURATION" | awk '/Requests\/sec/ {print $2}')
			profiled "$p-$name" "$(awk -v r="$rps" -v d="$(seconds "$DURATION")" 'BEGIN { printf "%d", r * d }')"
			c1=$(awk '{print $14 + $15}' "/proc/$SRV/stat")
			printf '%d\t%s\t%s req/s\t%d CPU ticks of the server process\tsteal %s %%\n' "$p" "$build" "$rps" $((c1 - c0)) \
				"$(steal_pct "$t0")"
		else
			# The server's CPU per request (nginx's worker) and the origin's,
			# over the whole paced run, warm-up included: the tail follows
			# how busy they keep their one CPU.
			srv=$SRV
			[[ $build == nginx ]] && srv=$(pgrep -P "$SRV" | head -1)
			c0="$(cpu_ticks "$srv") $(cpu_ticks "$ORIGIN_PID")"
			t0=$(steal_ticks)
			# The profile skips paced's 2-s warm-up.
			profile "$srv" "$p-$name" "$(seconds "$DURATION")" 2
			res=$(GH_BEARER=$KEY taskset -c "$WRK_CPUS" "$BIN/paced" -url "http://$PROXY/" -rate "$RATE" \
				-conns 64 -duration "$DURATION" -warmup 2s 2>&1 | grep -o 'p50_us=[0-9]* p99_us=[0-9]* status_errors=[0-9]*' || true)
			[[ -n $res ]] || die "paced printed no result against $build"
			[[ $res == *status_errors=0 ]] || die "$build answered errors to paced ($res): the key is wrong"
			profiled "$p-$name" "$(awk -v r="$RATE" -v d="$(seconds "$DURATION")" 'BEGIN { printf "%d", r * d }')"
			read -r u sy o <<<"$(cpu_per_request "$RATE" "$(awk -v d="$(seconds "$DURATION")" 'BEGIN { print d + 2 }')" "$c0" \
				"$(cpu_ticks "$srv") $(cpu_ticks "$ORIGIN_PID")")"
			cpu="CPU/req user $u sys $sy origin $o us"
			printf '%d\t%s\t%s\t%s\tsteal %s %%\n' "$p" "$build" "$res" "$cpu" "$(steal_pct "$t0")"
		fi
		kill "$SRV"
		wait "$SRV" 2>/dev/null || true
		SRV=
		rm -rf "$dir"
	done
done
