#!/usr/bin/env bash
# `make dev`: the whole job path on this machine, in the foreground, logs prefixed
# by process. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

export CRAWLFLEET_DEV_REDIS_PORT=${CRAWLFLEET_DEV_REDIS_PORT:-6380}
export CRAWLFLEET_DEV_API_PORT=${CRAWLFLEET_DEV_API_PORT:-8000}
export CRAWLFLEET_DEV_FLOWER_PORT=${CRAWLFLEET_DEV_FLOWER_PORT:-5555}
redis="redis://127.0.0.1:$CRAWLFLEET_DEV_REDIS_PORT"
export CRAWLFLEET_BROKER_URL=${CRAWLFLEET_BROKER_URL:-$redis/0}
export CRAWLFLEET_RESULT_BACKEND=${CRAWLFLEET_RESULT_BACKEND:-$redis/1}
export CRAWLFLEET_JOB_STORE_URL=${CRAWLFLEET_JOB_STORE_URL:-$redis/2}
# Local test sites can be crawled in development; never set this in production
# without thinking about what else lives in that network.
export CRAWLFLEET_ALLOWED_NETWORKS=${CRAWLFLEET_ALLOWED_NETWORKS:-127.0.0.0/8}
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONUNBUFFERED=1
run=${CRAWLFLEET_DEV_RUN_DIR:-.run}
export CRAWLFLEET_DEV_REDIS_DIR=$run/redis
mkdir -p "$CRAWLFLEET_DEV_REDIS_DIR"
api="http://127.0.0.1:$CRAWLFLEET_DEV_API_PORT"
flower="http://127.0.0.1:$CRAWLFLEET_DEV_FLOWER_PORT"
export CRAWLFLEET_FLOWER_URL=${CRAWLFLEET_FLOWER_URL:-$flower}
# Flower answers its API only to a signed-in user: one password per checkout, kept in
# $run so that a browser's saved login keeps working across restarts.
[[ -s $run/flower-password ]] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$run/flower-password")
export FLOWER_BASIC_AUTH="dev:$(cat "$run/flower-password")"

for port in "$CRAWLFLEET_DEV_REDIS_PORT" "$CRAWLFLEET_DEV_API_PORT" "$CRAWLFLEET_DEV_FLOWER_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Port $port on 127.0.0.1 is in use. Stop what uses it, or choose other ports with" >&2
    echo "CRAWLFLEET_DEV_REDIS_PORT, CRAWLFLEET_DEV_API_PORT and CRAWLFLEET_DEV_FLOWER_PORT." >&2
    exit 1
  fi
done

# Another shell reaches this platform after `source $run/dev.env`: celery inspect,
# the crawlfleet CLI and Flower's API then find the dev Redis, API and password.
(umask 077; cat > "$run/dev.env" <<ENV
# Written by \`make dev\`: \`source $run/dev.env\` in another shell to reach it.
export CRAWLFLEET_BROKER_URL=$CRAWLFLEET_BROKER_URL
export CRAWLFLEET_RESULT_BACKEND=$CRAWLFLEET_RESULT_BACKEND
export CRAWLFLEET_JOB_STORE_URL=$CRAWLFLEET_JOB_STORE_URL
export CRAWLFLEET_ALLOWED_NETWORKS=$CRAWLFLEET_ALLOWED_NETWORKS
export CRAWLFLEET_API_URL=$api
export FLOWER_BASIC_AUTH=$FLOWER_BASIC_AUTH
export PATH="$PWD/.venv/bin:\$PATH"
ENV
)

cat <<MSG

  crawlfleet is starting (Ctrl-C stops everything)
    Dashboard $api/          API docs: $api/docs
    Flower   $flower     user dev, password $(cat "$run/flower-password")
    Redis    $redis           data: $CRAWLFLEET_DEV_REDIS_DIR (append-only file on)

  In another shell:  source $run/dev.env
    celery -A crawlfleet_workers.app inspect active
    crawlfleet submit https://quotes.toscrape.com/ --extract 'quote=span.text::text' --wait
    curl -s -u "\$FLOWER_BASIC_AUTH" "$flower/api/workers?refresh=1"

  Submit a job, follow it, read its items:
    curl -s -X POST $api/v1/jobs -H 'Content-Type: application/json' \\
      -d '{"startUrls": ["https://quotes.toscrape.com/"], "maxPages": 20,
           "extract": {"quote": "span.text::text", "author": "small.author::text"}}'
    curl -s $api/v1/jobs/<id>            # state and progress
    curl -sN $api/v1/jobs/<id>/events    # live progress (Server-Sent Events)
    curl -s $api/v1/jobs/<id>/items      # scraped items

MSG
exec honcho --no-colour -f "${CRAWLFLEET_DEV_PROCFILE:-hack/Procfile.dev}" start
