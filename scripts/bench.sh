#!/usr/bin/env bash
# `npm run bench [-- --size-gb N] [--compression N] [--compression-table] [--flat-check] [--drop]`:
# set up, start the services, build, make sure Debian's awscli is there (the guide's
# `aws s3 cp`), then run bench/run.mjs with the arguments passed through. Everything but the
# report goes to stderr, so the last line on stdout is the benchmark's JSON object.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

{
  bash scripts/setup.sh
  bash scripts/services.sh up
  npm run --silent build
} >&2

needs_aws=1
for arg in "$@"; do
  [[ "$arg" == --skip-guide || "$arg" == --drop || "$arg" == --help || "$arg" == -h ]] && needs_aws=0
done
# /usr/bin/aws explicitly: a pyenv shim named aws may come first on PATH.
if ((needs_aws)) && [[ ! -x /usr/bin/aws ]]; then
  [[ $EUID -eq 0 ]] || {
    echo "bench: /usr/bin/aws missing; install Debian's awscli (apt-get install awscli) or pass --skip-guide" >&2
    exit 1
  }
  echo "bench: apt: installing awscli (Debian's, for the guide's aws s3 cp)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends awscli >/dev/null
fi

set -a
# shellcheck disable=SC1091
. .run/services.env
set +a

exec node bench/run.mjs "$@"
