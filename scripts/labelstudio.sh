#!/usr/bin/env bash
# A local, headless Label Studio for the annotation backend and its tests, in its own virtual environment
# (it pins many packages the engine's own environment must not share).
#
#   scripts/labelstudio.sh install                 install label-studio into .venv-labelstudio, exactly the versions
#                                                  of constraints-labelstudio.txt (idempotent)
#   scripts/labelstudio.sh start [DATA_DIR] [PORT]  start it on 127.0.0.1:PORT and wait until it answers
#   scripts/labelstudio.sh stop [DATA_DIR]          stop it and its children
#   scripts/labelstudio.sh status [DATA_DIR]        "running <url> pid <pid>" (exit 0) or "stopped" (exit 3)
#
# Settings (environment; the DATA_ENGINE_LS_ prefix because Label Studio itself reads LABEL_STUDIO_* and plain
# PORT/HOST/USERNAME/...):
#   DATA_ENGINE_LS_DATA_DIR       data dir (default: <repo>/data/labelstudio); the first argument wins
#   DATA_ENGINE_LS_PORT           port (default 8080); the second argument wins
#   DATA_ENGINE_LS_TOKEN          API token of the admin user (5-40 characters); default: a random one, kept in
#                                 DATA_DIR/api-token (mode 600). Only read on the first start of a data dir.
#   DATA_ENGINE_LS_USER           admin e-mail (default admin@data-engine.local)
#   DATA_ENGINE_LS_PASSWORD       admin password (default: a random one, kept in DATA_DIR/admin-password)
#   DATA_ENGINE_LS_DOCUMENT_ROOT  root of the local files it may serve (default: the engine's own, read from its
#                                 settings in the current directory: DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT, else
#                                 the store, so the images the engine pushes load); start prints the variables
#                                 the engine needs to use this server
#   DATA_ENGINE_LS_ALLOW_PRIVATE_NETWORK=1  disables SSRF protection (tests only: webhooks to 127.0.0.1)
#   DATA_ENGINE_LS_VENV           virtual environment (default: <repo>/.venv-labelstudio)
#   DATA_ENGINE_LS_START_TIMEOUT  seconds to wait for the server (default 180)
# The token is never printed.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
# Every package of Label Studio's environment is pinned there (sentry-sdk<3 among them); scripts/lock.py writes it.
LOCK="$REPO/constraints-labelstudio.txt"
LABEL_STUDIO_VERSION="$(sed -n 's/^label-studio==//p' "$LOCK")"
VENV="${DATA_ENGINE_LS_VENV:-$REPO/.venv-labelstudio}"
COMMAND="${1:-}"
shift || true
DATA_DIR="${1:-${DATA_ENGINE_LS_DATA_DIR:-$REPO/data/labelstudio}}"
PORT="${2:-${DATA_ENGINE_LS_PORT:-8080}}"
PID_FILE="$DATA_DIR/labelstudio.pid"
URL_FILE="$DATA_DIR/labelstudio.url"
LOG_FILE="$DATA_DIR/labelstudio.log"

die() {
  echo "labelstudio.sh: $*" >&2
  exit 1
}

random_secret() {
  python3 -c 'import secrets; print(secrets.token_hex(20))'
}

