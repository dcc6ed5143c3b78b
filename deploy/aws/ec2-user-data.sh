#!/usr/bin/env bash
# EC2 user data for Ubuntu 24.04: installs Docker Engine and the compose v2 plugin, clones
# inferwatch and starts the whole stack (service, PostgreSQL store, Prometheus, Alertmanager,
# Grafana) with `docker compose up -d --build`. Every port stays on the instance's loopback;
# reach them with an SSH tunnel, e.g. `ssh -L 8000:127.0.0.1:8000 ubuntu@HOST`.
#
# Override before launching: INFERWATCH_REPO (git URL), INFERWATCH_REF (branch or tag).
set -euo pipefail

REPO="${INFERWATCH_REPO:-https://github.com/inferwatch/inferwatch.git}"
REF="${INFERWATCH_REF:-main}"
DIR=/opt/inferwatch
export DEBIAN_FRONTEND=noninteractive

# Docker's apt repository (the docker-ce packages bring `docker compose`, v2).
apt-get update -q
apt-get install -y -q ca-certificates curl git
install -m 0755 -d /etc/apt/keyrings
curl -fsSL https://download.docker.com/linux/ubuntu/gpg -o /etc/apt/keyrings/docker.asc
chmod a+r /etc/apt/keyrings/docker.asc
# shellcheck source=/dev/null
codename="$(. /etc/os-release && echo "${VERSION_CODENAME}")"
echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu ${codename} stable" \
  > /etc/apt/sources.list.d/docker.list
apt-get update -q
apt-get install -y -q docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
systemctl enable --now docker

if [ ! -d "${DIR}/.git" ]; then
  git clone --depth 1 --branch "${REF}" "${REPO}" "${DIR}"
fi
cd "${DIR}"

# Secrets stay on the instance, generated once. Both the PostgreSQL container (uid 999) and
# the service (uid 10001) read the store password, so the file is world-readable inside a
# directory nobody can list; no other user logs in to this instance.
umask 077
mkdir -p secrets
if [ ! -s secrets/postgres_password ]; then
  head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > secrets/postgres_password
fi
chmod 0711 secrets
chmod 0444 secrets/postgres_password

docker compose up -d --build
