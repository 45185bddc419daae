#!/bin/sh
# The container's entrypoint (Dockerfile, deploy/compose.yaml): checks what a production start
# needs, then runs one role. Tested outside a container by tests/yitong/test_container.py.
#
#   serve    `yitong db upgrade` (unless YITONG_MIGRATE_ON_START=false), then `yitong serve` on
#            0.0.0.0:${PORT:-8000}; the default
#   migrate  `yitong db upgrade` only (run once before several app hosts start)
#   worker   `yitong worker` (RQ; needs YITONG_REDIS_URL)
#   other    run as given, e.g. `yitong backup --out /backup/today`
set -eu

fail() {
  echo "yitong-entrypoint: $*" >&2
  exit 2
}

[ -n "${YITONG_ISSUER:-}" ] || fail "set YITONG_ISSUER to the public URL clients use (https://id.example.gov.cn); \
a container has no sensible default"

# The master key comes from a mounted secret, never from the image or the home volume.
secrets="${YITONG_SECRETS_DIR:-/run/secrets}"
if [ -z "${YITONG_MASTER_KEY_FILE:-}" ] && [ -z "${YITONG_MASTER_KEY:-}" ]; then
  [ -r "$secrets/yitong_master_key" ] || fail "mount the master key as the secret yitong_master_key \
($secrets/yitong_master_key, 32 hex digits) or set YITONG_MASTER_KEY_FILE; keep a copy apart from backups"
  YITONG_MASTER_KEY_FILE="$secrets/yitong_master_key"
  export YITONG_MASTER_KEY_FILE
fi
if [ -z "${YITONG_METRICS_TOKEN:-}" ] && [ -r "$secrets/yitong_metrics_token" ]; then
  YITONG_METRICS_TOKEN="$(cat "$secrets/yitong_metrics_token")"
  export YITONG_METRICS_TOKEN
fi
# The stand-in base library is for trials: mounted only when asked for.
export YITONG_BASELIB_MOUNT="${YITONG_BASELIB_MOUNT:-false}"
export YITONG_LOG_FORMAT="${YITONG_LOG_FORMAT:-json}"

role="${1:-serve}"
case "$role" in
  serve)
    [ "$#" -gt 0 ] && shift
    if [ "${YITONG_MIGRATE_ON_START:-true}" != "false" ]; then
      yitong db upgrade
    fi
    exec yitong serve --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" "$@"
    ;;
  migrate)
    exec yitong db upgrade
    ;;
  worker)
    shift
    exec yitong worker "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