install() {
  # The venv is up to date when it was installed from this very lock file (its hash is kept beside it).
  local want
  want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/label-studio" ] && [ "$(cat "$VENV/.lock-sha256" 2>/dev/null)" = "$want" ]; then
    echo "label-studio $LABEL_STUDIO_VERSION already installed in $VENV (as locked in $(basename "$LOCK"))"
    return
  fi
  echo "installing label-studio $LABEL_STUDIO_VERSION into $VENV from $(basename "$LOCK") (about 2 minutes, 1 GB)"
  python3 -m venv "$VENV"
  rm -f "$VENV/.lock-sha256"
  # pip's find-links warnings are noise here; its errors still show.
  if ! { "$VENV/bin/python" -m pip install --quiet -c "$LOCK" pip &&
    "$VENV/bin/python" -m pip install --quiet -c "$LOCK" -r "$LOCK"; } 2>&1 |
    { grep -v '^WARNING: Location' || true; } >&2; then
    die "pip could not install $LOCK"
  fi
  "$VENV/bin/python" -c "import label_studio" || die "label-studio was installed but does not import"
  echo "$want" >"$VENV/.lock-sha256"
  echo "installed label-studio $LABEL_STUDIO_VERSION"
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

port_in_use() {
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

start() {
  [ -x "$VENV/bin/label-studio" ] || die "Label Studio is not installed; run: scripts/labelstudio.sh install"
  mkdir -p "$DATA_DIR"
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
  PID_FILE="$DATA_DIR/labelstudio.pid"
  URL_FILE="$DATA_DIR/labelstudio.url"
  LOG_FILE="$DATA_DIR/labelstudio.log"
  if pid="$(running_pid)"; then
    echo "already running: $(cat "$URL_FILE") pid $pid"
    engine_settings "$(cat "$URL_FILE")" "$(cat "$DATA_DIR/labelstudio.document-root" 2>/dev/null || echo /)"
    return
  fi
  port_in_use "$PORT" && die "port $PORT is already in use; choose another (second argument or DATA_ENGINE_LS_PORT)"
  umask 077
  [ -f "$DATA_DIR/api-token" ] || echo "${DATA_ENGINE_LS_TOKEN:-$(random_secret)}" >"$DATA_DIR/api-token"
  [ -f "$DATA_DIR/admin-password" ] || echo "${DATA_ENGINE_LS_PASSWORD:-$(random_secret)}" >"$DATA_DIR/admin-password"
  umask 022
  local token ssrf root
  root="$(document_root)"
  mkdir -p "$root"
  echo "$root" >"$DATA_DIR/labelstudio.document-root"
  token="$(cat "$DATA_DIR/api-token")"
  [ "${#token}" -ge 5 ] && [ "${#token}" -le 40 ] || die "the API token must have 5 to 40 characters"
  ssrf=true
  [ "${DATA_ENGINE_LS_ALLOW_PRIVATE_NETWORK:-0}" = "1" ] && ssrf=false
  # Label Studio reads plain USERNAME, PASSWORD, PORT, HOST and DEBUG too: keep them out of its environment.
  env -u USERNAME -u PASSWORD -u PORT -u HOST -u DEBUG \
    LABEL_STUDIO_BASE_DATA_DIR="$DATA_DIR" \
    DJANGO_DB=sqlite \
    LABEL_STUDIO_USERNAME="${DATA_ENGINE_LS_USER:-admin@data-engine.local}" \
    LABEL_STUDIO_PASSWORD="$(cat "$DATA_DIR/admin-password")" \
    LABEL_STUDIO_USER_TOKEN="$token" \
    LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
    LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \
    LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$root" \
    LABEL_STUDIO_SSRF_PROTECTION_ENABLED="$ssrf" \
    setsid "$VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$PORT" \
    >"$LOG_FILE" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PID_FILE"
  local url="http://127.0.0.1:$PORT"
  local deadline=$((SECONDS + ${DATA_ENGINE_LS_START_TIMEOUT:-180}))
  until curl -fsS -o /dev/null --max-time 2 "$url/version" 2>/dev/null && server_owns_port "$pid"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      tail -20 "$LOG_FILE" >&2
      die "Label Studio exited during start (log: $LOG_FILE)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      stop_pid "$pid"
      tail -20 "$LOG_FILE" >&2
      die "Label Studio did not answer on $url within ${DATA_ENGINE_LS_START_TIMEOUT:-180} s (log: $LOG_FILE)"
    fi
    if grep -q "is in use" "$LOG_FILE" 2>/dev/null; then
      stop_pid "$pid"
      die "port $PORT was taken meanwhile and Label Studio moved to another port; stopped it, try another port"
    fi
    sleep 0.5
  done
  echo "$url" >"$URL_FILE"
  echo "running: $url pid $pid (token in $DATA_DIR/api-token, log $LOG_FILE)"
  engine_settings "$url" "$root"
}

document_root() {
  # The engine's document root as its settings give it here (environment, .env, DATA_ENGINE_CONFIG): the server
  # serves exactly the root the engine addresses its task images from, so they agree by construction.
  if [ -n "${DATA_ENGINE_LS_DOCUMENT_ROOT:-}" ]; then
    echo "$DATA_ENGINE_LS_DOCUMENT_ROOT"
    return
  fi
  PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" python3 -c '
import sys
from pathlib import Path
from data_engine.settings import Settings, SettingsError
try:
    settings = Settings.from_env()
except SettingsError as error:
    sys.exit(f"labelstudio.sh: the engine settings are invalid: {error}")
root = settings.label_studio_document_root or settings.store
if "://" in root:
    sys.exit(f"labelstudio.sh: the store {root} is not a local folder, so Label Studio cannot serve its images; "
             "set DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT (or DATA_ENGINE_LS_DOCUMENT_ROOT) to a local folder")
print(Path(root).expanduser().absolute())
' || exit 1
}

engine_settings() {
  # What the engine needs to push here; the token is read from its file, never printed.
  echo "for the engine (README.md, \"Annotating in Label Studio\"):"
  echo "  export DATA_ENGINE_LABEL_STUDIO_URL=$1"
  echo "  export DATA_ENGINE_LABEL_STUDIO_TOKEN=\"\$(cat $DATA_DIR/api-token)\""
  echo "  export DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT=$2"
}

server_owns_port() {
  # The process group started here listens on PORT (not some other server that happened to answer there).
  local pids
  pids="$(ss -Hltnp "sport = :$PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2)"
  for listener in $pids; do
    [ "$(ps -o pgid= -p "$listener" 2>/dev/null | tr -d ' ')" = "$1" ] && return 0
  done
  return 1
}

stop_pid() {
  local pid="$1"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    stop_pid "$pid"
    echo "stopped pid $pid"
  else
    rm -f "$PID_FILE"
    echo "not running"
  fi
}

status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running $(cat "$URL_FILE" 2>/dev/null || echo '(starting)') pid $pid"
  else
    echo "stopped"
    exit 3
  fi
}

case "$COMMAND" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: scripts/labelstudio.sh install|start|stop|status [DATA_DIR] [PORT]" ;;
esac
