#!/usr/bin/env bash
# `npm test`: set up the machine, start the real services, then type-check, lint and run every test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/services.sh up
echo "test: type-check"
npm run --silent typecheck
echo "test: lint and format"
npm run --silent lint
echo "test: alert rules"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml
echo "test: build"
npm run --silent build
echo "test: vitest"
npx vitest run "$@"
