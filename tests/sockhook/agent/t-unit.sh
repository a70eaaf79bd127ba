#!/bin/bash
# The agent under its systemd user unit's RestrictAddressFamilies (as a
# seccomp filter, tests/install/afonly): it asks the kernel (sock_diag,
# over netlink) whose each local connection is, so a program's fetch
# through it works; with the families but AF_NETLINK it refuses every
# program, and says why, so the test can fail.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl python3
AFONLY=$TOP/build/tests/install/afonly
[ -x "$AFONLY" ] || fail "$AFONLY is not built (make tests)"
fams=$(sed -n 's/^RestrictAddressFamilies=//p' "$TOP/etc/systemd/dynpass-agent.service" | tail -1 | tr ' ' ',')
[ -n "$fams" ] || fail "dynpass-agent.service: no RestrictAddressFamilies"
sh_pair
url=http://127.0.0.1:$HTTP_PORT/blob
dir=$XDG_RUNTIME_DIR/dynpass

# agent_run FAMILIES LOG: the agent in the foreground under those families.
agent_run() {
	bg_start "$2" "$AFONLY" "$1" "$BIN/sockhook" agent -c "$T/sockhook.conf"
	AGENT_PID=$BG_PID
	wait_for_log "$2" "logged in as shuser" 10
	STATE=$dir/$(ls "$dir" | grep -v "[.]" | head -1)
}
hooked_curl() {
	SOCKHOOK_CONF=$T/sockhook.conf SOCKHOOK_AGENT_STATE=$STATE LD_PRELOAD=$HOOKLIB \
		curl -sS -o "$T/got" "$url"
}

agent_run "$fams" "$T/unit.log"
hooked_curl || fail "curl through the agent under $fams failed: $(tail -3 "$T/unit.log")"
[ "$(sha "$T/got")" = "$BLOB_SHA" ] || fail "SHA-256 differs"
ok "under the unit's address families ($fams) the agent serves its user's programs"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null

agent_run "$(echo "$fams" | sed 's/,AF_NETLINK//; s/AF_NETLINK,//')" "$T/nonl.log"
hooked_curl 2>/dev/null && fail "curl through an agent without AF_NETLINK worked"
wait_for_log "$T/nonl.log" "cannot tell whose process it is \(Address family not supported by protocol\)" 10
ok "without AF_NETLINK it refuses every program and says why"
