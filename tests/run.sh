#!/bin/sh
# Run every dynpass test: unit binaries, then scenario scripts.
# `make check T=word` runs only tests whose name contains word.
# Prints one line per test and a final "N passed, N failed, N skipped".

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
filter=${T:-}
pass=0 failn=0 skipn=0 failed=""
logdir=$top/build/test-logs
rm -rf "$logdir"
mkdir -p "$logdir"

run_one() {
	name=$1
	shift
	case $name in *"$filter"*) ;; *) return ;; esac
	log=$logdir/$(echo "$name" | tr '/' '_').log
	start=$(date +%s)
	timeout -k 10 900 "$@" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $name (${secs}s)" ;;
	77) skipn=$((skipn + 1)); echo "SKIP $name: $(grep -m1 '^skip:' "$log" | cut -c7-)" ;;
	*) failn=$((failn + 1)); failed="$failed $name"
	   echo "FAIL $name (exit $rc, ${secs}s); last lines of $log:"
	   tail -n 40 "$log" | sed 's/^/    /'
	   # The reason, which the daemons' logs that follow it may push out.
	   grep -m3 '^FAIL:' "$log" | sed 's/^/    reason: /' ;;
	esac
}

for t in build/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" "$t"
done
for t in $(find tests -name 't-*.sh' | sort); do
	run_one "${t#tests/}" bash "$t"
done

[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $failn failed, $skipn skipped"
[ "$failn" = 0 ]
