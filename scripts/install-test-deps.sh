#!/usr/bin/env bash
# Installs the system packages the test suites need, only if they are missing.
# Idempotent and silent when there is nothing to do. Debian/Ubuntu (apt-get).
#
#   aria2c               (aria2)               e2e: HTTP tracker transfers, IPv4 and IPv6
#   rtorrent             (rtorrent)            e2e: UDP tracker transfers
#   python3 + libtorrent (python3-libtorrent)  e2e: UDP over IPv6, access list
#   chromium             (chromium)            e2e: WebTorrent in a real browser
#   openssl              (openssl)             integration: a self-signed certificate for TLS
#   redis-server         (redis-server)        unit + integration: Redis snapshots (a private server per run)
#   mariadbd             (mariadb-server)      integration: private mode's database (a private server per run)
#
# With --bench it also installs what `npm run bench:compare` needs:
#   opentracker          (opentracker)         the C tracker measured side by side
#   gcc                  (gcc)                 builds the C load generator
#
# As root it installs directly (CI); otherwise through sudo when available;
# otherwise it prints the exact command and exits 1.
set -euo pipefail

missing=()
bench=no
[ "${1:-}" = --bench ] && bench=yes

have_command() { command -v "$1" >/dev/null 2>&1; }

have_libtorrent() {
  local python
  for python in "${TRACKER_E2E_PYTHON:-}" /usr/bin/python3 python3; do
    [ -n "$python" ] || continue
    "$python" -c 'import libtorrent' >/dev/null 2>&1 && return 0
  done
  return 1
}

# mariadbd and mariadb-install-db live in /usr/sbin, outside a non-root PATH.
have_mariadb() {
  { have_command mariadbd || [ -x /usr/sbin/mariadbd ]; } &&
    { have_command mariadb-install-db || [ -x /usr/bin/mariadb-install-db ]; }
}

check_all() {
  missing=()
  have_command aria2c || missing+=(aria2)
  have_command rtorrent || missing+=(rtorrent)
  have_libtorrent || missing+=(python3-libtorrent)
  [ -x "${WT_E2E_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
  have_command openssl || missing+=(openssl)
  have_command redis-server || missing+=(redis-server)
  have_mariadb || missing+=(mariadb-server)
  if [ "$bench" = yes ]; then
    [ -x /usr/bin/opentracker ] || missing+=(opentracker)
    have_command gcc || missing+=(gcc)
  fi
}

check_all
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

install_cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"

if ! have_command apt-get; then
  echo "install-test-deps: missing test dependencies: ${missing[*]}" >&2
  echo "install-test-deps: no apt-get here; install the equivalents of these Debian packages: ${missing[*]}" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif have_command sudo; then
  as_root=(sudo)
else
  echo "install-test-deps: missing test dependencies: ${missing[*]}" >&2
  echo "install-test-deps: not root and no sudo; as root run:" >&2
  echo "  $install_cmd" >&2
  exit 1
fi

echo "install-test-deps: installing ${missing[*]}" >&2
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0 -q)
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update >&2 ||
  ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >&2; then
  echo "install-test-deps: installation failed; as root run:" >&2
  echo "  $install_cmd" >&2
  exit 1
fi

check_all
if [ "${#missing[@]}" -ne 0 ]; then
  echo "install-test-deps: still missing after installation: ${missing[*]}" >&2
  exit 1
fi
echo "install-test-deps: done" >&2
