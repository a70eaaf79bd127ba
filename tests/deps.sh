#!/bin/sh
# Install the Debian packages dynpass needs to build and test, if missing.
# Runs apt-get only as root; otherwise names what is missing.

BUILD_PKGS="gcc make pkg-config libevent-dev libssl-dev libpcre2-dev libiniparser-dev"
TEST_PKGS="curl python3 openssl socat nftables iproute2 procps libc6-dev nodejs mandoc vsftpd ngircd dante-server tinyproxy lftp tcpdump ftp python3-prometheus-client debhelper dpkg-dev fakeroot lintian"

missing=""
for p in $BUILD_PKGS $TEST_PKGS $EXTRA_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root, or: sudo apt-get install -y$missing" >&2
	exit 0
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
	{ echo "deps: apt-get install failed for:$missing" >&2; exit 1; }
