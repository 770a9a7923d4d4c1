#!/usr/bin/env bash
# End-to-end check of aim/docker-compose.yml on this machine, for real:
#   a. a Docker daemon: the one that answers, else one started here (root; installs docker.io)
#   b. a base image: python:3.11-slim, else a local Debian bookworm one (debootstrap, cached)
#   c. compose build + up: the Aim UI (:43800) and tracking server (:53800) over a scratch repo;
#      a port already taken (by a user's own Aim, say) moves to the next free one
#   d. a tiny training run logged through the tracking server (aim://127.0.0.1:<its port>)
#   e. the UI's REST API lists that run under its experiment
#   f. a headless-Chromium screenshot of the runs page -> aim/screenshot_tracking_server.png
#      (or $TEXTLAB_AIM_SCREENSHOT)
#   g. everything stopped and removed, also on failure
# Exit: 0 passed; 77 no Docker daemon can be started here (tests skip on it); else failed.
# Images (and the daemon's data-root) are cached in $TEXTLAB_AIM_DOCKER_CACHE, so a second run
# skips debootstrap and the pip install.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PY=$ROOT/.venv/bin/python
CACHE=${TEXTLAB_AIM_DOCKER_CACHE:-/tmp/textlab-aim-docker}
PROJECT=textlab-aim-check  # compose project name: never touches a user's own `aim` stack
LOCAL_BASE=textlab-python-base:bookworm
SCREENSHOT=${TEXTLAB_AIM_SCREENSHOT:-$HERE/screenshot_tracking_server.png}  # tests: a tmp file
TASK=docker_check
SKIP=77

T0=$SECONDS
STEP="start"
REPORTED=""
WORK=""
DOCKERD_PID=""
COMPOSE_STARTED=""

step() {
    STEP=$*
    echo "==> [$((SECONDS - T0))s] $*"
}
fail() {
    REPORTED=1
    echo "aim/check.sh: FAILED: $*" >&2
    exit 1
}
cannot() {
    REPORTED=1
    echo "aim/check.sh: SKIP: no Docker daemon can be started here: $*" >&2
    exit "$SKIP"
}
COMPOSE_YML=$HERE/docker-compose.yml
compose() {
    "${COMPOSE[@]}" -p "$PROJECT" -f "$COMPOSE_YML" "$@"
}
docker_answers() {
    timeout 20 docker info >/dev/null 2>&1
}
port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
free_port() {  # the first port from $1 on that nothing listens on, skipping $2
    local port=$1
    while port_taken "$port" || [ "$port" = "${2:-}" ]; do
        port=$((port + 1))
        [ "$port" -lt $(($1 + 200)) ] || fail "no free port in $1..$((port - 1)) on 127.0.0.1"
    done
    echo "$port"
}

