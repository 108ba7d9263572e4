# syntax=docker/dockerfile:1
# A worker image with a Scrapy project installed: build it in the project's directory,
#   docker build -f project-worker.Dockerfile -t registry.example.com/team/pricewatch-worker:1.4 .
FROM ghcr.io/crawlfleet/crawlfleet:0.1.0
USER 0:0
COPY . /tmp/project
# Into a directory of its own on PYTHONPATH, beside crawlfleet's environment, which
# has Scrapy and itemadapter; name any other dependency of the project here too.
RUN /usr/local/bin/python3 -m pip install --no-cache-dir --no-deps --target /opt/project /tmp/project \
 && rm -rf /tmp/project
ENV PYTHONPATH=/opt/project
USER 10001:10001
