#!/usr/bin/env bash
# `npm run bench [-- --size-gb N] [--compression N|zstd[:L]|gzip[:L]|none] [--compression-table]
# [--flat-check] [--skip-guide] [--skip-pgbackrest] [--skip-restore] [--drop]`, or `npm run bench --
# --databases N [--db-size-mb M] [--bound N] [--drop]` (the wave benchmark): set up, start the
# services, build, make sure Debian's awscli and pgbackrest are there, then run bench/run.mjs
# with the arguments passed through. Everything but the report goes to stderr, so the last line
# on stdout is the benchmark's JSON object.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

{
  bash scripts/setup.sh
  bash scripts/services.sh up
  npm run --silent build
} >&2

# Debian's awscli (the guide's `aws s3 cp`) and pgbackrest (a baseline): the bench's, not the
# product's setup. /usr/bin/aws explicitly: a pyenv shim named aws may come first on PATH.
packages=()
skip_aws=0 skip_pgbackrest=0
for arg in "$@"; do
  case "$arg" in
    --drop | --help | -h | --databases | --databases=*) skip_aws=1 skip_pgbackrest=1 ;;
    --skip-guide) skip_aws=1 ;;
    --skip-pgbackrest) skip_pgbackrest=1 ;;
  esac
done
((skip_aws)) || [[ -x /usr/bin/aws ]] || packages+=(awscli)
((skip_pgbackrest)) || command -v pgbackrest >/dev/null || packages+=(pgbackrest)
if ((${#packages[@]})); then
  [[ $EUID -eq 0 ]] || {
    echo "bench: missing ${packages[*]}: apt-get install ${packages[*]}, or pass --skip-guide / --skip-pgbackrest" >&2
    exit 1
  }
  echo "bench: apt: installing ${packages[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

set -a
# shellcheck disable=SC1091
. .run/services.env
set +a

exec node bench/run.mjs "$@"
