#!/usr/bin/env bash
# bench/run.sh — Gatehouse against a bare Go proxy, nginx and Caddy, in one run.
#
# Everything is measured in ONE invocation, against the SAME upstream, with the
# SAME wrk settings, and reported as ratios: the machine is small, shared and
# noisy, so absolute numbers drift between runs while ratios taken minutes apart
# stay comparable. See bench/README.md for what each row means and why the
# fairness choices below were made.
#
# Settings (environment):
#   DURATION=10s CONNS=64 THREADS=1   wrk settings, identical for every row
#   WARMUP=2s                         unmeasured wrk run before each row (0 = none)
#   WRK_CPUS=0 SERVER_CPUS=1          taskset CPU lists; PIN=0 disables pinning
#   NGINX_WORKERS=1                   nginx worker_processes (see README)
#   HALF_RATE=1                       also measure p99 at half Gatehouse's peak
#                                     (Gatehouse and nginx at the same offered rate)
#   ROWS="direct bare gatehouse garbage unknown nginx caddy"   subset to run
#   OUT=bench/out                     where results.md and raw wrk output go
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2s}
PIN=${PIN:-1}
WRK_CPUS=${WRK_CPUS:-0}
SERVER_CPUS=${SERVER_CPUS:-1}
NGINX_WORKERS=${NGINX_WORKERS:-1}
HALF_RATE=${HALF_RATE:-1}
ROWS=${ROWS:-"direct bare gatehouse garbage unknown nginx caddy"}
OUT=${OUT:-$ROOT/bench/out}
BIN=$ROOT/bench/bin
LUA=$ROOT/bench/wrk/report.lua

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }
want_row() { [[ " $ROWS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
chmod 700 "$TMP"
declare -a PIDS=()

cleanup() {
	local rc=$?
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop PID: SIGTERM one process we started and wait for it; the seconds it
# took are left in STOP_SECONDS (not printed: a $(...) subshell could not wait).
STOP_SECONDS=
stop() {
	local pid=$1 start end
	start=$(date +%s.%N)
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	end=$(date +%s.%N)
	local keep=() p
	for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	PIDS=("${keep[@]+"${keep[@]}"}")
	STOP_SECONDS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
}

# ---------------------------------------------------------------- tools
ensure_tools() {
	local missing=() tool
	for tool in wrk nginx caddy; do
		command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
	done
	if ((${#missing[@]})); then
		[[ $(id -u) == 0 ]] || die "missing ${missing[*]} and not root: install them with apt-get install ${missing[*]}"
		log "installing ${missing[*]} from Debian"
		# The package lists of a fresh machine are empty; update once, only when needed.
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$TMP/apt.log" 2>&1; then
			apt-get update >>"$TMP/apt.log" 2>&1 || die "apt-get update failed: $(tail -3 "$TMP/apt.log")"
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$TMP/apt.log" 2>&1 ||
				die "apt-get install ${missing[*]} failed: $(tail -3 "$TMP/apt.log")"
		fi
	fi
	command -v go >/dev/null 2>&1 || die "go is not on PATH"
	if [[ $PIN == 1 ]]; then
		command -v taskset >/dev/null 2>&1 || { log "taskset not found: running unpinned"; PIN=0; }
	fi
}

build() {
	mkdir -p "$BIN"
	log "building upstream, bareproxy, setup"
	CGO_ENABLED=0 go build -o "$BIN/" ./bench/cmd/upstream ./bench/cmd/bareproxy ./bench/cmd/setup ||
		die "building bench/cmd failed"
	if want_row gatehouse || want_row garbage || want_row unknown; then
		compgen -G "cmd/gatehouse/*.go" >/dev/null || die "cmd/gatehouse has no Go files yet; run with ROWS=\"direct bare nginx caddy\" to skip the Gatehouse rows"
		log "building gatehouse"
		CGO_ENABLED=0 go build -o "$BIN/gatehouse" ./cmd/gatehouse || die "building ./cmd/gatehouse failed"
	fi
}

# ---------------------------------------------------------------- processes
# Command prefixes that pin servers and wrk to their CPU sets (set in main).
SERVER_ON=()
WRK_ON=()

# launch NAME CMD...: start a server on the server CPUs; its pid is in LAST_PID
# (no command substitution, so the process stays our child and can be waited).
LAST_PID=
launch() {
	local name=$1
	shift
	# exec: the pid we record is the server itself, not a wrapper shell.
	(exec "${SERVER_ON[@]}" "$@") >"$TMP/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# free_port: an unused loopback TCP port (probes from 20000 up).
NEXT_PORT=20000
free_port() {
	while (exec 3<>"/dev/tcp/127.0.0.1/$NEXT_PORT") 2>/dev/null; do
		NEXT_PORT=$((NEXT_PORT + 1))
	done
	FREE_PORT=$NEXT_PORT
	NEXT_PORT=$((NEXT_PORT + 1))
}

# wait_http NAME PID URL: wait until URL answers any HTTP status, or fail with
# the component's log if it exits or stays silent for 20 s.
wait_http() {
	local name=$1 pid=$2 url=$3 i code
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || die "$name exited before answering. Its log:
$(tail -20 "$TMP/$name.log")"
		code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" 2>/dev/null || true)
		[[ $code =~ ^[1-5][0-9][0-9]$ ]] && return 0
		sleep 0.1
	done
	die "$name did not answer at $url within 20 s. Its log:
$(tail -20 "$TMP/$name.log")"
}

# ---------------------------------------------------------------- measuring
declare -A LABEL RPS P50 P99 NON2XX SOCKERR REQS
declare -a ORDER=()

# measure ID LABEL URL BEARER [DELAY_MS]: warm up, then one measured wrk run.
measure() {
	local id=$1 label=$2 url=$3 bearer=$4 delay=${5:-}
	local raw="$OUT/raw/$id.txt"
	if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
		GH_BEARER=$bearer GH_DELAY_MS=$delay \
			"${WRK_ON[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$LUA" "$url" >/dev/null 2>&1 ||
			die "wrk warm-up for $label failed"
	fi
	log "measuring $label ($DURATION)"
	GH_BEARER=$bearer GH_DELAY_MS=$delay \
		"${WRK_ON[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$LUA" "$url" >"$raw" 2>&1 ||
		die "wrk for $label failed: $(tail -3 "$raw")"
	local line
	line=$(grep '^GH_RESULT ' "$raw") || die "wrk for $label printed no GH_RESULT line; see $raw"
	eval "$(awk '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "local requests=%d\n", v["requests"]
		printf "local rps=%.0f\n", v["requests"] / (v["duration_us"] / 1e6)
		printf "local p50=%.2f\n", v["p50_us"] / 1000
		printf "local p99=%.2f\n", v["p99_us"] / 1000
		printf "local non2xx=%d\n", v["status_errors"]
		printf "local sockerr=%d\n", v["connect"] + v["read"] + v["write"] + v["timeout"]
	}' <<<"$line")"
	ORDER+=("$id")
	LABEL[$id]=$label
	REQS[$id]=$requests RPS[$id]=$rps P50[$id]=$p50 P99[$id]=$p99 NON2XX[$id]=$non2xx SOCKERR[$id]=$sockerr
	log "  $label: $rps req/s, p50 $p50 ms, p99 $p99 ms, non-2xx $non2xx, socket errors $sockerr"
}

# expect_ok ID / expect_rejected ID: a row only counts if it measured what its
# label says (a misconfigured proxy answering fast 401s would look "fast").
expect_ok() {
	[[ ${NON2XX[$1]} == 0 && ${SOCKERR[$1]} == 0 ]] ||
		die "${LABEL[$1]}: ${NON2XX[$1]} non-2xx responses and ${SOCKERR[$1]} socket errors out of ${REQS[$1]}; see $OUT/raw/$1.txt"
}
expect_rejected() {
	[[ ${NON2XX[$1]} == "${REQS[$1]}" && ${SOCKERR[$1]} == 0 ]] ||
		die "${LABEL[$1]}: only ${NON2XX[$1]} of ${REQS[$1]} requests rejected, ${SOCKERR[$1]} socket errors; see $OUT/raw/$1.txt"
}

# ---------------------------------------------------------------- rows
start_upstream() {
	free_port
	UP_ADDR=127.0.0.1:$FREE_PORT
	launch upstream "$BIN/upstream" -addr "$UP_ADDR"
	UP_PID=$LAST_PID
	wait_http upstream "$UP_PID" "http://$UP_ADDR/"
}

row_direct() {
	measure direct "direct upstream" "http://$UP_ADDR/" ""
	expect_ok direct
}

row_bare() {
	free_port
	local addr=127.0.0.1:$FREE_PORT pid
	BAREPROXY_KEY=$BENCH_KEY launch bareproxy "$BIN/bareproxy" -addr "$addr" -upstream "http://$UP_ADDR"
	pid=$LAST_PID
	wait_http bareproxy "$pid" "http://$addr/"
	measure bare "bare httputil proxy" "http://$addr/" "$BENCH_KEY"
	expect_ok bare
	stop "$pid"
}

GH_STOP_SECONDS=
row_gatehouse() {
	local dir=$TMP/gatehouse admin_token pid proxy admin
	mkdir -p "$dir"
	admin_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	cat >"$dir/gatehouse.yaml" <<-EOF
		environment: live
		proxy_addr: "127.0.0.1:0"
		admin_addr: "127.0.0.1:0"
		database: "sqlite://$dir/gatehouse.db"
		log_level: warn
	EOF
	GATEHOUSE_ADMIN_TOKEN=$admin_token launch gatehouse "$BIN/gatehouse" serve --config "$dir/gatehouse.yaml" --ready-file "$dir/ready.json"
	pid=$LAST_PID
	local i
	for ((i = 0; i < 300; i++)); do
		[[ -s $dir/ready.json ]] && break
		kill -0 "$pid" 2>/dev/null || die "gatehouse exited before writing its ready file. Its log:
$(tail -20 "$TMP/gatehouse.log")"
		sleep 0.1
	done
	[[ -s $dir/ready.json ]] || die "gatehouse wrote no ready file within 30 s. Its log:
$(tail -20 "$TMP/gatehouse.log")"
	proxy=$(sed -n 's/.*"proxy" *: *"\([^"]*\)".*/\1/p' "$dir/ready.json")
	admin=$(sed -n 's/.*"admin" *: *"\([^"]*\)".*/\1/p' "$dir/ready.json")
	[[ -n $proxy && -n $admin ]] || die "cannot read proxy/admin addresses from ready file: $(cat "$dir/ready.json")"
	wait_http gatehouse "$pid" "http://$proxy/"

	local keys
	keys=$(GATEHOUSE_ADMIN_TOKEN=$admin_token "$BIN/setup" -admin "http://$admin" -upstream "http://$UP_ADDR" \
		-proxy "http://$proxy" -garbage garbage 2>"$TMP/setup.log") ||
		die "gatehouse setup failed: $(cat "$TMP/setup.log")"
	sed 's/^/[bench]   /' "$TMP/setup.log" >&2
	local key unknown
	key=$(sed -n 1p <<<"$keys")
	unknown=$(sed -n 2p <<<"$keys")

	if want_row gatehouse; then
		measure gatehouse "gatehouse (key + call log + identity)" "http://$proxy/" "$key"
		expect_ok gatehouse
		if [[ $HALF_RATE == 1 ]]; then
			HALF_RPS=$((RPS[gatehouse] / 2))
			# Each connection waits CONNS/rate seconds between requests; the
			# achieved rate is a little lower by the response time.
			HALF_DELAY=$(awk -v c="$CONNS" -v r="$HALF_RPS" 'BEGIN { printf "%.3f", c * 1000 / r }')
			measure gatehouse_half "gatehouse @ half peak (~$HALF_RPS offered)" "http://$proxy/" "$key" "$HALF_DELAY"
			expect_ok gatehouse_half
		fi
	fi
	if want_row garbage; then
		measure garbage "gatehouse, garbage-key flood" "http://$proxy/" "garbage"
		expect_rejected garbage
	fi
	if want_row unknown; then
		measure unknown "gatehouse, unknown-key flood" "http://$proxy/" "$unknown"
		expect_rejected unknown
	fi
	GH_STATS=$(curl -s -m 5 -H "Authorization: Bearer $admin_token" "http://$admin/admin/v1/stats" 2>/dev/null || true)
	stop "$pid"
	GH_STOP_SECONDS=$STOP_SECONDS
	log "gatehouse stopped (graceful shutdown incl. call-log flush) in ${GH_STOP_SECONDS}s"
}

row_nginx() {
	free_port
	local addr=127.0.0.1:$FREE_PORT dir=$TMP/nginx pid
	mkdir -p "$dir/logs"
	cat >"$dir/nginx.conf" <<-EOF
		# Generated by bench/run.sh. One worker on the server CPU set: the same
		# compute budget the Go proxies get from GOMAXPROCS under taskset.
		worker_processes $NGINX_WORKERS;
		daemon off;
		pid $dir/nginx.pid;
		error_log $dir/logs/error.log warn;
		events { worker_connections 4096; }
		http {
		    access_log off;
		    client_body_temp_path $dir/client_body;
		    proxy_temp_path $dir/proxy_temp;
		    fastcgi_temp_path $dir/fastcgi_temp;
		    uwsgi_temp_path $dir/uwsgi_temp;
		    scgi_temp_path $dir/scgi_temp;
		    upstream bench_upstream {
		        server $UP_ADDR;
		        keepalive 256;
		    }
		    server {
		        listen $addr;
		        location / {
		            # The same single key check as the bare proxy.
		            if (\$http_authorization != "Bearer $BENCH_KEY") { return 401; }
		            proxy_pass http://bench_upstream;
		            proxy_http_version 1.1;
		            proxy_set_header Connection "";
		        }
		    }
		}
	EOF
	chmod 600 "$dir/nginx.conf"
	launch nginx nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf"
	pid=$LAST_PID
	wait_http nginx "$pid" "http://$addr/"
	measure nginx "nginx proxy_pass" "http://$addr/" "$BENCH_KEY"
	expect_ok nginx
	if [[ $HALF_RATE == 1 && -n ${HALF_DELAY:-} ]]; then
		measure nginx_half "nginx @ same rate (~$HALF_RPS offered)" "http://$addr/" "$BENCH_KEY" "$HALF_DELAY"
		expect_ok nginx_half
	fi
	stop "$pid"
}

row_caddy() {
	free_port
	local addr=127.0.0.1:$FREE_PORT dir=$TMP/caddy pid
	mkdir -p "$dir"
	cat >"$dir/Caddyfile" <<-EOF
		# Generated by bench/run.sh: no admin endpoint, no HTTPS, no access log.
		{
		    admin off
		    auto_https off
		    log {
		        level ERROR
		    }
		}
		http://$addr {
		    # The same single key check as the bare proxy.
		    @nokey not header Authorization "Bearer $BENCH_KEY"
		    respond @nokey 401
		    reverse_proxy $UP_ADDR {
		        transport http {
		            keepalive_idle_conns_per_host 256
		        }
		    }
		}
	EOF
	chmod 600 "$dir/Caddyfile"
	XDG_DATA_HOME=$dir/data XDG_CONFIG_HOME=$dir/config HOME=$dir \
		launch caddy caddy run --config "$dir/Caddyfile" --adapter caddyfile
	pid=$LAST_PID
	wait_http caddy "$pid" "http://$addr/"
	measure caddy "caddy reverse_proxy" "http://$addr/" "$BENCH_KEY"
	expect_ok caddy
	stop "$pid"
}

# ---------------------------------------------------------------- report
ratio() { # ratio ID REF → "1.23x" or "-"
	local a=${RPS[$1]:-} b=${RPS[$2]:-}
	[[ -n $a && -n $b && $b != 0 ]] || { printf -- '-'; return; }
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }'
}

# check LABEL VALUE OP THRESHOLD: one acceptance line, "ok"/"MISS".
check() {
	local label=$1 value=$2 op=$3 limit=$4
	[[ -n $value ]] || { printf '| %s | not measured | %s %s | - |\n' "$label" "$op" "$limit"; return; }
	awk -v l="$label" -v v="$value" -v op="$op" -v t="$limit" 'BEGIN {
		ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0)
		printf "| %s | %s | %s %s | %s |\n", l, v, op, t, ok ? "ok" : "MISS"
	}'
}
num_ratio() { # like ratio, bare number
	local a=${RPS[$1]:-} b=${RPS[$2]:-}
	[[ -n $a && -n $b && $b != 0 ]] || return 0
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
}

report() {
	local id commit cpu
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD -- cmd internal 2>/dev/null || commit="$commit+dirty"
	cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
	{
		echo "# Gatehouse benchmark"
		echo
		echo "- when: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"
		echo "- command: \`DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS WARMUP=$WARMUP PIN=$PIN bench/run.sh\`"
		echo "- wrk: \`wrk -t$THREADS -c$CONNS -d$DURATION --latency\`, ${WARMUP} warm-up per row"
		if [[ $PIN == 1 ]]; then
			echo "- pinning: wrk on CPU $WRK_CPUS; upstream and the proxy under test on CPU $SERVER_CPUS; nginx worker_processes $NGINX_WORKERS"
		else
			echo "- pinning: none; nginx worker_processes $NGINX_WORKERS"
		fi
		echo "- machine: $(nproc) CPUs, $cpu; load average at start $LOAD_AT_START"
		echo "- versions: $(go version | awk '{print $3}'), $(nginx -v 2>&1 | sed 's/.*: //'), caddy $(caddy version 2>/dev/null | awk '{print $1}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
		echo
		echo "| row | req/s | p50 ms | p99 ms | vs bare | vs nginx | vs caddy | vs gatehouse |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		for id in "${ORDER[@]}"; do
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${LABEL[$id]}" "${RPS[$id]}" "${P50[$id]}" "${P99[$id]}" \
				"$(ratio "$id" bare)" "$(ratio "$id" nginx)" "$(ratio "$id" caddy)" "$(ratio "$id" gatehouse)"
		done
		echo
		if [[ -n $GH_STOP_SECONDS ]]; then
			echo "Gatehouse graceful shutdown (includes the final call-log flush) took ${GH_STOP_SECONDS} s."
			echo
		fi
		echo "Targets (issue 2 = core, issue 3 = pooled engine):"
		echo
		echo "| target | measured | wanted | |"
		echo "|---|---:|---:|---|"
		check "#2 gatehouse / bare proxy" "$(num_ratio gatehouse bare)" ">=" 0.9
		check "#2 gatehouse / caddy" "$(num_ratio gatehouse caddy)" ">=" 1.0
		check "#2 garbage flood / gatehouse allowed" "$(num_ratio garbage gatehouse)" ">=" 2.0
		check "#2 unknown flood / gatehouse allowed" "$(num_ratio unknown gatehouse)" ">=" 2.0
		check "#3 gatehouse / nginx" "$(num_ratio gatehouse nginx)" ">=" 0.6
		check "#3 gatehouse / bare proxy" "$(num_ratio gatehouse bare)" ">=" 1.8
		check "#3 gatehouse / caddy" "$(num_ratio gatehouse caddy)" ">=" 1.8
		check "#3 garbage flood / gatehouse allowed" "$(num_ratio garbage gatehouse)" ">=" 1.5
		if [[ -n ${P99[gatehouse_half]:-} && -n ${P99[nginx_half]:-} ]]; then
			check "#3 p99 at half peak, gatehouse (ms)" "${P99[gatehouse_half]}" "<=" \
				"$(awk -v n="${P99[nginx_half]}" 'BEGIN { printf "%.2f", n + 1 }')"
		fi
		echo
		echo "Every allowed row answered 2xx to every request and every flood row 4xx to every request, with no socket errors (checked)."
	} >"$OUT/results.md"
}

# ---------------------------------------------------------------- main
main() {
	ensure_tools
	build
	mkdir -p "$OUT/raw"
	LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
	if [[ $PIN == 1 && $(nproc) -lt 2 ]]; then
		log "fewer than 2 CPUs: running unpinned"
		PIN=0
	fi
	if [[ $PIN == 1 ]]; then
		SERVER_ON=(taskset -c "$SERVER_CPUS")
		WRK_ON=(taskset -c "$WRK_CPUS")
	else
		SERVER_ON=(env)
		WRK_ON=(env)
	fi
	# The key the non-Gatehouse proxies check (Gatehouse issues its own).
	BENCH_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

	start_upstream
	want_row direct && row_direct
	want_row bare && row_bare
	if want_row gatehouse || want_row garbage || want_row unknown; then row_gatehouse; fi
	want_row nginx && row_nginx
	want_row caddy && row_caddy

	report
	echo
	cat "$OUT/results.md"
	log "written to $OUT/results.md (raw wrk output in $OUT/raw/)"
}

main "$@"
