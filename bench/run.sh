#!/usr/bin/env bash
# bench/run.sh — Gatehouse against a bare Go proxy, nginx and Caddy, in one run.
#
# Everything is measured in ONE invocation, against the SAME upstream, with the
# SAME wrk settings, and reported as ratios: the machine is small, shared and
# noisy, so absolute numbers drift between runs while ratios taken within the
# same minutes stay comparable. bench/README.md says what each row means and
# why the fairness choices below were made.
#
# Settings (environment):
#   DURATION=10s CONNS=64 THREADS=1   wrk settings, identical for every row
#   WARMUP=2s                         unmeasured wrk run before each row (0 = none)
#   ROUNDS=1                          repeat all rows, interleaved; report medians
#   PIN=1 WRK_CPUS=0 SERVER_CPUS=1    taskset: wrk on one CPU, servers on the other
#   NGINX_WORKERS=1                   nginx worker_processes
#   HALF_RATE=1                       also p99 at half Gatehouse's peak, for
#                                     Gatehouse and nginx at the same offered rate
#                                     (open loop: bench/cmd/paced), and the Go
#                                     floor (row "ceiling") between them
#   HALF_PEAK=fresh                   the peak that is halved: "fresh" measures
#                                     Gatehouse's peak with wrk right before each
#                                     paced set (row "gatehouse peak before the
#                                     paced set"); "run" takes the median of the
#                                     API-key row's rounds, minutes earlier
#   STEAL_MAX=2 RETAKES=2             a half-rate set (Gatehouse, the floor, nginx)
#                                     in which any run lost more than STEAL_MAX %
#                                     of the CPU to other guests is measured again,
#                                     up to RETAKES times per round; every retaken
#                                     set is listed in the report
#   ROWS="direct bare ceiling gatehouse quiet garbage unknown jwt sig policy nginx caddy"
#                                     subset to run ("sig" is two rows: the
#                                     signed requests and the same generator
#                                     with the API key, bench/cmd/sigload)
#   OUT=bench/out                     results.md and raw wrk output (raw/)
#   GATEHOUSE_REF=                    build gatehouse from this commit (clean
#                                     export) instead of the work tree
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-1}
PIN=${PIN:-1}
WRK_CPUS=${WRK_CPUS:-0}
SERVER_CPUS=${SERVER_CPUS:-1}
NGINX_WORKERS=${NGINX_WORKERS:-1}
HALF_RATE=${HALF_RATE:-1}
HALF_PEAK=${HALF_PEAK:-fresh}
STEAL_MAX=${STEAL_MAX:-2}
RETAKES=${RETAKES:-2}
ROWS=${ROWS:-"direct bare ceiling gatehouse quiet garbage unknown jwt sig policy nginx caddy"}
OUT=${OUT:-$ROOT/bench/out}
GATEHOUSE_REF=${GATEHOUSE_REF:-}
GH_BUILT_FROM=
BIN=$ROOT/bench/bin
LUA=$ROOT/bench/wrk/report.lua
# shellcheck source=bench/lib/nginx.sh
source "$ROOT/bench/lib/nginx.sh"
# shellcheck source=bench/lib/steal.sh
source "$ROOT/bench/lib/steal.sh"
# shellcheck source=bench/lib/cpu.sh
source "$ROOT/bench/lib/cpu.sh"

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
	printf '[bench] ERROR: %s\n' "$*" >&2
	exit 1
}
want_row() { [[ " $ROWS " == *" $1 "* ]]; }
want_gatehouse() {
	want_row gatehouse || want_row garbage || want_row unknown || want_row jwt || want_row sig || want_row policy || want_row quiet
}
is_zero_duration() { [[ $1 == 0 || $1 == 0s ]]; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ $HALF_PEAK == fresh || $HALF_PEAK == run ]] || die "HALF_PEAK must be fresh or run, not '$HALF_PEAK'"

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
chmod 700 "$TMP"
declare -a PIDS=()

