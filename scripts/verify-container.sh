#!/usr/bin/env bash
# Optional check of the container image (not part of .ci/run: it needs a Docker daemon and the
# base images rust:1.95-bookworm and debian:bookworm-slim). It builds the image, checks its
# metadata, validates k8s/config.json with the built binary, then runs `demo` the way the
# deployment files run the service (read-only root, no capabilities, memory limit) and checks:
# the HEALTHCHECK turns healthy, the process runs as uid 10001, maintenance commands work
# through `docker exec`, a second instance on the same data refuses to start (the database
# lock), every file written is in the volume and owned by 10001, and SIGTERM (`docker stop`)
# ends it with exit code 0 within the grace period.
#
# Containers run with `--network none`: the demo's simulated Discord and the health check both
# use the container's own loopback. Usage: scripts/verify-container.sh [IMAGE_TAG]
# DOCKER_BUILD_FLAGS adds options to `docker build` (e.g. `--network host` where the build
# reaches crates.io and the Debian mirror only through the host).
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-discord-monitor:verify}
app_uid=10001
# Seconds: the Compose stop_grace_period and Kubernetes terminationGracePeriodSeconds.
grace_secs=45
# Seconds: the HEALTHCHECK probes every 30 s; the first passing probe needs one interval.
healthy_within_secs=180

run_id="dm-verify-$$"
volume="${run_id}-data"
container="${run_id}-demo"

log() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
cleanup() {
  docker rm -f "$container" "${run_id}-second" >/dev/null 2>&1 || true
  docker volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "docker build -t $image ."
# shellcheck disable=SC2086 # word splitting of the extra flags is intended
docker build ${DOCKER_BUILD_FLAGS:-} -t "$image" .

log "Image metadata"
inspect() { docker image inspect --format "$1" "$image"; }
[ "$(inspect '{{.Config.User}}')" = "$app_uid:$app_uid" ] || fail "image user is $(inspect '{{.Config.User}}')"
[ "$(inspect '{{json .Config.Entrypoint}}')" = '["discord-monitor"]' ] || fail "entrypoint"
[ "$(inspect '{{json .Config.Cmd}}')" = '["run"]' ] || fail "cmd"
[ "$(inspect '{{json .Config.Healthcheck.Test}}')" = '["CMD","discord-monitor","healthcheck"]' ] \
  || fail "healthcheck $(inspect '{{json .Config.Healthcheck}}')"
[ "$(inspect '{{.Config.StopSignal}}')" = "SIGTERM" ] || fail "stop signal"
inspect '{{json .Config.ExposedPorts}}' | grep -q '"8080/tcp"' || fail "port 8080 not exposed"
for path in /app/data /app/logs /app/backups; do
  inspect '{{json .Config.Volumes}}' | grep -q "\"$path\"" || fail "$path is not a volume"
done
inspect '{{index .Config.Labels "org.opencontainers.image.title"}}' | grep -q discord-monitor \
  || fail "OCI labels"
echo "user $app_uid, entrypoint, cmd, healthcheck, stop signal, port, volumes, labels: ok"

log "k8s/config.json loads (config validate with the built binary)"
docker run --rm --network none \
  -v "$PWD/k8s/config.json:/etc/discord-monitor/config.json:ro" \
  -e DM_CONFIG=/etc/discord-monitor/config.json "$image" config validate

log "demo in a read-only container"
docker volume create "$volume" >/dev/null
# DATABASE_PATH makes `docker exec ... db stats` look at the demo's database.
docker run -d --name "$container" --network none \
  --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges:true \
  --memory 1g -e DATABASE_PATH=/app/demo-data/db.sqlite \
  -v "$volume:/app/demo-data" "$image" demo >/dev/null

started=$SECONDS
status=""
while [ $((SECONDS - started)) -lt "$healthy_within_secs" ]; do
  status=$(docker inspect --format '{{.State.Health.Status}}' "$container")
  [ "$status" = healthy ] && break
  [ "$(docker inspect --format '{{.State.Running}}' "$container")" = true ] \
    || { docker logs "$container" 2>&1 | tail -20; fail "demo container exited"; }
  sleep 3
done
[ "$status" = healthy ] || { docker logs "$container" 2>&1 | tail -20; fail "not healthy after ${healthy_within_secs}s ($status)"; }
echo "healthy after $((SECONDS - started))s: $(docker inspect --format '{{(index .State.Health.Log 0).Output}}' "$container" | head -1)"

uid=$(docker exec "$container" sh -c "awk '/^Uid:/ {print \$2}' /proc/1/status")
[ "$uid" = "$app_uid" ] || fail "process runs as uid $uid"
echo "PID 1 runs as uid $uid"

log "docker exec ... discord-monitor db stats (while the service runs)"
docker exec "$container" discord-monitor db stats

log "A second instance on the same data must refuse to start"
if docker run --name "${run_id}-second" --network none --read-only --tmpfs /tmp \
     -v "$volume:/app/demo-data" "$image" demo >"/tmp/${run_id}-second.log" 2>&1; then
  fail "a second instance started on the same database"
fi
grep "^error:" "/tmp/${run_id}-second.log" | grep -q "is in use by a running discord-monitor" \
  || { tail -5 "/tmp/${run_id}-second.log"; fail "the second instance failed for another reason"; }
grep "^error:" "/tmp/${run_id}-second.log"
rm -f "/tmp/${run_id}-second.log"

log "docker stop (SIGTERM) within ${grace_secs}s"
stop_started=$SECONDS
docker stop -t "$grace_secs" "$container" >/dev/null
took=$((SECONDS - stop_started))
code=$(docker inspect --format '{{.State.ExitCode}}' "$container")
docker logs "$container" 2>/dev/null | tail -3
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
[ "$took" -lt "$grace_secs" ] || fail "stop took ${took}s (SIGKILL at ${grace_secs}s)"
echo "exit code 0 after ${took}s"

log "Files written: only in the volume, all owned by uid $app_uid"
docker run --rm --network none --user 0 -v "$volume:/v" --entrypoint sh "$image" -c \
  "find /v -mindepth 1 -maxdepth 2 | sort | head -20; echo; find /v ! -uid $app_uid | head -5" \
  | tee "/tmp/${run_id}-files.txt"
# The last block (after the blank line) lists files not owned by the service's user.
if awk 'f && NF {bad=1} /^$/ {f=1} END {exit !bad}' "/tmp/${run_id}-files.txt"; then
  rm -f "/tmp/${run_id}-files.txt"; fail "files not owned by $app_uid"
fi
rm -f "/tmp/${run_id}-files.txt"

printf '\nverify-container: all checks passed\n'
