#!/bin/sh
# Run libFuzzer harnesses one after the other, for `make fuzz`:
#   FUZZ_SECONDS=300 FUZZ_OUT=build/fuzz sh tests/fuzz/run.sh NAME:MAXLEN ...
# Each runs FUZZ_SECONDS over build/fuzz/corpus/NAME, a copy of the seeds
# in tests/fuzz/corpus/NAME that libFuzzer grows. Prints one line per
# harness (executions, exec/s); exits 1 if any found a crash, a leak or a
# hang, whose input is then in build/fuzz/artifacts/NAME/.

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
secs=${FUZZ_SECONDS:-300}
out=$top/${FUZZ_OUT:-build/fuzz}
failed=""

mkdir -p "$out/tmp"
for spec in "$@"; do
	name=${spec%%:*}
	maxlen=${spec#*:}
	corpus=$out/corpus/$name
	art=$out/artifacts/$name
	log=$out/$name.log
	mkdir -p "$corpus" "$art"
	cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	# Harness log lines go to a closed stderr (-close_fd_mask=2);
	# libFuzzer's and the sanitizers' reports still reach the log.
	TMPDIR=$out/tmp \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    "$out/fuzz_$name" -max_total_time="$secs" -max_len="$maxlen" \
	    -timeout=25 -rss_limit_mb=2048 -close_fd_mask=2 \
	    -print_final_stats=1 -artifact_prefix="$art/" "$corpus" \
	    </dev/null >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ "$rc" = 0 ]; then
		echo "fuzz_$name: ${execs:-?} executions, ${rate:-?} exec/s"
		continue
	fi
	failed="$failed $name"
	echo "fuzz_$name: FAILED (exit $rc) after ${execs:-?} executions;" \
	    "input in $art/; from $log:"
	grep -m1 -A14 -E 'ERROR: |runtime error:' "$log" | sed 's/^/    /'
	grep -E '^SUMMARY:|Test unit written' "$log" | sed 's/^/    /'
done
[ -z "$failed" ] || { echo "fuzz: crashes in:$failed"; exit 1; }
echo "fuzz: no crashes in $# harnesses (${secs}s each)"
