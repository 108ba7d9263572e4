"""A generated documentation-like site of static pages, served by nginx (Debian's
`nginx-light`, installed by `hack/ensure-packages.sh` when missing) so that the server
is never what a crawl benchmark measures.

`/page/<i>` for i in [0, size) is a tree of fan-out 4; besides its children, every
page links to its parent, the root and `NAV_LINKS` pages spread over the site (pages
met before or to come), in a body of several paragraphs, about 20 KB, as a docs
page is. The access log records each request's time (`$msec`) and path."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.harness.ports import free_port, wait_until

NGINX = "/usr/sbin/nginx"
FAN_OUT = 4
NAV_LINKS = 40
PARAGRAPH = "<p>" + "The crawl frontier keeps every request of a job in Redis. " * 12 + "</p>"

CONFIG = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type text/html;
    log_format timed '$msec $request_uri';
    access_log {root}/access.log timed buffer=64k flush=100ms;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}
}}
"""


def render(index: int, size: int) -> str:
    children = [c for c in range(FAN_OUT * index + 1, FAN_OUT * index + FAN_OUT + 1) if c < size]
    nav = [(index * 7919 + k * 104729) % size for k in range(NAV_LINKS)]
    parent = (index - 1) // FAN_OUT if index else 0
    hrefs = [*(f"/page/{c}" for c in children), f"/page/{parent}", "/page/0", *(f"/page/{n}" for n in nav)]
    links = "".join(f'<li><a href="{href}">{href}</a></li>' for href in hrefs)
    return (
        f"<html><head><title>Page {index}</title></head><body>"
        f'<h1 class="title">Page {index}</h1><ul class="nav">{links}</ul>{PARAGRAPH * 8}</body></html>'
    )


class StaticSite:
    def __init__(self, size: int) -> None:
        if not Path(NGINX).exists():
            subprocess.run(["hack/ensure-packages.sh", f"{NGINX}:nginx-light"], check=True)
        self.size = size
        self.scratch = tempfile.TemporaryDirectory()
        self.root = Path(self.scratch.name)
        self.root.chmod(0o755)  # nginx's workers read the pages as another user
        pages = self.root / "www" / "page"
        pages.mkdir(parents=True)
        (self.root / "tmp").mkdir()
        for index in range(size):
            (pages / str(index)).write_text(render(index, size))
        self.port = free_port()
        config = self.root / "nginx.conf"
        config.write_text(CONFIG.format(root=self.root, port=self.port))
        self.process = subprocess.Popen([NGINX, "-c", str(config), "-e", str(self.root / "error.log")])
        wait_until((self.root / "nginx.pid").exists, 10, "nginx to start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def page_requests(self) -> list[tuple[float, str]]:
        """(time, path) of every page request so far, oldest first."""
        time.sleep(0.2)  # the log's buffer is flushed every 100 ms
        log = (self.root / "access.log").read_text() if (self.root / "access.log").exists() else ""
        entries = [line.split(" ", 1) for line in log.splitlines()]
        return [(float(stamp), path) for stamp, path in entries if path.startswith("/page/")]

    def refetched(self, requests: list[tuple[float, str]]) -> int:
        """Page requests beyond the first of each page."""
        return sum(count - 1 for count in Counter(path for _, path in requests).values())

    def stop(self) -> None:
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        self.scratch.cleanup()