cleanup() {
    local rc=$?
    set +e
    trap - INT TERM
    if [ "$rc" -ne 0 ] && [ "$rc" -ne "$SKIP" ] && [ -z "$REPORTED" ]; then
        echo "aim/check.sh: FAILED at step '$STEP' (exit $rc)" >&2
    fi
    if [ -n "$COMPOSE_STARTED" ]; then
        if [ "$rc" -ne 0 ]; then
            echo "--- container logs (last lines) ---" >&2
            compose logs --no-color --tail 30 >&2 2>&1
        fi
        echo "==> [$((SECONDS - T0))s] stopping the services (compose down -v)"
        compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1
    fi
    if [ -n "$DOCKERD_PID" ]; then
        docker image prune -f >/dev/null 2>&1  # superseded builds of the aim image, in our cache
        echo "==> [$((SECONDS - T0))s] stopping the Docker daemon started here (pid $DOCKERD_PID)"
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID"
        rm -f "$CACHE/dockerd.pid"
    fi
    if [ -n "$WORK" ]; then
        # dockerd leaves its network namespace mounted in its exec-root
        awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r \
            | while read -r mnt; do umount -l "$mnt"; done
        rm -rf "$WORK"
    fi
    [ "$rc" -eq 0 ] && echo "==> [$((SECONDS - T0))s] aim/check.sh: PASSED"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
step "preparing"
[ -x "$PY" ] || fail "no project virtualenv at $PY (run make env)"
WORK=$(mktemp -d /tmp/textlab-aim-check.XXXXXX)
mkdir -p "$WORK/repo"

apt_install() {
    command -v apt-get >/dev/null || return 1
    echo "    apt-get install $*"
    apt-get update -qq >"$WORK/apt.log" 2>&1 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$WORK/apt.log" 2>&1 \
        || { tail -5 "$WORK/apt.log" >&2; return 1; }
}

# ---------------------------------------------------------------------------------------------
step "a. Docker daemon"
if command -v docker >/dev/null && docker_answers; then
    echo "    using the daemon that answers at ${DOCKER_HOST:-the default socket}"
    OWN_DAEMON=""
else
    [ "$(id -u)" -eq 0 ] || cannot "none answers, and starting one needs root"
    missing=()
    command -v dockerd >/dev/null && command -v docker >/dev/null || missing+=(docker.io)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}" || cannot "could not apt-get install ${missing[*]}"
    fi
    mkdir -p "$CACHE"
    # one check at a time: they share the cached data-root (and the ports)
    exec 9>"$CACHE/lock"
    flock -n 9 || fail "another aim/check.sh is running (lock $CACHE/lock)"
    # a daemon left by a killed run would hold the cached data-root
    if [ -f "$CACHE/dockerd.pid" ]; then
        old=$(cat "$CACHE/dockerd.pid")
        if grep -qF "$CACHE/data" "/proc/$old/cmdline" 2>/dev/null; then
            echo "    stopping the daemon a previous run left (pid $old)"
            kill "$old"
            for _ in $(seq 60); do kill -0 "$old" 2>/dev/null || break; sleep 0.5; done
        fi
        rm -f "$CACHE/dockerd.pid"
    fi
    # no bridge and no iptables: a sandbox may offer neither; containers use host networking
    dockerd --iptables=false --ip6tables=false --bridge=none \
        --data-root "$CACHE/data" --exec-root "$WORK/exec" --pidfile "$CACHE/dockerd.pid" \
        -H "unix://$WORK/docker.sock" >"$WORK/dockerd.log" 2>&1 9>&- &
    DOCKERD_PID=$!
    export DOCKER_HOST=unix://$WORK/docker.sock
    for _ in $(seq 60); do
        docker_answers && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 1
    done
    if ! docker_answers; then
        tail -15 "$WORK/dockerd.log" >&2
        cannot "dockerd did not start (its log above)"
    fi
    OWN_DAEMON=1
    echo "    started dockerd (pid $DOCKERD_PID) at $DOCKER_HOST, images cached in $CACHE"
fi

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
else
    command -v docker-compose >/dev/null || apt_install docker-compose \
        || fail "neither 'docker compose' nor docker-compose, and apt-get could not install it"
    COMPOSE=(docker-compose)
    # docker-compose v1 builds through the daemon's classic builder: honours build.network
    export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
fi
echo "    compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?'))"

# for step f, installed now so that a missing browser fails before the long steps
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}" || fail "could not apt-get install ${missing[*]}"
fi

# ---------------------------------------------------------------------------------------------
step "b. base image"
BASE=${AIM_BASE_IMAGE:-python:3.11-slim}
if docker image inspect "$BASE" >/dev/null 2>&1; then
    echo "    $BASE is present"
elif timeout 300 docker pull -q "$BASE" >/dev/null 2>&1; then
    echo "    pulled $BASE"
elif [ -n "${AIM_BASE_IMAGE:-}" ]; then
    fail "AIM_BASE_IMAGE=$BASE is neither present nor pullable"
elif docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    echo "    $BASE cannot be pulled; using the cached local image $LOCAL_BASE"
    BASE=$LOCAL_BASE
