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

# SH_MODE=agent runs every test through a client agent instead of the
# SOCKS door: the esp gets a client door and no SOCKS door, the isp a user
# "shuser", and the config agent = with that user's password. SH_ANON=1:
# an anonymous agent.
SH_MODE=${SH_MODE:-socks}

# The agent's half: a CA and a certificate for the esp's client door, a
# user, and a runtime directory of the test's own.
sh_agent_setup() {
	. "$TESTS/pki.sh"
	pki_ca agentca
	pki_cert esp-door agentca esp "DNS:localhost,IP:127.0.0.1"
	CLIENT_PORT=$(free_port)
	NO_SOCKS=1
	ESP_EXTRA="client_listen = 127.0.0.1:$CLIENT_PORT
[client_tls]
cert = $T/esp-door.crt
key = $T/esp-door.key
[esp]"
	if [ -z "${SH_ANON:-}" ]; then
		(umask 077; echo "shuser-secret" >"$T/shuser.pass")
		ISP_SECTIONS="${ISP_SECTIONS:-}
[policy]
anonymous = no
[user shuser]
password = $(pwhash shuser-secret)
allow = ${ALLOW}
"
	fi
	export XDG_RUNTIME_DIR=$T/run
	mkdir -p "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"
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
	[ "$SH_MODE" = agent ] && sh_agent_setup
	pair_start
	sh_conf "$T/sockhook.conf"
}

# The door lines of a sockhook config: the SOCKS door, or the agent's.
sh_door() {
	if [ "$SH_MODE" != agent ]; then
		echo "esp   = 127.0.0.1:$SOCKS_PORT"
		return
	fi
	echo "agent = 127.0.0.1:$CLIENT_PORT"
	echo "ca    = $T/agentca.crt"
	if [ -z "${SH_ANON:-}" ]; then
		echo "user  = shuser"
		echo "password_file = $T/shuser.pass"
	fi
}

# sh_conf FILE: a sockhook config for the pair.
sh_conf() {
	cat >"$1" <<CONF
[sockhook]
$(sh_door)
route = 127.0.0.1/32:$HTTP_PORT,$CLOSED_PORT 127.0.0.2/32
dns   = localhost .corp.test
${SH_EXTRA:-}
CONF
}

# hooked CMD...: run CMD under sockhook with the pair's config.
hooked() {
	"$BIN/sockhook" -c "$T/sockhook.conf" -- "$@"
}

# Number of clients the esp has seen so far: on the SOCKS door, or
# channels relayed for an agent.
esp_clients() {
	if [ "$SH_MODE" = agent ]; then
		count_log "$ESP_LOG" "channel [0-9]+ agent .* opened|agent .* -> .*: "
	else
		count_log "$ESP_LOG" "socks: client .* connected"
	fi
}

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

# agent_refused NAME WHY: sockhook with $T/NAME.conf says
# "sockhook: agent: WHY (log: ...)" and does not run the command.
agent_refused() {
	rm -f "$T/ran"
	if "$BIN/sockhook" -c "$T/$1.conf" -- touch "$T/ran" 2>"$T/$1.err"; then
		fail "$1: the agent got a session"
	fi
	[ ! -e "$T/ran" ] || fail "$1: the command ran without a session"
	grep -q "^sockhook: agent: $2 (log: $XDG_RUNTIME_DIR/dynpass/agent-[0-9a-f]*.log)\$" "$T/$1.err" ||
		fail "$1: wanted \"$2\", got: $(cat "$T/$1.err")"
}

# fetch_blob OUT: the blob through sockhook into $T/OUT, errors in
# $T/OUT.err; fails unless it arrived intact.
fetch_blob() {
	hooked curl -sS --fail --max-time 20 -o "$T/$1" \
		"http://127.0.0.1:$HTTP_PORT/blob" 2>"$T/$1.err" &&
		[ "$(sha "$T/$1")" = "$BLOB_SHA" ]
}
