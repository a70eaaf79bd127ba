# Shared set-up for the sockhook tests: source after tests/lib.sh.
#
# sh_pair: a 1 MiB file served over HTTP on loopback, an esp/isp pair on
# loopback whose isp may reach that server and a closed port, and
# $T/sockhook.conf routing both (plus 127.0.0.2, which the isp may not
# reach) through the pair. Inside names: "localhost" and "*.corp.test".
NB=$TOP/build/tests/sockhook/nbconnect
THREADS=$TOP/build/tests/sockhook/threads

# Check that everything the tests run has been built.
sh_need_build() {
	local f
	for f in "$BIN/sockhook" "$HOOKLIB" "$BIN/esp" "$BIN/isp" "$NB" \
	    "$THREADS"; do
		[ -x "$f" ] || [ -f "$f" ] || fail "$f is not built (make all tests)"
	done
}

# Start the server, the pair and write the config.
sh_pair() {
	sh_need_build
	mkdir -p "$T/www"
	head -c 1048576 /dev/urandom >"$T/www/blob"
	BLOB_SHA=$(sha "$T/www/blob")
	http_start "$T/www"
	CLOSED_PORT=$(free_port)
	ALLOW="127.0.0.1/32:$HTTP_PORT,$CLOSED_PORT${ALLOW_EXTRA:+ $ALLOW_EXTRA}"
	pair_start
	sh_conf "$T/sockhook.conf"
}

# sh_conf FILE: a sockhook config for the pair.
sh_conf() {
	cat >"$1" <<CONF
[sockhook]
esp   = 127.0.0.1:$SOCKS_PORT
route = 127.0.0.1/32:$HTTP_PORT,$CLOSED_PORT 127.0.0.2/32
dns   = localhost .corp.test
${SH_EXTRA:-}
CONF
}

# hooked CMD...: run CMD under sockhook with the pair's config.
hooked() {
	"$BIN/sockhook" -c "$T/sockhook.conf" -- "$@"
}

# Number of SOCKS clients the esp has seen so far.
esp_clients() { count_log "$ESP_LOG" "socks: client .* connected"; }

# expect_errno NAME CMD...: CMD must fail with "errno=NAME".
expect_errno() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1 >/dev/null); then
		fail "$* succeeded; wanted $want"
	fi
	case $out in
	*"errno=$want "*) ;;
	*) fail "$*: wanted errno=$want, got: $out" ;;
	esac
}
