# syntax=docker/dockerfile:1
# One image for every crawlfleet component; the Helm chart chooses the command:
#   API       uvicorn crawlfleet_api.main:app --host=0.0.0.0 --port=8000   (the default)
#   worker    celery --app=crawlfleet_workers.app worker --queues=<queue> --concurrency=<n>
#   Flower    celery --app=crawlfleet_workers.app flower --port=5555
#   operator  python -m crawlfleet_operator
# The base of both stages: any Debian bookworm image whose `python` has venv and pip.
# The test node builds it with debootstrap (hack/build-images.sh), as nothing is pulled there.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# tini's static build is copied into the final stage, which then needs no apt at all.
# Versions are not pinned: the base image tag pins the Debian release, and its
# security updates must not break the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install --yes --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core core
COPY api api
COPY operator operator
COPY workers workers
# The project is built into a wheel; its dependencies come only as binary wheels,
# so nothing is compiled and no compiler is ever installed.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/crawlfleet \
 && /opt/crawlfleet/bin/pip install --only-binary=:all: /wheels/crawlfleet-*.whl \
 && /opt/crawlfleet/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="crawlfleet" \
      org.opencontainers.image.description="Scrapy crawls as Celery jobs: API, workers, operator and Flower" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 crawlfleet \
 && useradd --system --uid 10001 --gid crawlfleet --home-dir /tmp --no-create-home --shell /usr/sbin/nologin crawlfleet
COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --from=build /opt/crawlfleet /opt/crawlfleet
# The root filesystem is read-only in the chart: no bytecode writes, home in /tmp.
ENV PATH=/opt/crawlfleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000 5555 8080 9090
# tini is PID 1: it hands SIGTERM to the command (Celery's warm shutdown, uvicorn's
# graceful one) and reaps crawl processes orphaned by a killed pool process.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["uvicorn", "crawlfleet_api.main:app", "--host=0.0.0.0", "--port=8000"]
