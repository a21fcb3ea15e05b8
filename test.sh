#!/usr/bin/env bash
# test.sh runs every module's tests with the race detector. It is the test
# command of the README, and CI (.ci/run) runs it too.
#
# Usage: ./test.sh [extra go test flags...]
set -euo pipefail

cd "$(dirname "$0")"

# allmodules lists the directory of every Go module in the repository (each
# directory with a go.mod), skipping the gitignored ./bin and test fixtures.
allmodules() {
	find . \( -path ./bin -o -name .git -o -name testdata -o -name vendor \) -prune \
		-o -name go.mod -print | sed 's|/go.mod$||' | LC_ALL=C sort
}

failed=()
while IFS= read -r mod; do
	echo "==> go test -race -count=1 ./... in $mod"
	if ! (cd "$mod" && go test -race -count=1 "$@" ./...); then
		failed+=("$mod")
	fi
done < <(allmodules)

if ((${#failed[@]} > 0)); then
	echo "FAIL: tests failed in: ${failed[*]}" >&2
	exit 1
fi
echo "PASS: all modules"
