#!/usr/bin/env bash
# CI: the results history on a real PostgreSQL server. Starts a throwaway
# server from Debian's package (initdb into a temporary directory, a free
# localhost port, its socket in that directory; as the `postgres` user when
# run as root, since initdb refuses root), creates a database and
#   1. runs bench_history_test with LLMK_TEST_POSTGRES_URL set, so every
#      storage test case also runs on the server (none may be skipped);
#   2. end to end: llmk-bench --db URL twice, `history` and `compare` of the
#      two runs.
# The server is stopped and its files removed on every exit. Prints
#   postgres: N passed, M failed
# (the test cases of step 1 plus each check of step 2) and exits non-zero
# on a failure.
#
#   .ci/postgres.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
start=$SECONDS

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ]; then
  echo "postgres: installing the postgresql package" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -y -qq update &&
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -y -qq install \
      --no-install-recommends postgresql >/dev/null
fi
bin=$(pg_bin)
if [ -z "$bin" ]; then echo "postgres: no PostgreSQL server"; echo "postgres: 0 passed, 1 failed"; exit 1; fi

# initdb refuses to run as root: the server runs as `postgres` then.
as_server=()
if [ "$(id -u)" -eq 0 ]; then as_server=(runuser -u postgres --); fi
dir=$(mktemp -d /tmp/llmk-pg.XXXXXX)
chmod 755 "$dir"
[ ${#as_server[@]} -gt 0 ] && chown postgres: "$dir"
cleanup() {
  [ -f "$dir/data/postmaster.pid" ] &&
    "${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
passed=0 failed=0
check() {  # name, command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
# Trust on localhost: the server lives for this script only.
if ! "${as_server[@]}" "$bin/initdb" -D "$dir/data" -U llmk --auth=trust -E UTF8 --no-locale \
       --no-sync >"$dir/initdb.log" 2>&1 ||
   ! "${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
       -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
   ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U llmk llmk_history; then
  cat "$dir/initdb.log" "$dir/server.log" 2>/dev/null | tail -n 20
  echo "postgres: 0 passed, 1 failed"
  exit 1
fi
url="postgresql://llmk@127.0.0.1:$port/llmk_history"
echo "(server $("$bin/postgres" --version | awk '{print $3}') on $url, started in $((SECONDS - start)) s)"

# 1. The history's tests, each storage case on SQLite and on the server.
tests_out=$(LLMK_TEST_POSTGRES_URL=$url "$build/tests/bench_history_test" 2>&1)
tests_rc=$?
line=$(printf '%s\n' "$tests_out" | grep -E '^llmk-tests: ' | tail -n 1)
if [[ $line =~ ^llmk-tests:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2] + BASH_REMATCH[3]))  # a skip here: the server was not reached
  [ "${BASH_REMATCH[2]}${BASH_REMATCH[3]}" = 00 ] && [ $tests_rc -eq 0 ] ||
    printf '%s\n' "$tests_out" | grep -vE '^\[doctest\] (doctest version|run with)' | tail -n 40
else
  failed=$((failed + 1))
  printf '%s\n' "$tests_out" | tail -n 40
fi
echo "bench_history_test: ${line:-no result line}"

# 2. End to end through llmk-bench, as docs/history.md shows it.
bench=$build/bench/llmk-bench
bench_run() {  # N: one stored run, its output in run-N.txt
  "$bench" --filter ops/dot --repetitions 2 --db "$url" --machine ci-postgres > "$dir/run-$1.txt" 2>&1 &&
    grep -q "run $1 appended" "$dir/run-$1.txt"
}
check "llmk-bench --db URL appends run 1" bench_run 1
check "llmk-bench --db URL appends run 2" bench_run 2
check "history lists ops/dot over the two runs" bash -c \
  "'$bench' history --db '$url' --filter ops/dot > '$dir/history.txt' 2>&1 &&
   grep -q '^ops/dot/.*(machine ci-postgres)' '$dir/history.txt'"
# 2 repetitions a side cannot reach p < 0.01: inconclusive (2) or ok (0), a table either way.
check "compare 1 2" bash -c \
  "'$bench' compare 1 2 --db '$url' > '$dir/compare.txt' 2>&1; rc=\$?;
   [ \$rc -eq 0 ] || [ \$rc -eq 2 ] || [ \$rc -eq 1 ]; ok=\$?;
   grep -q '^A: 1, 1 run' '$dir/compare.txt' && grep -q '^ops/dot/' '$dir/compare.txt' && [ \$ok -eq 0 ]"
[ $failed -eq 0 ] || cat "$dir"/run-*.txt "$dir/history.txt" "$dir/compare.txt" 2>/dev/null | tail -n 30
echo "(postgres stage: $((SECONDS - start)) s)"
echo "postgres: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