# Every server this script starts is recorded in PIDS and stopped here, on
# success, failure or Ctrl-C alike.
cleanup() {
	local rc=$? pid
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

# ---------------------------------------------------------------- tools
ensure_tools() {
	local missing=() tool
	for tool in wrk nginx caddy curl; do
		command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
	done
	if ((${#missing[@]})); then
		[[ $(id -u) == 0 ]] || die "missing ${missing[*]} and not root: apt-get install ${missing[*]}"
		log "installing ${missing[*]} from Debian"
		# A fresh machine has no package lists: update once, only when needed.
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$TMP/apt.log" 2>&1; then
			apt-get update >>"$TMP/apt.log" 2>&1 || die "apt-get update failed: $(tail -3 "$TMP/apt.log")"
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$TMP/apt.log" 2>&1 ||
				die "apt-get install ${missing[*]} failed: $(tail -3 "$TMP/apt.log")"
		fi
	fi
	command -v go >/dev/null 2>&1 || die "go is not on PATH"
	if [[ $PIN == 1 ]] && ! command -v taskset >/dev/null 2>&1; then
		log "taskset not found: running unpinned"
		PIN=0
	fi
	if [[ $PIN == 1 && $(nproc) -lt 2 ]]; then
		log "fewer than 2 CPUs: running unpinned"
		PIN=0
	fi
}

build() {
	mkdir -p "$BIN"
	log "building upstream, bareproxy, ceiling, setup, paced, jwks, sigload"
	CGO_ENABLED=0 go build -o "$BIN/" ./bench/cmd/upstream ./bench/cmd/bareproxy ./bench/cmd/ceiling ./bench/cmd/setup \
		./bench/cmd/paced ./bench/cmd/jwks ./bench/cmd/sigload ||
		die "building bench/cmd failed"
	if want_gatehouse; then
		compgen -G "cmd/gatehouse/*.go" >/dev/null ||
			die "cmd/gatehouse has no Go files; ROWS=\"direct bare nginx caddy\" skips the Gatehouse rows"
		if [[ -n $GATEHOUSE_REF ]]; then
			# A clean export of one commit: in a shared work tree, other
			# people's half-finished edits then neither break nor skew the run.
			local sha
			sha=$(git rev-parse --verify "$GATEHOUSE_REF^{commit}" 2>/dev/null) || die "GATEHOUSE_REF=$GATEHOUSE_REF is not a commit"
			log "building gatehouse from commit ${sha:0:7} ($GATEHOUSE_REF)"
			mkdir -p "$TMP/src"
			git archive "$sha" | tar -x -C "$TMP/src" || die "git archive $GATEHOUSE_REF failed"
			(cd "$TMP/src" && CGO_ENABLED=0 go build -o "$BIN/gatehouse" ./cmd/gatehouse) ||
				die "building ./cmd/gatehouse at $GATEHOUSE_REF failed"
			GH_BUILT_FROM="commit ${sha:0:7} ($GATEHOUSE_REF, clean export)"
		else
			log "building gatehouse from the work tree"
			CGO_ENABLED=0 go build -o "$BIN/gatehouse" ./cmd/gatehouse ||
				die "building ./cmd/gatehouse failed (in a shared tree, GATEHOUSE_REF=HEAD builds the last commit instead)"
			GH_BUILT_FROM="work tree at $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
			git diff --quiet HEAD -- cmd internal go.mod go.sum 2>/dev/null || GH_BUILT_FROM="$GH_BUILT_FROM with uncommitted changes"
		fi
	fi
}

# ---------------------------------------------------------------- processes
# Command prefixes that pin servers and wrk to their CPU sets (set in main).
SERVER_ON=()
WRK_ON=()

# launch NAME CMD...: start a server on the server CPUs, log in $TMP/NAME.log;
# its pid is left in LAST_PID (no $(...), so it stays our child).
LAST_PID=
launch() {
	local name=$1
	shift
	# exec: the recorded pid is the server itself, not a wrapper shell.
	(exec "${SERVER_ON[@]}" "$@") >"$TMP/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# free_port: an unused loopback TCP port in FREE_PORT (probes from 20000 up).
NEXT_PORT=20000
FREE_PORT=
free_port() {
	while (exec 3<>"/dev/tcp/127.0.0.1/$NEXT_PORT") 2>/dev/null; do
		NEXT_PORT=$((NEXT_PORT + 1))
	done
	FREE_PORT=$NEXT_PORT
	NEXT_PORT=$((NEXT_PORT + 1))
}

# wait_http NAME PID URL: wait until URL answers any HTTP status; fail with the
# component's log if it exits first or stays silent for 20 s.
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

# json_int FIELD JSON: the first integer value of "FIELD" in JSON ("?" if absent).
json_int() {
	local v
	v=$(grep -o "\"$1\" *: *[0-9]*" <<<"$2" | head -1 | grep -o '[0-9]*$' || true)
	printf '%s' "${v:-?}"
}

# ---------------------------------------------------------------- servers
declare -A URL BEARER

start_upstream() {
	free_port
	UP_ADDR=127.0.0.1:$FREE_PORT
	launch upstream "$BIN/upstream" -addr "$UP_ADDR"
	wait_http upstream "$LAST_PID" "http://$UP_ADDR/"
	UP_PID=$LAST_PID
	URL[direct]=http://$UP_ADDR/
	BEARER[direct]=
}

start_bare() {
	free_port
	local addr=127.0.0.1:$FREE_PORT
	BAREPROXY_KEY=$BENCH_KEY launch bareproxy "$BIN/bareproxy" -addr "$addr" -upstream "http://$UP_ADDR"
	wait_http bareproxy "$LAST_PID" "http://$addr/"
	URL[bare]=http://$addr/
	BEARER[bare]=$BENCH_KEY
}

# The Go floor: bench/cmd/ceiling on fasthttp's server, one key check and
# fasthttp's HostClient — what any gateway of Gatehouse's design pays before
# it does anything of its own.
CEILING_PID=
start_ceiling() {
	free_port
	local addr=127.0.0.1:$FREE_PORT
	CEILING_KEY=$BENCH_KEY launch ceiling "$BIN/ceiling" -addr "$addr" -upstream "$UP_ADDR" -server fasthttp
	wait_http ceiling "$LAST_PID" "http://$addr/"
	CEILING_PID=$LAST_PID
	URL[ceiling]=http://$addr/
	BEARER[ceiling]=$BENCH_KEY
}

# boot_gatehouse NAME EXTRA_YAML: start a Gatehouse on its own embedded
# store with a fresh admin token; sets B_PID, B_PROXY, B_ADMIN, B_TOKEN.
boot_gatehouse() {
	local name=$1 extra=$2 dir=$TMP/$1 i
	mkdir -p "$dir"
	B_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	cat >"$dir/gatehouse.yaml" <<-EOF
		environment: live
		proxy_addr: "127.0.0.1:0"
		admin_addr: "127.0.0.1:0"
		database: "sqlite://$dir/gatehouse.db"
		log_level: warn
		$extra
	EOF
	GATEHOUSE_ADMIN_TOKEN=$B_TOKEN launch "$name" "$BIN/gatehouse" serve --config "$dir/gatehouse.yaml" --ready-file "$dir/ready.json"
	B_PID=$LAST_PID
	for ((i = 0; i < 300; i++)); do
		[[ -s $dir/ready.json ]] && break
		kill -0 "$B_PID" 2>/dev/null || die "$name exited before writing its ready file. Its log:
$(tail -20 "$TMP/$name.log")"
		sleep 0.1
	done
	[[ -s $dir/ready.json ]] || die "$name wrote no ready file within 30 s. Its log:
$(tail -20 "$TMP/$name.log")"
	B_PROXY=$(sed -n 's/.*"proxy" *: *"\([^"]*\)".*/\1/p' "$dir/ready.json")
	B_ADMIN=$(sed -n 's/.*"admin" *: *"\([^"]*\)".*/\1/p' "$dir/ready.json")
	[[ -n $B_PROXY && -n $B_ADMIN ]] || die "cannot read proxy/admin addresses from $name's ready file: $(cat "$dir/ready.json")"
	wait_http "$name" "$B_PID" "http://$B_PROXY/"
}

# The second Gatehouse of the "quiet" row: metrics and rollups off (issue 7:
# with them on, the API-key row stays >= 0.95x of this one). Same upstream,
# same setup; only its API-key route is measured.
QUIET_PID=
QUIET_ADMIN=
QUIET_TOKEN=
start_quiet_gatehouse() {
	boot_gatehouse gatehouse-quiet $'metrics: {enabled: false}\nanalytics: {enabled: false}'
	QUIET_PID=$B_PID QUIET_ADMIN=$B_ADMIN QUIET_TOKEN=$B_TOKEN
	local keys
	keys=$(GATEHOUSE_ADMIN_TOKEN=$QUIET_TOKEN "$BIN/setup" -admin "http://$QUIET_ADMIN" \
		-upstream "http://$UP_ADDR" -proxy "http://$B_PROXY" -garbage garbage 2>"$TMP/setup-quiet.log") ||
		die "gatehouse (quiet) setup failed: $(cat "$TMP/setup-quiet.log")"
	URL[quiet]=http://$B_PROXY/ BEARER[quiet]=$(sed -n 1p <<<"$keys")
	local status
	status=$(curl -s -m 5 -H "Authorization: Bearer $QUIET_TOKEN" "http://$QUIET_ADMIN/admin/v1/status")
	grep -Eq '"metrics": *\{ *"enabled": *false' <<<"$status" ||
		die "the quiet gatehouse does not report metrics off in /admin/v1/status: $status"
}

GH_PID=
UP_PID=
NGINX_PID=
GH_ADMIN=
GH_TOKEN=
start_gatehouse() {
	local dir=$TMP/gatehouse i
	boot_gatehouse gatehouse ""
	GH_PID=$B_PID GH_ADMIN=$B_ADMIN GH_TOKEN=$B_TOKEN
	local proxy=$B_PROXY

	# The JWT row's identity provider: an RSA key generated at start, served
	# as a JWKS for the whole run, and one long-lived token it signed.
	local jwt_flags=() jwt_token=
	if want_row jwt; then
		free_port
		local jwks_addr=127.0.0.1:$FREE_PORT
		launch jwks "$BIN/jwks" -addr "$jwks_addr" -token-file "$dir/jwt.token"
		for ((i = 0; i < 200; i++)); do
			[[ -s $dir/jwt.token ]] && break
			kill -0 "$LAST_PID" 2>/dev/null || die "jwks exited. Its log:
$(tail -20 "$TMP/jwks.log")"
			sleep 0.1
		done
		[[ -s $dir/jwt.token ]] || die "jwks wrote no token within 20 s"
		jwt_token=$(<"$dir/jwt.token")
		jwt_flags=(-jwks-url "http://$jwks_addr/.well-known/jwks.json")
	fi

	# Tenants, consumers, keys, credentials, services, routes, a subscription
	# and an issuer through the admin API; setup also proves every measured
	# path (200 + identity headers; garbage key rejected, unknown key rejected
	# as key.unknown; policy key 200 where a key without scope and
	# subscription gets 403; a signed request 200 and the same one again
	# sig.replayed; the JWT 200) before anything is timed.
	local keys
	keys=$(GATEHOUSE_ADMIN_TOKEN=$GH_TOKEN GH_JWT_TOKEN=$jwt_token "$BIN/setup" -admin "http://$GH_ADMIN" \
		-upstream "http://$UP_ADDR" -proxy "http://$proxy" -garbage garbage "${jwt_flags[@]}" 2>"$TMP/setup.log") ||
		die "gatehouse setup failed: $(cat "$TMP/setup.log")"
	sed 's/^/[bench]   /' "$TMP/setup.log" >&2
	URL[gatehouse]=http://$proxy/ URL[garbage]=http://$proxy/ URL[unknown]=http://$proxy/
	BEARER[gatehouse]=$(sed -n 1p <<<"$keys")
	BEARER[garbage]=garbage
	BEARER[unknown]=$(sed -n 2p <<<"$keys")
	URL[policy]=http://$proxy/policy BEARER[policy]=$(sed -n 3p <<<"$keys")
	URL[jwt]=http://$proxy/jwt BEARER[jwt]=$jwt_token
	# sigload rows: the signed one, and the same generator with the API key.
	URL[sig]=http://$proxy/sig BEARER[sig]=
	URL[sigkey]=http://$proxy/ BEARER[sigkey]=${BEARER[gatehouse]}
	SIG_KEYID=$(sed -n 4p <<<"$keys")
	SIG_SECRET=$(sed -n 5p <<<"$keys")
}
SIG_KEYID=
SIG_SECRET=

# gatehouse_status [ADMIN TOKEN]: GET /admin/v1/status of the main Gatehouse
# (or of the one at ADMIN); empty if it is not running.
gatehouse_status() {
	local admin=${1:-$GH_ADMIN} token=${2:-$GH_TOKEN}
	[[ -n $admin ]] || return 0
	curl -s -m 5 -H "Authorization: Bearer $token" "http://$admin/admin/v1/status" 2>/dev/null || true
}

# drain_calllog: wait (≤ 10 s per Gatehouse) until every Gatehouse's
# call-log queue is empty, so that no row is measured while one flushes the
# previous row's records.
drain_calllog() {
	local i queued admin token
	for admin in "$GH_ADMIN" "$QUIET_ADMIN"; do
		[[ -n $admin ]] || continue
		token=$GH_TOKEN
		[[ $admin == "$QUIET_ADMIN" ]] && token=$QUIET_TOKEN
		for ((i = 0; i < 100; i++)); do
			queued=$(json_int queued "$(gatehouse_status "$admin" "$token")")
			[[ $queued == 0 ]] && break
			sleep 0.1
		done
		[[ $queued == 0 ]] || log "gatehouse at $admin still has $queued call records queued after 10 s; measuring anyway"
	done
}

start_nginx() {
	free_port
	local addr=127.0.0.1:$FREE_PORT dir=$TMP/nginx
	mkdir -p "$dir/logs"
	nginx_conf "$dir" "$addr" "$UP_ADDR" "$BENCH_KEY" "$NGINX_WORKERS" >"$dir/nginx.conf"
	chmod 600 "$dir/nginx.conf"
	launch nginx nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf"
	wait_http nginx "$LAST_PID" "http://$addr/"
	NGINX_PID=$LAST_PID
	URL[nginx]=http://$addr/
	BEARER[nginx]=$BENCH_KEY
}

start_caddy() {
	free_port
	local addr=127.0.0.1:$FREE_PORT dir=$TMP/caddy
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
	wait_http caddy "$LAST_PID" "http://$addr/"
	URL[caddy]=http://$addr/
	BEARER[caddy]=$BENCH_KEY
}

# ---------------------------------------------------------------- measuring
declare -A LABEL=(
	[direct]="direct upstream"
	[bare]="bare httputil proxy"
	[ceiling]="Go floor: fasthttp server + HostClient, key check only"
	[gatehouse]="gatehouse (key + call log + identity)"
	[quiet]="gatehouse (key), metrics and rollups off"
	[garbage]="gatehouse, garbage-key flood"
	[unknown]="gatehouse, unknown-key flood"
	[jwt]="gatehouse, JWT RS256 (repeated token)"
	[policy]="gatehouse, key + scope + subscription + rate limit"
	[sigkey]="gatehouse (key), sigload generator"
	[sig]="gatehouse, RFC 9421 hmac-sha256, sigload generator"
	[nginx]="nginx proxy_pass"
	[caddy]="caddy reverse_proxy"
	[gatehouse_peak]="gatehouse peak before the paced set"
	[gatehouse_half]="gatehouse paced at half its peak"
	[ceiling_half]="Go floor paced at the same rate"
	[nginx_half]="nginx paced at the same rate"
)
# What each row's responses must be: "ok" (all 2xx) or "rejected" (all 4xx).
declare -A EXPECT=(
	[direct]=ok [bare]=ok [ceiling]=ok [ceiling_half]=ok [gatehouse]=ok [garbage]=rejected [unknown]=rejected
	[nginx]=ok [caddy]=ok [gatehouse_half]=ok [nginx_half]=ok [gatehouse_peak]=ok
	[jwt]=ok [policy]=ok [sigkey]=ok [sig]=ok [quiet]=ok
)
# The row each extra row is judged against, measured in the same run with
# the same generator: wrk rows against the API-key row, the signature row
# against the API-key row of its own generator (sigload costs more per
# request than wrk, so only that ratio is fair).
declare -A KEYREF=([jwt]=gatehouse [policy]=gatehouse [sigkey]=gatehouse [sig]=sigkey [quiet]=gatehouse)
# Rows driven by bench/cmd/sigload instead of wrk, and its mode.
declare -A SIGLOAD=([sigkey]=key [sig]=sig)
# Per-round samples (space-separated) and the medians computed from them.
declare -A S_RPS S_P50 S_P99 S_STEAL RPS P50 P99 STEAL PACED S_PACED
# CPU per request of a paced row's proxy (user, system) and of the origin
# behind it (user + system), in µs: samples and medians.
declare -A S_CPUU S_CPUS S_CPUO CPUU CPUS CPUO
declare -a ORDER=() NOTES=() RETAKEN=()

# wrk_run DURATION URL BEARER FILE: one wrk run, its output in FILE.
wrk_run() {
	local duration=$1 url=$2 bearer=$3 file=$4
	GH_BEARER=$bearer "${WRK_ON[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$duration" --latency -s "$LUA" "$url" >"$file" 2>&1
}

# parse_result FILE: the GH_RESULT line into R_REQUESTS, R_RPS, R_P50, R_P99
# (ms), R_NON2XX, R_SOCKERR.
parse_result() {
	local line
	line=$(grep '^GH_RESULT ' "$1") || return 1
	eval "$(awk '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "R_REQUESTS=%d\n", v["requests"]
		printf "R_RPS=%.0f\n", v["requests"] / (v["duration_us"] / 1e6)
		printf "R_P50=%.2f\n", v["p50_us"] / 1000
		printf "R_P99=%.2f\n", v["p99_us"] / 1000
		printf "R_NON2XX=%d\n", v["status_errors"]
		printf "R_SOCKERR=%d\n", v["connect"] + v["read"] + v["write"] + v["timeout"]
		printf "R_SOCKDETAIL=\"connect %d, read %d, write %d, timeout %d\"\n", v["connect"], v["read"], v["write"], v["timeout"]
	}' <<<"$line")"
}

# measure ID ROUND [TARGET_RPS]: warm up, then one measured run of row ID.
# With TARGET_RPS the row is paced: bench/cmd/paced offers exactly that rate
# (open loop, latency timed from each request's due time; see its doc) with
# the same connection count, on wrk's CPU.
measure() {
	local id=$1 round=$2 target=${3:-}
	local base=${id%_half}
	base=${base%_peak}
	local url=${URL[$base]} bearer=${BEARER[$base]} label=${LABEL[$id]}
	local raw="$OUT/raw/$id.r$round.txt" ticks0
	drain_calllog
	if [[ -n ${SIGLOAD[$id]:-} ]]; then
		# One process: warm-up and measured window on the same connections.
		local warm=$WARMUP
		is_zero_duration "$warm" && warm=0s
		log "round $round/$ROUNDS: $label ($DURATION)"
		ticks0=$(steal_ticks)
		GH_BEARER=$bearer GH_SIG_KEYID=$SIG_KEYID GH_SIG_SECRET=$SIG_SECRET "${WRK_ON[@]}" "$BIN/sigload" \
			-mode "${SIGLOAD[$id]}" -url "$url" -conns "$CONNS" -duration "$DURATION" -warmup "$warm" >"$raw" 2>&1 ||
			die "sigload run for $label failed: $(tail -3 "$raw")"
	elif [[ -n $target ]]; then
		log "round $round/$ROUNDS: $label ($DURATION at $target/s)"
		local warm=$WARMUP
		is_zero_duration "$warm" && warm=0s
		local srv cpu0
		srv=$(server_pid "$base")
		cpu0="$(cpu_ticks "$srv") $(cpu_ticks "${UP_PID:-}")"
		ticks0=$(steal_ticks)
		GH_BEARER=$bearer "${WRK_ON[@]}" "$BIN/paced" -url "$url" -rate "$target" -conns "$CONNS" \
			-duration "$DURATION" -warmup "$warm" >"$raw" 2>&1 || die "paced run for $label failed: $(tail -3 "$raw")"
		paced_cpu "$id" "$target" "$(awk -v a="$(seconds "$warm")" -v b="$(seconds "$DURATION")" 'BEGIN { print a + b }')" \
			"$cpu0" "$(cpu_ticks "$srv") $(cpu_ticks "${UP_PID:-}")"
	else
		if ! is_zero_duration "$WARMUP"; then
			wrk_run "$WARMUP" "$url" "$bearer" "$OUT/raw/$id.r$round.warmup.txt" ||
				die "wrk warm-up for $label failed: $(tail -3 "$OUT/raw/$id.r$round.warmup.txt")"
			drain_calllog
		fi
		log "round $round/$ROUNDS: $label ($DURATION)"
		ticks0=$(steal_ticks)
		wrk_run "$DURATION" "$url" "$bearer" "$raw" || die "wrk for $label failed: $(tail -3 "$raw")"
	fi
	local steal queued status
	steal=$(steal_pct "$ticks0")
	# The call-log queue of the Gatehouse that served the row, the moment
	# the run ends: a writer that keeps up leaves a few batches; one that
	# falls behind (a change that slows it or lowers its priority) fills
	# it, and a 5-s row ends before the queue overflows into drops. The
	# largest is reported.
	case $base in
	quiet) status=$(gatehouse_status "$QUIET_ADMIN" "$QUIET_TOKEN") ;;
	gatehouse | garbage | unknown | jwt | policy | sig | sigkey) status=$(gatehouse_status) ;;
	*) status= ;;
	esac
	if [[ -n $status ]]; then
		queued=$(json_int queued "$status")
		if [[ $queued =~ ^[0-9]+$ ]] && ((queued > QUEUED_MAX)); then
			QUEUED_MAX=$queued QUEUED_AT="$label, round $round"
		fi
		QUEUE_CAP=$(json_int capacity "$status")
	fi
	parse_result "$raw" || die "no GH_RESULT line for $label; see $raw"
	log "  $R_RPS req/s, p50 $R_P50 ms, p99 $R_P99 ms, non-2xx $R_NON2XX of $R_REQUESTS, socket errors $R_SOCKERR, steal $steal %"

	# A row only counts if it measured what its label says: a misconfigured
	# proxy answering fast 401s would otherwise look fast. Socket errors
	# (mostly wrk's 2 s timeout when the shared machine stalls a server) do
	# not invalidate the answers that did arrive: they are reported, not fatal.
	if [[ ${EXPECT[$id]} == ok ]]; then
		((R_NON2XX == 0)) || die "$label: $R_NON2XX of $R_REQUESTS responses were not 2xx; see $raw"
	else
		((R_NON2XX == R_REQUESTS)) || die "$label: only $R_NON2XX of $R_REQUESTS requests were rejected; see $raw"
	fi
	if ((R_SOCKERR > 0)); then
		NOTES+=("round $round, $label: $R_SOCKERR socket errors ($R_SOCKDETAIL) beside $R_REQUESTS answers")
		log "  warning: $R_SOCKERR socket errors ($R_SOCKDETAIL)"
	fi
	[[ " ${ORDER[*]} " == *" $id "* ]] || ORDER+=("$id")
	[[ -n $target ]] && S_PACED[$id]+="$target "
	S_RPS[$id]+="$R_RPS " S_P50[$id]+="$R_P50 " S_P99[$id]+="$R_P99 " S_STEAL[$id]+="$steal "
	R_STEAL=$steal
}

# server_pid ROW: the process that serves ROW (nginx's worker, not its
# master), or nothing for rows whose CPU is not read.
server_pid() {
	case $1 in
	gatehouse) printf '%s' "$GH_PID" ;;
	ceiling) printf '%s' "$CEILING_PID" ;;
	nginx) pgrep -P "$NGINX_PID" | head -1 ;;
	esac
}

