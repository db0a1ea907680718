#!/usr/bin/env bash
# The test tools the operations tests need, installed from Debian's packages when absent:
#   promtool            (package prometheus)  - `promtool check metrics|rules`, `promtool test rules`
#   chromium            (package chromium)    - the command-room page's browser test
#   chromium-driver     (package chromium-driver)
#   a CJK font          (package fonts-wqy-microhei) - the page is in Chinese; without
#                       one, the browser test's screenshots show boxes
#   docker-compose      (package docker-compose) - `docker-compose config` checks
#                       deploy/container/compose.yaml; no container engine is needed
# Run by the Makefile's test target before the integration tests. Needs root (or sudo)
# and a reachable Debian mirror only when something is missing; otherwise it does nothing.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "ensure.sh: need root to install ${missing[*]}" >&2; exit 1; }
  as_root=(sudo -n)
fi
echo "ensure.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >/dev/null
# --no-install-recommends: the prometheus package would pull a node exporter and more
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a Prometheus server on :9090 through systemd where systemd runs;
# the tests need only promtool.
for tool in promtool chromium chromedriver docker-compose; do
  command -v "$tool" >/dev/null || { echo "ensure.sh: $tool still missing" >&2; exit 1; }
done
