#!/bin/bash
# A DCC SEND offer across a real IRC server (ngircd) inside, between a
# scripted client outside (under sockhook) and one on another inside host
# (the peer, not the IRC server, connects: accept = inside); and an
# rsh-style stderr back-connection with scripted peers. Both cross a
# one-port firewall; data is checked by SHA-256. An offer's opening takes
# only a peer the user may reach: a host outside the user's allow list
# that connects to it is reset, and the offering client never sees it.
. "$(dirname "$0")/../lib.sh"
. "$TESTS/site.sh"
need_root
need_cmd ngircd nft
SESSION_PORT=4430
site_up $SESSION_PORT
site_add_peer
chmod 755 "$T"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/file"
want=$(sha "$T/file")

# ngircd on the server host.
cat >"$T/ngircd.conf" <<CONF
[Global]
Name = irc.inside.test
Info = dynpass test
Listen = $SERVER4
Ports = 6667
PidFile = $T/ngircd.pid
ServerUID = 0
ServerGID = 0
[Limits]
MaxConnectionsIP = 20
[Options]
PAM = no
DNS = no
Ident = no
CONF
bg_start "$T/ngircd.log" ip netns exec "$S_SERVER" ngircd --nodaemon --config "$T/ngircd.conf"
for i in $(seq 50); do
	ip netns exec "$S_SERVER" ss -ltn | grep -q ':6667 ' && break
	sleep 0.1
done
ip netns exec "$S_SERVER" ss -ltn | grep -q ':6667 ' || fail "ngircd did not start: $(cat "$T/ngircd.log")"

RSH_PORT=5140
NETNS_ESP=$S_ESP NETNS_ISP=$S_ISP
ESP_ADDR=$ESP4 SOCKS_ADDR=$ESP4 SOCKS_PORT=1080
ALLOW="$SERVER4/32:6667,$RSH_PORT $PEER4/32:1"
# The shipped rsh rule watches port 514; this test's rshd listens on an
# unprivileged port, so it runs with a copy of the rules naming that port.
mkdir -p "$T/rules"
cp "$TOP/rules/irc.ini" "$T/rules/"
sed -E "s/^(ports *= *).*/\1514,$RSH_PORT/" "$TOP/rules/rsh.ini" >"$T/rules/rsh.ini"
ISP_EXTRA="rules = $T/rules"
pair_start
cat >"$T/hook.conf" <<CONF
[sockhook]
esp   = $ESP4:1080
route = 192.0.2.0/24
CONF

# --- DCC SEND: alice (outside) offers a file to bob (inside).
cat >"$T/irc.py" <<'PY'
import hashlib, socket, struct, sys, time

def irc(host, nick):
    s = socket.create_connection((host, 6667), timeout=30)
    s.sendall(b"NICK %s\r\nUSER %s 0 * :%s\r\n" % (nick.encode(), nick.encode(), nick.encode()))
    buf = b""
    while b" 001 " not in buf:
        d = s.recv(4096)
        if not d:
            raise SystemExit(nick + ": server closed during registration")
        buf += d
        for line in buf.split(b"\r\n"):
            if line.startswith(b"PING"):
                s.sendall(b"PONG" + line[4:] + b"\r\n")
    return s

def lines(s):
    buf = b""
    deadline = time.time() + 60
    while time.time() < deadline:
        d = s.recv(4096)
        if not d:
            return
        buf += d
        while b"\r\n" in buf:
            line, buf = buf.split(b"\r\n", 1)
            if line.startswith(b"PING"):
                s.sendall(b"PONG" + line[4:] + b"\r\n")
            yield line

role, host, path = sys.argv[1], sys.argv[2], sys.argv[3]
to = sys.argv[4].encode() if len(sys.argv) > 4 else b"bob"
if role == "alice":
    data = open(path, "rb").read()
    s = irc(host, "alice")
    me = s.getsockname()[0]
    ls = socket.socket()
    ls.bind((me, 0))
    ls.listen(1)
    ls.settimeout(60)
    ip = struct.unpack(">I", socket.inet_aton(me))[0]
    time.sleep(1)  # bob is registered by now
    s.sendall(b"PRIVMSG %s :\x01DCC SEND file.bin %d %d %d\x01\r\n" % (to, ip, ls.getsockname()[1], len(data)))
    try:
        c, peer = ls.accept()
    except socket.timeout:
        raise SystemExit("alice: nobody connected")
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    c.settimeout(30)
    while c.recv(4096):
        pass
    print("alice: sent", len(data), "to", peer[0])
elif role == "eve":
    # Takes the offer, tells where it points, and connects to nothing.
    s = irc(host, "eve")
    open(path + ".ready", "w").close()
    for line in lines(s):
        if b"DCC SEND" in line:
            parts = line.split(b"\x01")[1].split()
            ip = socket.inet_ntoa(struct.pack(">I", int(parts[3])))
            print("eve: offer at", ip, int(parts[4]), flush=True)
            time.sleep(30)
            break
else:
    s = irc(host, "bob")
    open(path + ".ready", "w").close()
    for line in lines(s):
        if b"DCC SEND" in line:
            print("bob: offer:", line.split(b":", 2)[2].strip(b"\x01").decode())
            parts = line.split(b"\x01")[1].split()
            ip = socket.inet_ntoa(struct.pack(">I", int(parts[3])))
            port, size = int(parts[4]), int(parts[5])
            d = socket.create_connection((ip, port), timeout=30)
            h, n = hashlib.sha256(), 0
            while n < size:
                chunk = d.recv(65536)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
                d.sendall(struct.pack(">I", n & 0xffffffff))
            d.close()
            print("bob: got", h.hexdigest(), n)
            break