# paced_cpu ID RATE SECONDS BEFORE AFTER: records the CPU per request of a
# paced row's proxy and origin over the whole paced run, warm-up included
# (RATE × SECONDS requests; BEFORE and AFTER: the two processes'
# cpu_ticks). The tail below saturation follows how busy the servers' one
# CPU is; these say why.
paced_cpu() {
	local id=$1 u s o
	read -r u s o <<<"$(cpu_per_request "$2" "$3" "$4" "$5")"
	S_CPUU[$id]+="$u " S_CPUS[$id]+="$s " S_CPUO[$id]+="$o "
	log "  CPU per request: proxy $u µs user + $s µs system, origin $o µs"
}

# drop_last ID: forgets row ID's last sample (a retaken half-rate run).
drop_last() {
	local id=$1 arr
	for arr in S_RPS S_P50 S_P99 S_STEAL S_CPUU S_CPUS S_CPUO S_PACED; do
		local -n samples=$arr
		samples[$id]=$(awk '{ for (i = 1; i < NF; i++) printf "%s ", $i }' <<<"${samples[$id]}")
	done
}

# half_pair ROUND [RATE]: Gatehouse, the Go floor (row "ceiling", when run)
# and nginx paced at RATE, in that order; the set is measured again (up to
# RETAKES times) while any run lost more than STEAL_MAX % of the machine's
# CPU to other guests — such a run measures the host, and it hits the
# servers unequally. The runs of a set are retaken together, so they always
# share their minutes. Without RATE (HALF_PEAK=fresh) each try first
# measures Gatehouse's peak with wrk and paces the set at half of it: this
# host's speed drifts by a quarter within minutes (bench/README, "A calm
# host…"), and a peak taken minutes earlier paces Gatehouse nearer its
# saturation than half whenever the host has slowed since — where its
# tail, with less headroom than nginx's at the same rate, goes first.
half_pair() {
	local round=$1 rate=${2:-} try id ids=() steals p99s
	[[ -z $rate ]] && ids+=(gatehouse_peak)
	ids+=(gatehouse_half)
	want_row ceiling && ids+=(ceiling_half)
	ids+=(nginx_half)
	for ((try = 0; ; try++)); do
		steals=() p99s=()
		for id in "${ids[@]}"; do
			if [[ $id == gatehouse_peak ]]; then
				measure "$id" "$round"
				rate=$((R_RPS / 2))
				steals+=("$R_STEAL") p99s+=(-)
				continue
			fi
			measure "$id" "$round" "$rate"
			steals+=("$R_STEAL") p99s+=("$R_P99")
		done
		if ((try >= RETAKES)) || awk -v m="$STEAL_MAX" 'BEGIN { for (i = 1; i < ARGC; i++) if (ARGV[i] + 0 > m + 0) exit 1 }' "${steals[@]}"; then
			return
		fi
		RETAKEN+=("round $round: steal ${steals[*]} % (${ids[*]}; over $STEAL_MAX %), p99 ${p99s[*]} ms")
		log "  steal over $STEAL_MAX % in this set (${steals[*]} %): measuring it again"
		for id in "${ids[@]}"; do drop_last "$id"; done
	done
}

