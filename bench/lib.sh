# Helpers the pair scripts share (sourced, not run): CPU ticks of a
# process, and a pair run of wrk against a baseline and a candidate at the
# same time (the BENCHMARKS.md method). The caller sets out (a temp dir),
# DUR, CONN and the associative array pid (port -> Caddy's PID).

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# pair name baseline-port candidate-port path header: one line with
# requests/s of each, their ratio, CPU per request of each and its ratio
# (baseline over candidate); a candidate answering non-2xx stops the run.
pair() {
	local name=$1 bport=$2 cport=$3 path=$4 hdr=$5 bt0 ct0 bt1 ct1 wp b c bn cn bus cus
	bt0=$(ticks "${pid[$bport]}")
	ct0=$(ticks "${pid[$cport]}")
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -H "$hdr" "http://127.0.0.1:$bport$path" >"$out/base" &
	wp=$!
	taskset -c 1 wrk -t1 -c"$CONN" -d"$DUR" -H "$hdr" "http://127.0.0.1:$cport$path" >"$out/cand"
	wait $wp
	bt1=$(ticks "${pid[$bport]}")
	ct1=$(ticks "${pid[$cport]}")
	b=$(awk '/Requests\/sec/ {print $2}' "$out/base")
	c=$(awk '/Requests\/sec/ {print $2}' "$out/cand")
	bn=$(awk '/requests in/ {print $1}' "$out/base")
	cn=$(awk '/requests in/ {print $1}' "$out/cand")
	if grep -q Non-2xx "$out/cand"; then echo "$name: the candidate answered non-2xx"; exit 1; fi
	bus=$(echo "($bt1 - $bt0) * 1000000 / $hz / $bn" | bc -l)
	cus=$(echo "($ct1 - $ct0) * 1000000 / $hz / $cn" | bc -l)
	printf "%-48s %9.0f %9.0f %6.2f   %5.1f/%-7.1f %6.2f\n" "$name" "$b" "$c" "$(echo "$c / $b" | bc -l)" \
		"$bus" "$cus" "$(echo "$bus / $cus" | bc -l)"
}

pair_header() { printf "%-48s %9s %9s %6s   %-13s %6s\n" scenario baseline candidate ratio "CPU us/req" ratio; }