PY
bg_start "$T/bob.log" ip netns exec "$S_PEER" python3 "$T/irc.py" bob "$SERVER4" "$T/bob"
for i in $(seq 100); do [ -f "$T/bob.ready" ] && break; sleep 0.1; done
[ -f "$T/bob.ready" ] || fail "bob did not register: $(cat "$T/bob.log")"
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook.conf" -- \
	python3 "$T/irc.py" alice "$SERVER4" "$T/file" >"$T/alice.log" 2>&1 || fail "alice: $(cat "$T/alice.log")"
wait_for_log "$T/bob.log" "^bob: got" 30
grep -q "^bob: got $want 4194304" "$T/bob.log" || fail "DCC transfer: $(cat "$T/bob.log")"
grep -q "offer: DCC SEND file.bin $(python3 -c "import socket,struct;print(struct.unpack('>I',socket.inet_aton('$ISP4'))[0])") " "$T/bob.log" ||
	fail "bob did not see the offer rewritten to the isp: $(grep offer "$T/bob.log")"
grep -q "reverse .*<- $PEER4:" "$ISP_LOG" || fail "the isp did not join bob's connection from $PEER4"
ok "DCC SEND across ngircd: offer rewritten to the isp, the peer on another inside host joined, 4 MiB intact"

# --- An offer's opening and a host the user may not reach (192.0.2.5 is
# in no allow list): it is reset, and alice never sees a connection.
S_MAL=dpm$$
_site_host "$S_MAL" bi 192.0.2.5 2001:db8:1::5 192.0.2.1 2001:db8:1::1
bg_start "$T/eve.log" ip netns exec "$S_PEER" python3 "$T/irc.py" eve "$SERVER4" "$T/eve"
for i in $(seq 100); do [ -f "$T/eve.ready" ] && break; sleep 0.1; done
[ -f "$T/eve.ready" ] || fail "eve did not register: $(cat "$T/eve.log")"
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook.conf" -- \
	python3 "$T/irc.py" alice "$SERVER4" "$T/file" eve >"$T/alice2.log" 2>&1 &
alice2=$!
wait_for_log "$T/eve.log" "^eve: offer at" 30
set -- $(sed -n 's/^eve: offer at \([0-9.]*\) \([0-9]*\)$/\1 \2/p' "$T/eve.log")
[ "$1" = "$ISP4" ] || fail "eve's offer was not rewritten to the isp: $(cat "$T/eve.log")"
got=$(ip netns exec "$S_MAL" python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    c.settimeout(10)
    d = c.recv(65536)
    print("data %d" % len(d) if d else "closed")
except ConnectionResetError:
    print("reset")
except OSError as e:
    print("error", e)
PY
)
[ "$got" = reset ] || fail "a host outside the allow list at the offer's opening: $got"
sleep 1
grep -q "alice: sent" "$T/alice2.log" && fail "alice's file went to a host outside the allow list"
kill "$alice2" 2>/dev/null
wait "$alice2" 2>/dev/null
grep -q "reverse [0-9.:]* for channel [0-9]*: refused a connection from 192\.0\.2\.5:[0-9]*: not an address the user may reach" "$ISP_LOG" ||
	fail "the isp did not log the stranger at the opening: $(grep 192.0.2.5 "$ISP_LOG")"
ok "a host outside the user's allow list at the DCC opening: reset, alice saw no connection, the isp says: not an address the user may reach"

# --- rsh-style: the client announces a stderr port ("digits NUL").
cat >"$T/rsh.py" <<'PY'
import hashlib, socket, sys

role = sys.argv[1]
if role == "server":
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((sys.argv[2], int(sys.argv[3])))
    ls.listen(1)
    print("listening", flush=True)
    c, peer = ls.accept()
    port = b""
    while not port.endswith(b"\0"):
        port += c.recv(1)
    print("server: stderr port", port[:-1].decode(), "from", peer[0], flush=True)
    err = socket.create_connection((peer[0], int(port[:-1])), timeout=30)
    data = open(sys.argv[4], "rb").read()
    err.sendall(data)
    err.close()
    c.sendall(b"stdout ok\n")
    c.close()
else:
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=30)
    ls = socket.socket()
    ls.bind((s.getsockname()[0], 0))
    ls.listen(1)
    ls.settimeout(30)
    s.sendall(b"%d\0" % ls.getsockname()[1])
    e, _ = ls.accept()
    h = hashlib.sha256()
    while True:
        d = e.recv(65536)
        if not d:
            break
        h.update(d)
    out = b""
    while True:
        d = s.recv(100)
        if not d:
            break
        out += d
    print("client: stderr", h.hexdigest(), "stdout", out.decode().strip())
PY
bg_start "$T/rshd.log" ip netns exec "$S_SERVER" python3 "$T/rsh.py" server "$SERVER4" $RSH_PORT "$T/file"
wait_for_log "$T/rshd.log" listening 10
ip netns exec "$S_CLIENT" "$BIN/sockhook" -c "$T/hook.conf" -- \
	python3 "$T/rsh.py" client "$SERVER4" $RSH_PORT >"$T/rsh.out" 2>&1 || fail "rsh client: $(cat "$T/rsh.out")"
grep -q "^client: stderr $want stdout stdout ok" "$T/rsh.out" || fail "rsh: $(cat "$T/rsh.out")"
grep -q "from $ISP4" "$T/rshd.log" || fail "rshd did not see the isp as its peer"
ok "rsh stderr back-connection: port rewritten, 4 MiB intact on the second connection"
