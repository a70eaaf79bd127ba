#!/bin/bash
# A reload that changes what an agent's login rests on ends it. The isp
# ends the login when the user's password changes, or when [policy]
# user_ca names other CAs for a certificate login, and the esp asks the
# agent to log in again. The agent still holds the old password, so that
# login is refused, and no new connection goes through. A reload that
# leaves the user alone keeps the login. The channel open across the
# reload finishes intact. Restarted with the new password, the agent
# works again. When the isp itself restarts, the esp asks the agent to
# log in again, and it does. A user removed from the policy loses the
# login the same way.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl openssl
. "$TESTS/pki.sh"
pki_ca userca
pki_ca otherca
pki_cert carol userca isp
ISP_SECTIONS="
[policy]
user_ca = $T/userca.crt
[user carol]
allow = 127.0.0.1/32
"
sh_pair
url=http://127.0.0.1:$HTTP_PORT/blob
head -c 30000000 /dev/urandom >"$T/www/big"

reload() { # N: send SIGHUP, wait for the Nth reload at the isp
	isp_conf "$T/isp.conf"
	kill -HUP "$ISP_PID"
	wait_for_count "$ISP_LOG" "reloaded .*isp.conf" "$1" 10
}

bg_start "$T/agent.log" "$BIN/sockhook" agent -c "$T/sockhook.conf"
SHAGENT=$BG_PID
wait_for_log "$T/agent.log" "logged in as shuser by password" 10 ||
	fail "the agent did not log in: $(cat "$T/agent.log")"
fetch_blob a.out || fail "a fetch through the agent failed: $(cat "$T/a.out.err")"
# carol logs in by certificate, with an agent of her own.
printf '[sockhook]\nagent = 127.0.0.1:%s\nca = %s\nroute = 127.0.0.1/32\ncert = %s\nkey = %s\n' \
	"$CLIENT_PORT" "$T/agentca.crt" "$T/carol.crt" "$T/carol.key" >"$T/carol.conf"
bg_start "$T/carol.log" "$BIN/sockhook" agent -c "$T/carol.conf"
CAROL=$BG_PID
wait_for_log "$T/carol.log" "logged in as the certificate's user by certificate" 10 ||
	fail "carol's agent did not log in: $(cat "$T/carol.log")"
carol_fetch() { # OUT
	"$BIN/sockhook" -c "$T/carol.conf" -- curl -sS --fail --max-time 20 \
		-o "$T/$1" "$url" 2>"$T/$1.err" && [ "$(sha "$T/$1")" = "$BLOB_SHA" ]
}
carol_fetch ca.out || fail "carol's fetch failed: $(cat "$T/ca.out.err")"

# A slow download runs across both reloads (3 s or more at 10 MiB/s).
hooked curl -sS --fail --max-time 60 --limit-rate 10M -o "$T/big.out" \
	"http://127.0.0.1:$HTTP_PORT/big" 2>"$T/big.err" &
big=$!

# A reload that does not touch shuser keeps the login.
ISP_SECTIONS="$ISP_SECTIONS
[user other]
password = $(pwhash other-secret)
allow = 127.0.0.1/32:1
"
reload 1
fetch_blob b.out || fail "a fetch after an unrelated reload failed: $(cat "$T/b.out.err")"
[ "$(count_log "$ISP_LOG" "agent login of user .* ended")" = 0 ] ||
	fail "an unrelated reload ended the login: $(grep ended "$ISP_LOG")"
[ "$(count_log "$T/agent.log" "logged in as")" = 1 ] ||
	fail "the agent logged in again after an unrelated reload"
carol_fetch cb.out || fail "carol's fetch after an unrelated reload failed: $(cat "$T/cb.out.err")"
ok "a reload that leaves the users alone keeps both agents' logins"

# shuser's password changes: the login ends, the agent is asked to log in
# again, and its old password is refused.
old=$(grep -A1 '^\[user shuser\]' "$T/isp.conf" | sed -n 's/^password = //p')
[ -n "$old" ] || fail "no password line for shuser in $T/isp.conf"
ISP_SECTIONS=${ISP_SECTIONS/"$old"/"$(pwhash shuser-new-secret)"}
reload 2
grep -A1 '^\[user shuser\]' "$T/isp.conf" | grep -qF "$old" && fail "the password did not change"
wait_for_log "$ISP_LOG" 'agent login of user "shuser" ended: the password changed$' 10 ||
	fail "the isp did not end the login: $(grep -E 'reload|agent login' "$ISP_LOG")"
wait_for_log "$ESP_LOG" 'agent 127\.0\.0\.1:[0-9]+ \(user shuser\): isp "[^"]*" ended its login; asking it to log in again' 10 ||
	fail "the esp did not ask the agent to log in again"
wait_for_log "$T/agent.log" "login refused: wrong user name or password" 10 ||
	fail "the agent did not log in again, or was not refused: $(tail -5 "$T/agent.log")"
[ "$(count_log "$ISP_LOG" 'agent login of user "carol" ended')" = 0 ] ||
	fail "shuser's new password ended carol's login"
