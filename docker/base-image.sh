#!/usr/bin/env bash
# Builds a local stand-in for the Dockerfile's base image (python:3.11-slim-bookworm) from
# Debian's packages, for machines that reach Debian's mirror but not Docker Hub (CI here):
# debootstrap bookworm with python3 and venv, `python` on the PATH, and this machine's CA
# bundle trusted inside it so that pip and apt work behind the same TLS proxy as the host.
# Does nothing when the tag exists already. Needs root, debootstrap and a running Docker engine.
#
#   docker/base-image.sh [TAG]     TAG defaults to the Dockerfile's FROM
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-$(awk 'toupper($1) == "FROM" { print $2; exit }' Dockerfile)}
bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base-image.sh: $tag exists already"
    exit 0
fi

# The Debian mirror this machine's apt uses (one-line or deb822 sources), else Debian's own.
mirror() {
    local found
    found=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -Eo '(https?|file)://[^ ]*/debian/?( |$)' | grep -v security | head -n 1 || true)
    echo "${found:-http://deb.debian.org/debian}" | tr -d ' '
}

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$root" "$(mirror)"
# This machine's bundle (Debian's roots and any the host adds) replaces the one built in.
install -m 0644 "$bundle" "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python"]' \
    - "$tag"
echo "base-image.sh: built $tag"
