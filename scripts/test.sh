#!/usr/bin/env bash
# Install everything the tests need, then run the suite on SQLite and on PostgreSQL.
# PostgreSQL URL: HAJIBOT_TEST_PG_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test).
# With CI=true an unreachable PostgreSQL fails the run; elsewhere the PostgreSQL pass is skipped with a warning.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test || exit 2
scripts/install-test-deps.sh || exit 2

PG_URL="${HAJIBOT_TEST_PG_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
status=0

run_pytest() {
  .venv/bin/python -m pytest "$@"
  local rc=$?
  if [ $rc -eq 5 ]; then echo "no tests collected for: $*" >&2; rc=1; fi
  return $rc
}

echo "=== tests on SQLite ==="
run_pytest -q "$@" || status=1

if .venv/bin/python scripts/pg_ready.py "$PG_URL"; then
  echo "=== tests on PostgreSQL ==="
  HAJIBOT_TEST_DATABASE_URL="$PG_URL" run_pytest -q -m "not rasa and not browser" "$@" || status=1
elif [ "${CI:-}" = "true" ]; then
  echo "error: PostgreSQL is unreachable at the test URL (required in CI)" >&2
  status=1
else
  echo "warning: PostgreSQL unreachable; PostgreSQL pass skipped (set HAJIBOT_TEST_PG_URL)" >&2
fi
exit $status
