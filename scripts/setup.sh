#!/usr/bin/env bash
# Installs everything the tests need, idempotently: Debian packages (sshd,
# Go, the JDK and HttpClient jars, podman, Chromium), then the project in .venv.
# Safe to re-run; skips what is already there. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(openssh-server openssh-client iproute2 procps util-linux sudo
      golang-go openjdk-17-jdk-headless libhttpclient-java libcommons-httpclient-java
      podman runc busybox-static uidmap postgresql-client
      chromium fonts-dejavu-core)  # the pages' browser tests: Playwright drives /usr/bin/chromium

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# reinstall only when the dependency list changed
stamp=.venv/.hostsnap-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c "import bot, collectors" 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  echo "$want" > "$stamp"
fi