else
    echo "    $BASE cannot be pulled; building $LOCAL_BASE with debootstrap (about 1-2 minutes)"
    command -v debootstrap >/dev/null || apt_install debootstrap \
        || fail "debootstrap is missing and apt-get could not install it"
    # the Debian mirror apt already uses here (the main archive, not -security)
    mirror=$("$PY" - <<'EOF'
import glob, re
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields = dict(re.findall(r"(?m)^([A-Za-z-]+):\s*(.+)$", stanza))
        suites = fields.get("Suites", "").split()
        if fields.get("Enabled", "yes") != "no" and "deb" in fields.get("Types", "").split() \
                and any("-" not in s for s in suites) and "security" not in fields.get("URIs", ""):
            print(fields["URIs"].split()[0]); raise SystemExit
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = re.sub(r"\[[^]]*\]", "", line).split()
        if len(words) >= 3 and words[0] == "deb" and "-" not in words[2] and "debian" in words[1] \
                and "security" not in words[1]:
            print(words[1]); raise SystemExit
print("http://deb.debian.org/debian")
EOF
)
    echo "    mirror: $mirror"
    t=$SECONDS
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -15 "$WORK/debootstrap.log" >&2; fail "debootstrap bookworm from $mirror failed"; }
    echo "    debootstrap: $((SECONDS - t)) s"
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
    # trust what this host trusts (a TLS-inspecting proxy's CA, say): pip in the build
    # reaches PyPI the way this host does
    [ -f /etc/ssl/certs/ca-certificates.crt ] \
        && cp /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt"
    t=$SECONDS
    tar -C "$WORK/rootfs" -c . | docker import --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null \
        || fail "docker import of the debootstrap tree failed"
    rm -rf "$WORK/rootfs"
    echo "    docker import: $((SECONDS - t)) s"
    BASE=$LOCAL_BASE
fi

# ---------------------------------------------------------------------------------------------
step "c. compose build + up (base $BASE)"
# a scratch repo: the check never writes into the project's .aim; written as this user, so
# that the cleanup can remove it
export AIM_BASE_IMAGE=$BASE AIM_REPO_ROOT=$WORK/repo AIM_BIND=127.0.0.1
AIM_USER="$(id -u):$(id -g)"
export AIM_USER
if [ -n "$OWN_DAEMON" ]; then
    # the daemon started here has no bridge: the same services on host networking, without
    # published ports (v1 rejects them there), listening on loopback only
    export AIM_LISTEN=127.0.0.1
    compose config >"$WORK/resolved.yml" || fail "compose config rejected aim/docker-compose.yml"
    "$PY" - "$WORK/resolved.yml" "$WORK/docker-compose.host.yml" <<'EOF'
import sys

import yaml

config = yaml.safe_load(open(sys.argv[1]))
config.pop("networks", None)
for service in config["services"].values():
    service.pop("ports", None)
    service.pop("networks", None)
    service["network_mode"] = "host"
yaml.safe_dump(config, open(sys.argv[2], "w"), sort_keys=False)
EOF
    COMPOSE_YML=$WORK/docker-compose.host.yml
fi
compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true  # a killed run's leftovers
AIM_SERVER_PORT=$(free_port 53800)
AIM_UI_PORT=$(free_port 43800 "$AIM_SERVER_PORT")
export AIM_SERVER_PORT AIM_UI_PORT  # docker-compose.yml reads them
UI=http://127.0.0.1:$AIM_UI_PORT
SERVER=aim://127.0.0.1:$AIM_SERVER_PORT
echo "    ports: UI $AIM_UI_PORT, tracking server $AIM_SERVER_PORT"
COMPOSE_STARTED=1
t=$SECONDS
compose build >"$WORK/build.log" 2>&1 \
    || { tail -25 "$WORK/build.log" >&2; fail "compose build of aim/Dockerfile failed"; }
echo "    build: $((SECONDS - t)) s"
t=$SECONDS
compose up -d --build >"$WORK/up.log" 2>&1 \
    || { tail -25 "$WORK/up.log" >&2; fail "compose up failed"; }
echo "    up (server healthy, UI started): $((SECONDS - t)) s"
t=$SECONDS
until curl -fsS -o /dev/null "$UI/api/projects/" 2>/dev/null; do
    [ $((SECONDS - t)) -lt 240 ] || fail "the Aim UI did not answer on $UI within 240 s"
    sleep 2
done
echo "    UI answers after $((SECONDS - t)) s more"

