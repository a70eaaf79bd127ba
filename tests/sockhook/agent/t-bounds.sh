#!/bin/bash
# Bounds around the agent. A program that stops reading holds at most a
# window or two at the agent and at the esp, which relays it channel to
# channel, while another channel moves 100 MiB; then the stalled stream
# arrives intact. Programs that connect to the agent and say nothing, and
# connections to the esp's client door that never finish TLS, are capped
# and closed on time: descriptors and memory stay bounded.
. "$(dirname "$0")/../../lib.sh"
SH_MODE=agent
. "$(dirname "$0")/../common.sh"
need_cmd curl python3
PEER="python3 $TESTS/tools/peer.py"
SPORT=$(free_port)
bg_start "$T/stream.log" $PEER stream-server "$SPORT" $((128 * 1024 * 1024))
wait_for_log "$T/stream.log" listening 10
ALLOW_EXTRA="127.0.0.1/32:$SPORT"
ESP_EXTRA_DOOR="max_agent_handshakes = 20"
SESSION_EXTRA="handshake_timeout = 2s"
sh_pair
sed -i "s|^client_listen = .*|&\n$ESP_EXTRA_DOOR|" "$T/esp.conf"
kill "$ESP_PID"
wait "$ESP_PID" 2>/dev/null
esp_start
wait_for_log "$ISP_LOG" "session with .* up" 15
wait_for_log "$ESP_LOG" "isp \".*\" serves" 15
sed -i "s|^route = .*|route = 127.0.0.1/32|" "$T/sockhook.conf"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$T/www/m100"
fdcount() { ls "/proc/$1/fd" | wc -l; }

# A: a stalled reader beside a 100 MiB transfer, both through the agent.
hooked sh -c "$PEER slow-reader - 127.0.0.1 $SPORT $((128 * 1024 * 1024)) $T/go >$T/slow.log 2>&1 &
	while ! grep -q stalled $T/slow.log; do sleep 0.1; done; sleep 1;
	curl -sS --fail --max-time 60 -o $T/out http://127.0.0.1:$HTTP_PORT/m100" ||
	fail "100 MiB beside a stalled reader through the agent failed"
[ "$(sha "$T/out")" = "$(sha "$T/www/m100")" ] || fail "100 MiB: SHA-256 differs"
state=$XDG_RUNTIME_DIR/dynpass/$(ls "$XDG_RUNTIME_DIR/dynpass" | grep -v "[.]" | head -1)
agent=$(cut -d' ' -f4 "$state")
peak_esp=$(peak_kb "$ESP_PID") peak_agent=$(peak_kb "$agent")
echo "esp peak RSS ${peak_esp} KiB, agent ${peak_agent} KiB"
limit=$((64 * 1024)) # windows and queues; 128 MiB stalled would be far more
[ "$peak_esp" -lt "$limit" ] || fail "esp peak RSS ${peak_esp} KiB"
[ "$peak_agent" -lt "$limit" ] || fail "agent peak RSS ${peak_agent} KiB"
ok "100 MiB moved beside a stalled channel; peak RSS esp ${peak_esp} KiB, agent ${peak_agent} KiB"
hooked sh -c "touch $T/go; while ! grep -q '^want' $T/slow.log; do sleep 0.2; done"
got=$(awk '/^got/ {print $2, $3}' "$T/slow.log")
want=$(awk '/^want/ {print $2, $3}' "$T/slow.log")
[ -n "$got" ] && [ "$got" = "$want" ] || fail "stalled stream: got '$got', want '$want'"
ok "the stalled stream resumed and arrived intact (128 MiB)"

# B: 400 programs that connect to the agent and say nothing.
hooked sh -c "sleep 14" &
holder=$!
sleep 0.5
port=$(cut -d' ' -f2 "$state")
base=$(fdcount "$agent")
python3 - "$port" >"$T/idle.log" 2>&1 <<'PY' &
import socket, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(400)]
print("connected", flush=True)
time.sleep(13)
PY
idle=$!
wait_for_log "$T/idle.log" connected 10
sleep 0.5
n=$(fdcount "$agent")
[ "$n" -le $((base + 260)) ] || fail "the agent holds $n descriptors for 400 idle programs"
# The agent's log: $state.log (agentstate.c).
wait_for_log "$state.log" "local: 256 programs in their handshake; refusing one" 10
sleep 11
n2=$(fdcount "$agent")
[ "$n2" -le $((base + 4)) ] || fail "the agent still holds $n2 descriptors after the handshake timeout"
ok "400 idle programs: the agent took at most 256 ($n descriptors), and after 10 s none ($n2)"
kill $idle 2>/dev/null
wait $holder

# C: 100 connections to the client door that never start TLS.
base=$(fdcount "$ESP_PID")
python3 - "$CLIENT_PORT" >"$T/door.log" 2>&1 <<'PY' &
import socket, sys, time
socks = []
for _ in range(100):
    try:
        socks.append(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
    except OSError:
        pass
print("connected", flush=True)
time.sleep(6)
PY
door=$!
wait_for_log "$T/door.log" connected 10
sleep 0.5
n=$(fdcount "$ESP_PID")
[ "$n" -le $((base + 22)) ] || fail "the esp holds $n descriptors (from $base) for 100 silent agents"
wait_for_log "$ESP_LOG" "agent from 127\.0\.0\.1:[0-9]+ refused: 20 agents in their handshake" 10
sleep 3
n2=$(fdcount "$ESP_PID")
[ "$n2" -le $((base + 2)) ] || fail "the esp still holds $n2 descriptors after handshake_timeout"
ok "100 silent connections to the client door: at most 20 held ($n fds, from $base), none after 2 s ($n2)"
kill $door 2>/dev/null