# median FORMAT "v1 v2 …": the median of the samples (mean of the middle two
# if even), printed with the awk FORMAT.
median() {
	tr ' ' '\n' <<<"$2" | grep . | sort -g | awk -v f="$1" '{ v[NR] = $1 } END {
		if (NR % 2) { m = v[(NR + 1) / 2] } else { m = (v[NR / 2] + v[NR / 2 + 1]) / 2 }
		printf f, m }'
}

summarize() {
	local id
	for id in "${ORDER[@]}"; do
		RPS[$id]=$(median %.0f "${S_RPS[$id]}")
		P50[$id]=$(median %.2f "${S_P50[$id]}")
		P99[$id]=$(median %.2f "${S_P99[$id]}")
		STEAL[$id]=$(median %.1f "${S_STEAL[$id]}")
		[[ -n ${S_PACED[$id]:-} ]] && PACED[$id]=$(median %.0f "${S_PACED[$id]}")
		if [[ -n ${S_CPUU[$id]:-} ]]; then
			CPUU[$id]=$(median %.1f "${S_CPUU[$id]}")
			CPUS[$id]=$(median %.1f "${S_CPUS[$id]}")
			CPUO[$id]=$(median %.1f "${S_CPUO[$id]}")
		fi
	done
}

# ---------------------------------------------------------------- report
# ratio ID REF: "1.23x", or "-" when either is missing or ID was paced.
ratio() {
	local a=${RPS[$1]:-} b=${RPS[$2]:-}
	[[ -n $a && -n $b && $b != 0 && -z ${PACED[$1]:-} ]] || {
		printf -- '-'
		return
	}
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }'
}
num_ratio() {
	local a=${RPS[$1]:-} b=${RPS[$2]:-}
	[[ -n $a && -n $b && $b != 0 ]] || return 0
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
}

