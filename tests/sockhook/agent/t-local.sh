#!/bin/bash
# The agent's local side. sockhook starts an agent for a config when none
# runs, several commands share it, and it stops once the last is gone.
# Its state (port and token) is readable by its user only; another local
# user, and a program without the token, are refused. A foreground agent
# (sockhook agent) serves commands, and a second one is refused.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl python3
SH_EXTRA="linger = 1s"
sh_pair
url=http://127.0.0.1:$HTTP_PORT/blob
dir=$XDG_RUNTIME_DIR/dynpass
! grep -q "listening for SOCKS5" "$ESP_LOG" && grep -q "listening for client agents" "$ESP_LOG" ||
	fail "the esp was to serve agents only (no socks_listen)"
ok "an esp without socks_listen has no SOCKS door, only the client door"

hooked curl -sS -o "$T/a.out" "$url" || fail "curl through a new agent failed"
[ "$(sha "$T/a.out")" = "$BLOB_SHA" ] || fail "SHA-256 differs"
state=$dir/$(ls "$dir" | grep -v "[.]" | head -1)
[ -f "$state" ] || fail "no state file in $dir"
[ "$(stat -c %a "$dir")" = 700 ] || fail "$dir is not 700"
[ "$(stat -c %a "$state")" = 600 ] || fail "$state is not 600"
ok "sockhook started an agent; its state is $(stat -c %a "$state") in a $(stat -c %a "$dir") directory"

# Two commands at once share one agent.
hooked sh -c "sleep 2; curl -sS -o '$T/b.out' '$url'" &
p1=$!
sleep 0.5
hooked curl -sS -o "$T/c.out" "$url" || fail "second command failed"
wait $p1 || fail "first command failed"
[ "$(sha "$T/b.out")" = "$BLOB_SHA" ] && [ "$(sha "$T/c.out")" = "$BLOB_SHA" ] ||
	fail "SHA-256 differs"
