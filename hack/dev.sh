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
mkdir -p .run/redis

for port in "$CRAWLFLEET_DEV_REDIS_PORT" "$CRAWLFLEET_DEV_API_PORT" "$CRAWLFLEET_DEV_FLOWER_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Port $port on 127.0.0.1 is in use. Stop what uses it, or choose other ports with" >&2
    echo "CRAWLFLEET_DEV_REDIS_PORT, CRAWLFLEET_DEV_API_PORT and CRAWLFLEET_DEV_FLOWER_PORT." >&2
    exit 1
  fi
done

api="http://127.0.0.1:$CRAWLFLEET_DEV_API_PORT"
cat <<MSG

  crawlfleet is starting (Ctrl-C stops everything)
    API      $api            docs: $api/docs
    Flower   http://127.0.0.1:$CRAWLFLEET_DEV_FLOWER_PORT
    Redis    $redis           data: .run/redis (append-only file on)

  Submit a job, follow it, read its items:
    curl -s -X POST $api/v1/jobs -H 'Content-Type: application/json' \\
      -d '{"startUrls": ["https://quotes.toscrape.com/"], "maxPages": 20,
           "extract": {"quote": "span.text::text", "author": "small.author::text"}}'
    curl -s $api/v1/jobs/<id>            # state and progress
    curl -sN $api/v1/jobs/<id>/events    # live progress (Server-Sent Events)
    curl -s $api/v1/jobs/<id>/items      # scraped items

MSG
exec honcho --no-colour -f "${CRAWLFLEET_DEV_PROCFILE:-hack/Procfile.dev}" start