carol_fetch cc.out || fail "carol's fetch after shuser's change failed: $(cat "$T/cc.out.err")"
ok "a new password ends that user's login, not others'; the agent's old password is refused"

wait "$big" || fail "the download across the reloads failed: $(cat "$T/big.err")"
[ "$(sha "$T/big.out")" = "$(sha "$T/www/big")" ] || fail "the download across the reloads: SHA-256 differs"
ok "the download open across both reloads completed intact"

# Channels are audited at close, maybe after curl exits: wait for the
# big download's line, and a.out's and b.out's.
wait_for_log "$ISP_LOG" 'audit ts=[^ ]+ event=channel side=isp channel=[0-9]+ user=shuser .* bytes_down=3000[0-9]{4} ' 10
wait_for_count "$ISP_LOG" "audit ts=[^ ]* event=channel side=isp .* user=shuser " 3 10
before=$(count_log "$ISP_LOG" "audit ts=[^ ]* event=channel side=isp .* user=shuser ")
if fetch_blob c.out; then
	fail "a fetch went through on a login that ended"
fi
after=$(count_log "$ISP_LOG" "audit ts=[^ ]* event=channel side=isp .* user=shuser ")
[ "$after" = "$before" ] || fail "the isp opened a channel for shuser after the login ended"
ok "no new connection goes through: $(head -1 "$T/c.out.err")"

# The user takes the new password: a new agent logs in and works.
wait_for_log "$T/agent.log" "older sessions drained: stopping" 10 ||
	fail "the refused agent did not stop once drained: $(tail -3 "$T/agent.log")"
wait "$SHAGENT" 2>/dev/null
(umask 077; echo shuser-new-secret >"$T/shuser.pass")
bg_start "$T/agent2.log" "$BIN/sockhook" agent -c "$T/sockhook.conf"
wait_for_log "$T/agent2.log" "logged in as shuser by password" 10 ||
	fail "the agent did not log in with the new password: $(cat "$T/agent2.log")"
fetch_blob d.out || fail "a fetch with the new password failed: $(cat "$T/d.out.err")"
ok "with the new password, a new agent logs in and fetches intact"


# [policy] user_ca names another CA: carol's certificate login ends, and
# her certificate no longer logs her in.
ISP_SECTIONS=${ISP_SECTIONS/"user_ca = $T/userca.crt"/"user_ca = $T/otherca.crt"}
reload 3
wait_for_log "$ISP_LOG" 'agent login of user "carol" ended: \[policy\] user_ca changed$' 10 ||
	fail "the isp did not end carol's login: $(grep -E 'reload|agent login' "$ISP_LOG")"
wait_for_log "$T/carol.log" "login refused: the isps do not accept this certificate" 10 ||
	fail "carol's agent was not refused: $(tail -5 "$T/carol.log")"
if carol_fetch cd.out; then
	fail "carol fetched after her CA was replaced"
fi
ok "another CA in [policy] user_ca ends the certificate login: $(head -1 "$T/cd.out.err")"

# The isp restarts: the esp asks the agent to log in again, and it does.
kill "$ISP_PID"
wait "$ISP_PID" 2>/dev/null
wait_for_log "$ESP_LOG" 'agent 127\.0\.0\.1:[0-9]+ \(user shuser\): isp "[^"]*" is gone; asking it to log in again' 10 ||
	fail "the esp did not ask the agent to log in again when the isp left"
ISP_LOG=$T/isp2.log
isp_start
wait_for_count "$T/agent2.log" "logged in as shuser by password" 2 20
fetch_blob e.out || fail "a fetch after the isp came back failed: $(cat "$T/e.out.err")"
ok "the isp restarts: the agent is asked to log in again, does, and fetches intact"

# shuser leaves the policy: the login ends, and nothing more goes through.
ISP_SECTIONS=$(printf '%s\n' "$ISP_SECTIONS" | awk '/^\[user shuser\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip')
reload 1 # the restarted isp's first
grep -q '^\[user shuser\]' "$T/isp.conf" && fail "shuser is still in the policy"
wait_for_log "$ISP_LOG" 'agent login of user "shuser" ended: the user is gone from the policy$' 10 ||
	fail "the isp did not end the removed user's login: $(grep -E 'agent login' "$ISP_LOG" | tail -3)"
wait_for_log "$T/agent2.log" "login refused: wrong user name or password" 10 ||
	fail "the agent of a removed user was not refused: $(tail -5 "$T/agent2.log")"
# e.out's channel, the only one in isp2.log, is audited at its close.
wait_for_count "$ISP_LOG" "audit ts=[^ ]* event=channel side=isp .* user=shuser " 1 10
before=$(count_log "$ISP_LOG" "audit ts=[^ ]* event=channel side=isp .* user=shuser ")
if fetch_blob r.out; then
	fail "a fetch went through for a user no longer in the policy"
fi
[ "$(count_log "$ISP_LOG" "audit ts=[^ ]* event=channel side=isp .* user=shuser ")" = "$before" ] ||
	fail "the isp opened a channel for a removed user"
ok "a user removed from the policy: the login ends, the agent is refused, nothing goes through"
