#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what the tests need, then runs pytest.
# Usage: tools/test.sh [pytest args...]     (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: headless Chromium and its driver for the SMART app's browser test; wrk for the benchmark
# harness's smoke run (tests/bench); prometheus (with promtool) to scrape a running service (tests/monitoring).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1 \
   || ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "tools/test.sh: installing chromium, chromium-driver, wrk and prometheus (Debian)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver wrk prometheus >/dev/null
  else
    echo "tools/test.sh: chromium/chromedriver/wrk/prometheus missing and cannot be installed here; their tests will skip" >&2
  fi
fi

# Python packages: the service and its test extras, and the replay's (pyarrow).
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test,postgres,replay]'

# The replay's Spark engine (tests/replay/test_spark.py): PySpark and a Java runtime. A failed install of either
# leaves that one test to skip rather than stopping the suite; once both are present, a skip is a failure.
if ! command -v java >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "tools/test.sh: installing a Java runtime for the Spark test (Debian)" >&2
  (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null) \
    || echo "tools/test.sh: could not install Java; the Spark test will skip" >&2
fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[spark]' \
  || echo "tools/test.sh: could not install pyspark; the Spark test will skip" >&2
if command -v java >/dev/null 2>&1 && python3 -c 'import pyspark' >/dev/null 2>&1; then
  export BME_TEST_REQUIRE_SPARK=1
fi

# npm packages: the Medplum FHIR search engine the integration tests start.
.ci/install-node-deps
# The script installed the FHIR engine, so a test that cannot start it is a failure, not a skip.
export BME_TEST_REQUIRE_FHIRSERVER=1
# Likewise the browser test once Chromium is installed above.
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  export BME_TEST_REQUIRE_BROWSER=1
fi

# And the Prometheus test once prometheus is installed above.
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  export BME_TEST_REQUIRE_PROMETHEUS=1
fi

# Static checks first: style (ruff) and types (mypy --strict on service/ and hooks/, per setup.cfg).
python3 -m ruff check service hooks tests tools bench
python3 -m mypy

exec python3 -m pytest "$@"
