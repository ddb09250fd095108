#!/bin/sh
# The image's entrypoint: its first argument is the role (docs/deploy.md#container). Each role
# replaces this shell (exec), so SIGTERM from `docker stop` reaches the process itself.
set -eu

here=$(dirname "$0")

usage() {
    cat <<EOF
usage: entrypoint.sh ROLE [ARGS...]

  web          gunicorn serving the App on 0.0.0.0:\$PORT (migrates first)
  worker       process webhook deliveries; run as many as you like
  scheduler    periodic jobs (digests, redeliveries, the inbox's retention); run one
  migrate      bring the database to this release's schema, then exit
  COMMAND ...  any other yield-auditor command, e.g. \`inbox list --status failed\`

web, worker and scheduler migrate on start unless YIELD_AUDITOR_MIGRATE_ON_START=false.
EOF
}

role=${1:-}
[ $# -gt 0 ] && shift

case "$role" in
    web)
        exec gunicorn --config "$here/gunicorn.conf.py" "$@"
        ;;
    worker | scheduler | migrate)
        exec yield-auditor "$role" "$@"
        ;;
    help | -h | --help)
        usage
        exit 0
        ;;
esac

# Anything else is passed to the command line interface, if it has such a command.
if [ -n "$role" ] && yield-auditor "$role" --help >/dev/null 2>&1; then
    exec yield-auditor "$role" "$@"
fi
echo "entrypoint.sh: unknown role '$role'" >&2
usage >&2
exit 2
