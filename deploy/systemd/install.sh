#!/usr/bin/env bash
# Installs or upgrades edge-vision-agent as a systemd service, from an unpacked bundle (npm run bundle) or a
# built checkout. Run as root from the release you want: sudo ./deploy/systemd/install.sh [--start]
#
#   install: a system user `edge-agent` (groups video, render), /var/lib/edge-agent (data), /etc/edge-agent
#            (agent.yaml from deploy/agent.yaml and an env file, never overwritten), the release under
#            /opt/edge-agent/releases/<version>, /opt/edge-agent/current pointing at it, the unit, enabled.
#   upgrade: the same with a newer release while one is current: the new release's `edge-agent check` runs
#            first, as the service user, against the live config and data (check creates and migrates
#            nothing); a bad config (78) or a failing model stops the upgrade with the old version running.
#            Then `current` is switched and the service restarted; if it is not active (READY=1) and still up
#            after SETTLE_S seconds, `current` goes back to the previous release, the store is put back as it
#            was before a schema migration (the migrated file is kept beside it), and the old version starts.
# docs/install.md has the whole route, by hand too.
set -euo pipefail

PREFIX=${PREFIX:-/opt/edge-agent}
DATA=${DATA:-/var/lib/edge-agent}
ETC=${ETC:-/etc/edge-agent}
USER_NAME=${USER_NAME:-edge-agent}
SETTLE_S=${SETTLE_S:-30}
UNIT=/etc/systemd/system/edge-agent.service
SRC=$(cd "$(dirname "$0")/../.." && pwd)
START=false
[ "${1:-}" = "--start" ] && START=true

die() { echo "install: $*" >&2; exit 1; }
say() { echo "install: $*"; }

[ "$(id -u)" = 0 ] || die "run as root (it creates a user, directories and a unit)"
command -v node >/dev/null || die "node (20 or newer) is not installed: see docs/install.md"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  die "node $(node --version) is too old: 20 or newer is needed"
[ -f "$SRC/dist/main.js" ] || die "$SRC has no dist/: build it (npm run build) or use a bundle"
version=$(node -p "require('$SRC/package.json').version")

# the service user, with the groups that reach cameras (video) and GPUs (render)
for group in video render; do getent group "$group" >/dev/null || groupadd --system "$group"; done
if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
  say "created user $USER_NAME"
fi
usermod -a -G video,render "$USER_NAME"

install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$DATA"
install -d -o root -g "$USER_NAME" -m 0750 "$ETC"
if [ ! -f "$ETC/agent.yaml" ]; then
  install -o root -g "$USER_NAME" -m 0640 "$SRC/deploy/agent.yaml" "$ETC/agent.yaml"
  say "wrote $ETC/agent.yaml (the sample: point it at your line)"
fi
if [ ! -f "$ETC/env" ]; then
  install -o root -g "$USER_NAME" -m 0640 /dev/null "$ETC/env"
  cat >"$ETC/env" <<ENV
# read by the unit (EnvironmentFile) and by install.sh's check; KEY=value lines
EDGE_AGENT_DATA=$DATA
EDGE_AGENT_HOME=$PREFIX/current
# EDGE_AGENT_ID=cell-07
# MQTT_URL=mqtts://broker.plant:8883
# MQTT_USER=...
# MQTT_PASSWORD=...
# EDGE_AGENT_TOKEN=...
# GPU sites: where CUDA 12, cuDNN 9 and TensorRT live (docs/gpu.md)
# LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu
ENV
  say "wrote $ETC/env"
fi

# the release
release="$PREFIX/releases/$version"
if [ "$SRC" != "$release" ]; then
  [ -e "$release" ] && die "$release exists already: remove it, or run $release/deploy/systemd/install.sh"
  install -d -m 0755 "$PREFIX/releases"
  cp -a "$SRC" "$release.partial"
  mv "$release.partial" "$release"
  say "copied the release to $release"
fi
previous=$(readlink "$PREFIX/current" 2>/dev/null || true)

# the new release checks the live config and data before anything changes (it writes nothing)
set +e
( set -a; . "$ETC/env"; set +a; export EDGE_AGENT_HOME="$release"
  runuser -u "$USER_NAME" -- node "$release/bin/edge-agent.js" check -c "$ETC/agent.yaml" )
status=$?
set -e
case "$status" in
  0) say "check passed" ;;
  78) die "bad config ($ETC/agent.yaml): nothing was changed${previous:+, $previous keeps running}" ;;
  *)
    if [ -n "$previous" ]; then die "check failed: $version is not started, $previous keeps running"; fi
    say "check found problems (above): installing anyway, fix them before starting the service" ;;
esac

switch_to() { ln -sfn "$1" "$PREFIX/current.new" && mv -T "$PREFIX/current.new" "$PREFIX/current"; }
schema() { [ -f "$DATA/agent.db" ] && od -An -tu4 --endian=big -j60 -N4 "$DATA/agent.db" | tr -d ' ' || echo 0; }

switch_to "$release"
install -m 0644 "$release/deploy/systemd/edge-agent.service" "$UNIT"
systemctl daemon-reload
systemctl enable edge-agent.service >/dev/null
say "$PREFIX/current -> $release"

if [ -z "$previous" ]; then
  if $START; then systemctl start edge-agent.service; say "started"; else say "start it with: systemctl start edge-agent"; fi
  exit 0
fi

# upgrade: restart on the new release, roll back if it does not come up and stay up
schema_before=$(schema)
restarts_before=$(systemctl show -p NRestarts --value edge-agent.service)
if systemctl restart edge-agent.service && sleep "$SETTLE_S" &&
  [ "$(systemctl show -p ActiveState --value edge-agent.service)" = active ] &&
  [ "$(systemctl show -p NRestarts --value edge-agent.service)" = "$restarts_before" ]; then
  say "upgraded to $version (previous release kept: $previous)"
  exit 0
fi
say "$version did not stay up: rolling back to $previous"
systemctl stop edge-agent.service || true
switch_to "$previous"
if [ "$(schema)" != "$schema_before" ] && [ -f "$DATA/agent.db.v$schema_before.bak" ]; then
  mv "$DATA/agent.db" "$DATA/agent.db.from-$version"
  rm -f "$DATA/agent.db-wal" "$DATA/agent.db-shm"
  cp -a "$DATA/agent.db.v$schema_before.bak" "$DATA/agent.db"
  say "store restored to schema v$schema_before; the migrated one is $DATA/agent.db.from-$version"
fi
install -m 0644 "$previous/deploy/systemd/edge-agent.service" "$UNIT" 2>/dev/null || true
systemctl daemon-reload
systemctl start edge-agent.service
die "rolled back to $previous; see journalctl -u edge-agent"
