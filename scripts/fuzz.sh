#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of executions (default 100000
# each; FUZZ_EXECS=2000000 for a longer run). A count, not a duration:
# Go 1.26's fuzz coordinator can report "context deadline exceeded" when a
# -fuzztime duration ends while a worker is busy (go.dev/issue/75804), which
# is a harness race, not a finding. A real finding is written under
# testdata/fuzz/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
execs="${FUZZ_EXECS:-100000}"
fail=0
while read -r pkg target; do
	[[ -z "$pkg" || "$pkg" == \#* ]] && continue
	echo "== $pkg $target (${execs} executions)"
	if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${execs}x" -fuzzminimizetime 5s; then
		fail=1
	fi
done <<'TARGETS'
./permissions FuzzCanonicalize
./permissions FuzzCompileRegexp
./permissions FuzzParseResources
./permissions FuzzParseUsers
TARGETS
exit $fail