starts=$(cat "$dir"/*.log | grep -c "agent .* started")
[ "$starts" -le 2 ] || fail "$starts agents started for three commands"
ok "commands running at once share one agent ($starts started in all, one at a time)"

# Unused for linger, it stops and removes its state.
i=0
while [ -f "$state" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ ! -f "$state" ] || fail "the agent did not stop after its last command"
grep -q "no command uses this agent: stopping" "$dir"/*.log || fail "no stop line"
ok "the agent stopped after its last command, and removed its state"

# Another local user: cannot read the state, and a guessed token fails.
hooked sh -c "sleep 9" &
p1=$!
i=0
while [ ! -f "$state" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cut -d' ' -f2 "$state")
# The agent's local door is on loopback only.
listen=$(ss -Hltn "sport = :$port" | awk '{ print $4 }' | sort -u | tr '\n' ' ')
[ "$listen" = "127.0.0.1:$port " ] || fail "the agent listens on: $listen"
chmod 711 "$T" "$XDG_RUNTIME_DIR"
if setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$state" 2>"$T/err"; then
	fail "another user read the agent's state"
fi
grep -q "Permission denied" "$T/err" || fail "reading the state: $(cat "$T/err")"
ok "another user cannot read the agent's state: $(cat "$T/err")"
cat >"$T/knock.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
tok = sys.argv[2].encode()
try:
    if sys.argv[3] == "none":
        s.sendall(b"\x05\x01\x00")
        got = s.recv(2)
    else:
        s.sendall(b"\x05\x01\x02" + b"\x01\x05agent" + bytes([len(tok)]) + tok)
        got = s.recv(4)
except ConnectionResetError:
    got = b""
print(got.hex() or "closed")
PY
# Another user's process is closed at once, whatever it sends: the
# kernel says whose its socket is.
got=$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$T/knock.py" "$port" \
	"$(printf '%064d' 0)" login) || fail "knock failed"
[ "$got" = closed ] || fail "another user with a guessed token got $got, wanted the connection closed"
got=$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$T/knock.py" "$port" x none)
[ "$got" = closed ] || fail "another user with no token got $got, wanted the connection closed"
grep -q "local 127.0.0.1:[0-9]*: a process of uid $(id -u nobody), not this user's; refused" "$dir"/*.log ||
	fail "the agent did not log the other user's process"
grep -q "wrong token" "$dir"/*.log && fail "the other user's token was looked at"
# The user's own process still needs the token.
got=$(/usr/bin/python3 "$T/knock.py" "$port" "$(printf '%064d' 0)" login) || fail "knock failed"
[ "$got" = 05020101 ] || fail "a wrong token got $got, wanted a refused login (05020101)"
got=$(/usr/bin/python3 "$T/knock.py" "$port" x none)
[ "$got" = 05ff ] || fail "no token offered got $got, wanted 05ff"
grep -q "wrong token (another user, or a stale agent file); refused" "$dir"/*.log ||
	fail "the agent did not log the wrong token"
ok "another user's process is closed at once (its uid logged); the user's own with a wrong token, or none, is refused"
# 300 connections from another user, held: none takes a handshake's
# place (256), the user's command goes through meanwhile, and the log
# gets a line a second.
cat >"$T/hold.py" <<'PY'
import socket, sys, time
held = []
for _ in range(300):
    try:
        held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
    except OSError:
        pass
print("held", len(held), flush=True)
time.sleep(3)
PY
before=$(cat "$dir"/*.log | grep -c "not this user's; refused")
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$T/hold.py" "$port" >"$T/hold.out" 2>&1 &
hp=$!
wait_for_log "$T/hold.out" "^held 300$" 20
SOCKHOOK_CONF=$T/sockhook.conf SOCKHOOK_AGENT_STATE=$state LD_PRELOAD=$HOOKLIB \
	curl -sS -o "$T/e.out" "$url" || fail "curl failed beside another user's 300 connections"
[ "$(sha "$T/e.out")" = "$BLOB_SHA" ] || fail "SHA-256 differs"
wait $hp
lines=$(( $(cat "$dir"/*.log | grep -c "not this user's; refused") - before ))
[ "$lines" -le 6 ] || fail "the agent logged $lines lines for another user's 300 connections"
grep -q "programs in their handshake; refusing one" "$dir"/*.log && fail "another user's connections took handshake places"
ok "300 connections held by another user: no handshake place taken, 1 MiB fetched meanwhile (by hash), $lines log lines"
# nobody gets a config and password file of its own (so that reading
# them is not what stops it), pointed at this user's runtime directory.
mkdir -p "$T/nobody"
sed "s|^password_file *=.*|password_file = $T/nobody/pass|" "$T/sockhook.conf" >"$T/nobody/sockhook.conf"
cp "$T/shuser.pass" "$T/nobody/pass"
chown -R nobody:nogroup "$T/nobody"
chmod 600 "$T/nobody/pass"
if setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" "$BIN/sockhook" -c "$T/nobody/sockhook.conf" -- true 2>"$T/err"; then
	fail "another user's launcher used this user's agent directory"
fi
grep -q "^sockhook: $dir is not a directory of ours closed to others" "$T/err" ||
	fail "another user's launcher: $(cat "$T/err")"
ok "another user's sockhook refuses this user's agent: $(cat "$T/err")"
chmod 700 "$T" "$XDG_RUNTIME_DIR"
wait $p1

# A foreground agent serves the commands; a second one is refused.
i=0
while [ -f "$state" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
starts=$(cat "$dir"/*.log | grep -c "agent .* started")
bg_start "$T/fg.log" "$BIN/sockhook" agent -c "$T/sockhook.conf"
fg=$BG_PID
wait_for_log "$T/fg.log" "logged in as shuser" 10
hooked curl -sS -o "$T/d.out" "$url" || fail "curl through the foreground agent failed"
[ "$(sha "$T/d.out")" = "$BLOB_SHA" ] || fail "SHA-256 differs"
[ "$(cut -d' ' -f4 "$state")" = "$fg" ] || fail "the state is not the foreground agent's"
[ "$(cat "$dir"/*.log | grep -c "agent .* started")" = "$starts" ] ||
	fail "sockhook started another agent beside the foreground one"
if "$BIN/sockhook" agent -c "$T/sockhook.conf" 2>"$T/err"; then
	fail "a second agent for the same config started"
fi
grep -q "an agent for $T/sockhook.conf is running already (pid [0-9]*)" "$T/err" ||
	fail "second agent: $(cat "$T/err")"
ok "a foreground agent serves commands; a second one: $(tail -1 "$T/err")"
