#!/usr/bin/env bash
# Installs the Debian packages the local platform and its tests need, only when missing:
# OpenJDK 17 and Maven (the Kafka broker), PostgreSQL 15, Prometheus (promtool and a real
# Prometheus for the dashboard tests), wrk (benchmarks), Chromium and its driver (the gateway's
# browser tests drive these binaries; nothing is downloaded at test time). Idempotent: does nothing when all are there.
set -euo pipefail
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15 postgresql-client-15)
command -v runuser >/dev/null || need+=(util-linux)
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v wrk >/dev/null || need+=(wrk)  # the gateway benchmark's load generator
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