# ---------------------------------------------------------------------------------------------
step "d. training run logged through the tracking server"
t=$SECONDS
(
    cd "$ROOT"
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false "$PY" -m src.train \
        backbone=tiny_bert trainer=debug data=jigsaw_sample data.max_train_rows=120 \
        data.max_test_rows=60 data.max_length=32 logger.aim.repo="$SERVER" \
        task_name="$TASK" paths.log_dir="$WORK/logs"
) >"$WORK/train.log" 2>&1 || { tail -30 "$WORK/train.log" >&2; fail "src.train to $SERVER failed"; }
metrics=$(ls "$WORK"/logs/"$TASK"/runs/*/metrics.json 2>/dev/null | head -1 || true)
[ -n "$metrics" ] || fail "the training run wrote no metrics.json"
RUN_HASH=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["aim_run_hash"] or "")' "$metrics")
[ -n "$RUN_HASH" ] || fail "metrics.json has no aim_run_hash"
echo "    run $RUN_HASH in $((SECONDS - t)) s"

# ---------------------------------------------------------------------------------------------
step "e. the UI's REST API lists run $RUN_HASH"
"$PY" - "$UI" "$TASK" "$RUN_HASH" <<'EOF' || fail "the Aim UI's API does not list run $RUN_HASH under experiment $TASK"
import json, sys, time, urllib.error, urllib.request

ui, task, run_hash = sys.argv[1:]


def get(path):
    with urllib.request.urlopen(ui + path, timeout=30) as response:
        return json.load(response)


# the experiment lists the run at once; its info answers (not 404) once the UI has indexed it
deadline = time.monotonic() + 120
while True:
    experiments = {e["name"]: e for e in get("/api/experiments/")}
    runs = get(f"/api/experiments/{experiments[task]['id']}/runs/")["runs"] if task in experiments else []
    runs = [r for r in runs if r["run_id"] == run_hash]
    try:
        info = get(f"/api/runs/{run_hash}/info/") if runs else None
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        info = None
    if info:
        break
    if time.monotonic() > deadline:
        print(f"    experiments: {sorted(experiments)}; {task} lists {runs}; info: 404", file=sys.stderr)
        raise SystemExit(1)
    time.sleep(2)
props = info["props"]
traces = info["traces"].get("metric", [])
metrics = sorted({f"{t['name']} {t['context']}" for t in traces if "__system__" not in t["name"]})
print(f"    GET /api/experiments/ -> {task!r}: run_count={experiments[task]['run_count']}")
print(f"    GET /api/experiments/<id>/runs/ -> {runs}")
print(f"    GET /api/runs/{run_hash}/info/ -> experiment={props['experiment']['name']!r}, "
      f"name={props['name']!r}, tags={[t['name'] for t in props['tags']]}, "
      f"params={sorted(k for k in info['params'] if k != '__system_params')}, "
      f"{len(metrics)} metric traces, e.g. {metrics[:3]}")
if props["experiment"]["name"] != task or not metrics:
    raise SystemExit(1)
EOF

# ---------------------------------------------------------------------------------------------
step "f. screenshot of the runs page"
# selenium drives Debian's chromium: it waits until the run is rendered, which a plain
# --screenshot with a virtual-time budget cannot tell
SE_OFFLINE=true "$PY" - "$UI/runs" "$RUN_HASH" "$SCREENSHOT" "$WORK/chromium" <<'EOF' \
    || fail "the runs page did not show run $RUN_HASH (screenshot $SCREENSHOT)"
import sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

url, run_hash, screenshot, profile = sys.argv[1:]
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--window-size=1600,1000", f"--user-data-dir={profile}"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.get(url)
    deadline = time.monotonic() + 120
    while run_hash not in driver.page_source and time.monotonic() < deadline:
        time.sleep(1)
    shown = run_hash in driver.page_source
    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        button.click()  # the "join the community" pop-up would hide part of the page
    time.sleep(3)  # let the table finish drawing
    driver.save_screenshot(screenshot)
finally:
    driver.quit()
print(f"    {url} lists {run_hash}: {shown}; saved {screenshot}")
raise SystemExit(0 if shown else 1)
EOF

step "g. cleaning up"
