#!/usr/bin/env bash
# The test command: installs what the tests need, then lint, types, tests.
# In CI (CI=true) every test is required: a skip (no root, no netns, no
# PostgreSQL, no JDK) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${CI:-}" = "true" ]; then export HOSTSNAP_REQUIRE_ALL_TESTS=1; fi
.venv/bin/ruff check .
.venv/bin/mypy
set +e
.venv/bin/pytest -q -p no:cacheprovider --durations=15 "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
