#!/bin/bash
# A hostile esp against the client agent (tests/sockhook/agent/fakeesp.py):
#  - a scrypt cost of 1 GiB for the login is refused, not run;
#  - OPENs it never answers hold the agent's door only as long as the
#    program waits: a program that leaves is let go at once, one that
#    waits gets reply 6 after [sockhook] timeout;
#  - answering every login busy, or saying goodbye at once, gets redials
#    at a growing delay, not twice a second;
#  - 20000 reverse connections for channels that are not there are
#    refused with at most 20 lines a second;
#  - a login it never answers ends the session after [sockhook]
#    login_timeout, and the agent dials again.
. "$(dirname "$0")/../../lib.sh"
. "$TESTS/pki.sh"
need_cmd python3
pki_ca agentca
pki_cert esp-door agentca esp "IP:127.0.0.1"
export XDG_RUNTIME_DIR=$T/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
printf 'not-the-password\n' >"$T/pw"
chmod 600 "$T/pw"
FAKE=$TESTS/sockhook/agent/fakeesp.py

# fake MODE: a fake esp; agent MODE [USER [LOGIN_TIMEOUT]]: an agent for
# it, in the foreground; sets AGENT_PID and ALOG.
fake() {
	FPORT=$(free_port)
	bg_start "$T/$1.esp" python3 "$FAKE" "$1" "$FPORT" "$T/esp-door.crt" "$T/esp-door.key"
	FAKE_PID=$BG_PID
	wait_for_log "$T/$1.esp" "^listening$" 10
}
agent() {
	{
		printf '[sockhook]\nagent = 127.0.0.1:%s\nca = %s\nroute = 127.0.0.1/32\ntimeout = 2s\n' \
			"$FPORT" "$T/agentca.crt"
		[ -z "${2:-}" ] || printf 'user = %s\npassword_file = %s\n' "$2" "$T/pw"
		[ -z "${3:-}" ] || printf 'login_timeout = %s\n' "$3"
	} >"$T/$1.conf"
	ALOG=$T/$1.agent
	bg_start "$ALOG" "$BIN/sockhook" agent -v -c "$T/$1.conf"
	AGENT_PID=$BG_PID
}
stop() {
	kill "$AGENT_PID" "$FAKE_PID" 2>/dev/null
	wait "$AGENT_PID" "$FAKE_PID" 2>/dev/null
	rm -rf "${XDG_RUNTIME_DIR:?}"/*
}

# A login challenge at 1 GiB: refused at once, memory stays small.
fake cost
agent cost shuser
wait_for_log "$T/cost.esp" "^costly challenge$" 10
wait_for_log "$ALOG" "the server asks for a scrypt cost a client does not run \(16 to 128 MiB, at most 4 passes\)" 5
peak=$(awk '/^VmHWM/ {print $2}' "/proc/$AGENT_PID/status" 2>/dev/null)
[ "${peak:-0}" -lt 65536 ] || fail "the agent's peak RSS is $peak KiB"
ok "a scrypt cost of 1 GiB from the esp: refused without running it (agent peak RSS ${peak:-0} KiB, 0: it had ended)"
stop

# OPENs never answered.
fake silent
agent silent
wait_for_log "$ALOG" "session up; no login \(anonymous\)" 10
base=$(ls "/proc/$AGENT_PID/fd" | wc -l)
cat >"$T/progs.py" <<'PY'
# progs.py STATE N: N programs ask the agent for a connection; all but
# the last leave before any answer; the last waits for one.
import glob, socket, struct, sys, time
addr, port, token = open(sys.argv[1]).read().split()[:3]
def ask():
    s = socket.create_connection((addr, int(port)), timeout=10)
    s.sendall(b"\x05\x01\x02")
    assert s.recv(2) == b"\x05\x02"
    s.sendall(bytes([1, 1]) + b"u" + bytes([len(token)]) + token.encode())
    assert s.recv(2) == b"\x01\x00"
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", 9))
    return s
socks = [ask() for i in range(int(sys.argv[2]))]
print("asked", len(socks), flush=True)
time.sleep(1)
for s in socks[:-1]:
    s.close()
print("left", flush=True)
t0 = time.monotonic()
r = socks[-1].recv(10)
print("answer %d after %.0f s" % (r[1] if len(r) > 1 else -1, time.monotonic() - t0), flush=True)
PY
state=$XDG_RUNTIME_DIR/dynpass/$(ls "$XDG_RUNTIME_DIR/dynpass" | grep -v '[.]' | head -1)
python3 "$T/progs.py" "$state" 100 >"$T/progs.out" 2>&1 &
PP=$!
wait_for_log "$T/progs.out" "^left$" 10
sleep 0.5
n=$(ls "/proc/$AGENT_PID/fd" | wc -l)
[ "$n" -le $((base + 2)) ] || fail "99 programs left; the agent holds $n descriptors, $base before"
wait "$PP"
grep -Eq "^answer 6 after [0-2] s$" "$T/progs.out" || fail "the waiting program: $(cat "$T/progs.out")"
grep -q "no answer from the esp in 2 s; giving up" "$ALOG" || fail "the agent did not say why"
ok "100 OPENs the esp never answers: the 99 programs that leave are let go at once ($n descriptors, $base before), the one that waits gets reply 6 after 2 s"
stop

# Busy logins and goodbyes: redials at a growing delay.
for mode in busy goaway; do
	fake $mode
	if [ $mode = busy ]; then agent $mode shuser; else agent $mode; fi
	sleep 7
	n=$(count_log "$T/$mode.esp" "^connection [0-9]+$")
	[ "$n" -ge 2 ] && [ "$n" -le 5 ] || fail "$mode: $n sessions in 7 s"
	ok "an esp that answers $mode: $n sessions in 7 s"
	stop
done

# Reverse connections for channels that are not there.
fake outside
agent outside
wait_for_log "$T/outside.esp" "^sent 20000$" 10
sleep 1
n=$(count_log "$ALOG" "reverse connection to 127\.0\.0\.1:22 for channel 99 refused")
[ "$n" -ge 1 ] && [ "$n" -le 60 ] || fail "$n lines for 20000 refused reverse connections"
grep -q "more than 20 reverse connections refused a second; not all are logged" "$ALOG" || fail "no line for the rest"
kill -0 "$AGENT_PID" || fail "the agent died"
ok "20000 reverse connections for no channel: $n lines, and one for the rest"
stop

# A login the esp never answers.
fake silent
agent silent shuser 2s
wait_for_log "$ALOG" "the esp did not finish the login in 2\.000 s \(\[sockhook\] login_timeout\)" 10
wait_for_log "$T/silent.esp" "^connection 2$" 10
kill -0 "$AGENT_PID" || fail "the agent died"
ok "a login the esp never answers: the session ends after 2 s ([sockhook] login_timeout) and the agent dials again"
stop