# check LABEL VALUE OP LIMIT: one line of the targets table.
check() {
	local label=$1 value=$2 op=$3 limit=$4
	if [[ -z $value ]]; then
		printf '| %s | not measured | %s %s | - |\n' "$label" "$op" "$limit"
		return
	fi
	awk -v l="$label" -v v="$value" -v op="$op" -v t="$limit" 'BEGIN {
		ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0)
		printf "| %s | %s | %s %s | %s |\n", l, v, op, t, ok ? "ok" : "MISS" }'
}

GH_CALLLOG=
GH_STOP_SECONDS=
QUEUED_MAX=0
QUEUED_AT=
QUEUE_CAP=?
report() {
	local id cpu label samples=""
	cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
	((ROUNDS > 1)) && samples=" (median of $ROUNDS interleaved rounds)"
	{
		echo "# Gatehouse benchmark"
		echo
		echo "- when: $(date -u +%Y-%m-%dT%H:%M:%SZ); gatehouse built from the ${GH_BUILT_FROM:-(not built)}"
		echo "- command: \`DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS WARMUP=$WARMUP ROUNDS=$ROUNDS PIN=$PIN NGINX_WORKERS=$NGINX_WORKERS STEAL_MAX=$STEAL_MAX RETAKES=$RETAKES${GATEHOUSE_REF:+ GATEHOUSE_REF=$GATEHOUSE_REF} bench/run.sh\`"
		echo "- load: \`wrk -t$THREADS -c$CONNS -d$DURATION --latency\`, ${WARMUP} warm-up before each row$samples"
		if [[ $PIN == 1 ]]; then
			echo "- pinning: wrk on CPU $WRK_CPUS; upstream and every proxy on CPU $SERVER_CPUS; nginx worker_processes $NGINX_WORKERS"
		else
			echo "- pinning: none; nginx worker_processes $NGINX_WORKERS"
		fi
		echo "- machine: $(nproc) CPUs, $cpu; load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "- versions: $(go version | awk '{print $3}'), $(nginx -v 2>&1 | sed 's/.*: //'), caddy $(caddy version 2>/dev/null | awk '{print $1}'), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
		echo
		local range_head="" range_rule="" range=""
		if ((ROUNDS > 1)); then range_head=" req/s range |" range_rule="---:|"; fi
		echo "| row | req/s |$range_head p50 ms | p99 ms | vs bare | vs nginx | vs caddy | vs gatehouse | vs key row | steal % |"
		echo "|---|---:|$range_rule---:|---:|---:|---:|---:|---:|---:|---:|"
		for id in "${ORDER[@]}"; do
			label=${LABEL[$id]}
			if [[ -n ${PACED[$id]:-} ]]; then
				local rates
				rates=$(tr ' ' '\n' <<<"${S_PACED[$id]}" | grep . | sort -u -g | paste -sd' ')
				if [[ $rates == "${PACED[$id]}" ]]; then
					label="$label (${PACED[$id]}/s offered)"
				else
					label="$label (${S_PACED[$id]% }/s offered by round; median ${PACED[$id]})"
				fi
			fi
			if ((ROUNDS > 1)); then
				range=" $(tr ' ' '\n' <<<"${S_RPS[$id]}" | grep . | sort -g | sed -n '1p;$p' | paste -sd'-') |"
			fi
			local keyref=-
			[[ -n ${KEYREF[$id]:-} ]] && keyref=$(ratio "$id" "${KEYREF[$id]}")
			printf '| %s | %s |%s %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "${RPS[$id]}" "$range" "${P50[$id]}" "${P99[$id]}" \
				"$(ratio "$id" bare)" "$(ratio "$id" nginx)" "$(ratio "$id" caddy)" "$(ratio "$id" gatehouse)" "$keyref" "${STEAL[$id]}"
		done
		echo
		if [[ -n ${CPUU[gatehouse_half]:-} && -n ${CPUU[nginx_half]:-} ]]; then
			local rate=${PACED[gatehouse_half]}
			echo "CPU per request in the paced set (µs from /proc/<pid>/stat over each paced run, warm-up included; medians), and how busy that made the servers' CPU at $rate/s:"
			echo
			echo "| paced row | proxy user | proxy system | origin | proxy + origin busy |"
			echo "|---|---:|---:|---:|---:|"
			for id in gatehouse_half ceiling_half nginx_half; do
				[[ -n ${CPUU[$id]:-} ]] || continue
				awk -v l="${LABEL[$id]}" -v u="${CPUU[$id]}" -v s="${CPUS[$id]}" -v o="${CPUO[$id]}" -v r="$rate" \
					'BEGIN { printf "| %s | %s | %s | %s | %.0f %% |\n", l, u, s, o, (u + s + o) * r / 1e4 }'
			done
			echo
		fi
		if [[ -n $GH_CALLLOG ]]; then
			echo "Gatehouse call log at the end (warm-ups and setup included): $GH_CALLLOG."
			echo "Most call records queued when a measured run ended: $QUEUED_MAX${QUEUED_AT:+ ($QUEUED_AT)}, of a queue of $QUEUE_CAP (a writer that keeps up stays far below)."
			echo "Graceful shutdown, including the final call-log flush: ${GH_STOP_SECONDS} s."
			echo
		fi
		echo "Targets (#2 = core issue, #3 = pooled forwarding engine, #5 = access policy; JWT and signature rows: spec §13):"
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
			check "#3 p99 ms at half peak: gatehouse vs nginx + 1 ms" "${P99[gatehouse_half]}" "<=" \
				"$(awk -v n="${P99[nginx_half]}" 'BEGIN { printf "%.2f", n + 1 }')"
			# Not a target: whether the Go floor itself (no gateway work at
			# all) held the same line in the same minutes — when it did not,
			# the host's noise, not Gatehouse's pipeline, set the tail
			# (bench/README, "The Go floor's tail, and the call log's").
			if [[ -n ${P99[ceiling_half]:-} ]]; then
				check "(reference) p99 ms at the same rate: Go floor vs nginx + 1 ms" "${P99[ceiling_half]}" "<=" \
					"$(awk -v n="${P99[nginx_half]}" 'BEGIN { printf "%.2f", n + 1 }')"
			fi
		fi
		if [[ -n $GH_CALLLOG ]]; then
			# Spec §6: nothing lost at benchmark load; a quarter of the queue
			# at a run's end means the writer is falling behind (the row
			# ended before the queue overflowed).
			local quarter=16384
			[[ $QUEUE_CAP =~ ^[0-9]+$ ]] && quarter=$((QUEUE_CAP / 4))
			check "call-log writer keeps up: most records queued at a run's end" "$QUEUED_MAX" "<=" "$quarter"
		fi
		check "JWT RS256 repeated token / API key" "$(num_ratio jwt gatehouse)" ">=" 0.95
		check "RFC 9421 hmac-sha256 / API key (both sigload)" "$(num_ratio sig sigkey)" ">=" 0.8
		check "#5 key + scope + subscription + rate limit / API key" "$(num_ratio policy gatehouse)" ">=" 0.95
		check "#7 API key with metrics + rollups / the same with them off" "$(num_ratio gatehouse quiet)" ">=" 0.95
		echo
		echo "Checked for every sample: allowed rows answered 2xx to every request, flood rows 4xx to every request."
		if ((${#NOTES[@]})); then
			echo
			echo "Socket errors (not fatal; the samples above still count the answers that arrived):"
			echo
			printf -- '- %s\n' "${NOTES[@]}"
		else
			echo "No socket errors in any sample."
		fi
		if ((${#RETAKEN[@]})); then
			echo
			echo "Half-rate sets measured again (a run lost more than $STEAL_MAX % of the CPU to other guests; their samples are not in the table):"
			echo
			printf -- '- %s\n' "${RETAKEN[@]}"
		fi
	} >"$OUT/results.md"
}

# ---------------------------------------------------------------- main
main() {
	ensure_tools
	build
	mkdir -p "$OUT/raw"
	rm -f "$OUT"/raw/*.txt
	if [[ $PIN == 1 ]]; then
		SERVER_ON=(taskset -c "$SERVER_CPUS")
		WRK_ON=(taskset -c "$WRK_CPUS")
	else
		SERVER_ON=(env)
		WRK_ON=(env)
	fi
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	# The key the bare proxy, nginx and Caddy check (Gatehouse issues its own).
	BENCH_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

	# Every server is started once and stays up: rows (and rounds) then
	# interleave, and an idle server costs the others nothing measurable.
	start_upstream
	if want_row bare; then start_bare; fi
	if want_row ceiling; then start_ceiling; fi
	if want_gatehouse; then start_gatehouse; fi
	if want_row quiet; then start_quiet_gatehouse; fi
	if want_row nginx; then start_nginx; fi
	if want_row caddy; then start_caddy; fi

	local round row peak_rows=()
	for row in direct bare ceiling gatehouse quiet garbage unknown jwt policy sig nginx caddy; do
		if want_row "$row"; then
			# "sig" is two rows: sigload with the API key, then signing.
			[[ $row == sig ]] && peak_rows+=(sigkey)
			peak_rows+=("$row")
		fi
	done
	for ((round = 1; round <= ROUNDS; round++)); do
		for row in "${peak_rows[@]}"; do measure "$row" "$round"; done
	done
	summarize

	# p99 below saturation: Gatehouse and nginx at the same offered rate,
	# half of Gatehouse's measured peak (issue 3), from an open-loop generator.
	if [[ $HALF_RATE == 1 ]] && want_row gatehouse && want_row nginx; then
		local half=
		[[ $HALF_PEAK == fresh ]] || half=$((${RPS[gatehouse]%.*} / 2))
		for ((round = 1; round <= ROUNDS; round++)); do
			half_pair "$round" $half
		done
		summarize
	fi

	if [[ -n $GH_PID ]]; then
		drain_calllog
		local status
		status=$(gatehouse_status)
		GH_CALLLOG="$(json_int written "$status") records written, $(json_int dropped "$status") dropped, $(json_int failed_records "$status") failed, $(json_int queued "$status") queued"
		log "gatehouse call log: $GH_CALLLOG"
		local start end
		start=$(date +%s.%N)
		kill -TERM "$GH_PID"
		wait "$GH_PID" 2>/dev/null || true
		end=$(date +%s.%N)
		local keep=() pid
		for pid in "${PIDS[@]}"; do [[ $pid == "$GH_PID" ]] || keep+=("$pid"); done
		PIDS=("${keep[@]}")
		GH_STOP_SECONDS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
	fi

	report
	echo
	cat "$OUT/results.md"
	log "written to $OUT/results.md (raw wrk output in $OUT/raw/)"
}

main "$@"
