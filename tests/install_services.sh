#!/usr/bin/env bash
# Install the servers and the browser that the tests start for themselves, from Debian's packages,
# when missing: PostgreSQL (the store contract tests run on it every time) and Chromium (the web
# pages are tested in it, driven by Playwright, which never downloads a browser of its own).
# Each test session starts its own throwaway server on a unix socket and its own headless browser;
# nothing here starts or configures a service.
set -euo pipefail
need=()
if ! command -v pg_ctl >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  need+=(postgresql)
fi
if [ ! -x /usr/bin/chromium ]; then
  need+=(chromium)
fi
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${need[*]} for the tests" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
