"""A small generated website served on loopback for crawls to fetch.

`/page/<i>` for i in [0, size): a binary tree (page i links to 2i+1 and 2i+2), so
page i sits at depth floor(log2(i+1)). Every page has a title and a price to
extract, a link off-site, and page 0 links into `/private/`, which robots.txt
disallows. `/slow/<i>` answers after `slow_delay` seconds and links on forever,
for crawls that must still be running when a test acts on them.
`/redirect?to=<url>` answers 302 to any URL, for redirects a crawl must refuse.

`python -m tests.harness.website --host H --port P` serves it until killed (the
test node runs it in its network namespace)."""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from tests.harness.ports import free_port

# Three quotes in the markup of the quotes sandbox the README crawls.
QUOTES = [
    ("“The world as we have created it is a process of our thinking.”", "Albert Einstein"),
    ("“It is our choices that show what we truly are.”", "J.K. Rowling"),
    ("“A day without sunshine is like, you know, night.”", "Steve Martin"),
]
QUOTES_PAGE = (
    "<html><head><title>Quotes to Scrape</title></head><body><div class='col-md-8'>"
    + "".join(
        f'<div class="quote" itemscope><span class="text" itemprop="text">{text}</span>'
        f'<span>by <small class="author" itemprop="author">{author}</small></span></div>'
        for text, author in QUOTES
    )
    + "</div></body></html>"
)
STATIC_PAGES = {"/robots.txt": "User-agent: *\nDisallow: /private/\n", "/quotes": QUOTES_PAGE}


class Website:
    def __init__(self, size: int = 15, slow_delay: float = 0.5, host: str = "127.0.0.1", port: int = 0) -> None:
        self.size = size
        self.slow_delay = slow_delay
        self.requests: list[tuple[float, str]] = []
        self.headers: list[tuple[str, dict[str, str]]] = []
        self.port = port or free_port()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                # A crawl that a test stopped hangs up mid-answer; that is expected.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.answer()

            def answer(self) -> None:
                site.requests.append((time.time(), self.path))
                site.headers.append((self.path, dict(self.headers)))
                if self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", unquote(self.path.removeprefix("/redirect?to=")))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body = site.render(self.path)
                data = body.encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "text/plain" if self.path == "/robots.txt" else "text/html; charset=utf-8"
                )
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    @staticmethod
    def depth(index: int) -> int:
        return (index + 1).bit_length() - 1

    def pages_within_depth(self, depth: int) -> int:
        return sum(1 for i in range(self.size) if self.depth(i) <= depth)

    def paths_requested(self) -> list[str]:
        return [path for _, path in self.requests]

    def render(self, path: str) -> tuple[int, str]:
        if path in STATIC_PAGES:
            return 200, STATIC_PAGES[path]
        if path.startswith("/page/"):
            index = int(path.removeprefix("/page/"))
            if not 0 <= index < self.size:
                return 404, "not found"
            children = [c for c in (2 * index + 1, 2 * index + 2) if c < self.size]
            links = "".join(f'<a href="/page/{c}">child {c}</a>' for c in children)
            if index == 0:
                links += '<a href="/private/secret">secret</a>'
            return 200, (
                f"<html><head><title>Page {index}</title></head><body>"
                f'<h1 class="title">Page {index}</h1><span class="price">{index * 10}</span>'
                f'{links}<a href="http://offsite.invalid/">elsewhere</a></body></html>'
            )
        if path.startswith("/slow/"):
            index = int(path.removeprefix("/slow/"))
            time.sleep(self.slow_delay)
            return 200, (
                f'<html><body><h1 class="title">Slow {index}</h1><a href="/slow/{index + 1}">next</a></body></html>'
            )
        if path.startswith("/private/"):
            return 200, "<html><body><h1 class='title'>Private</h1></body></html>"
        return 404, "not found"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TangledWebsite(Website):
    """A site whose pages reach one another many ways, as real sites' pages do.

    `/doc/<i>` for i in [0, size) is a tree of fan-out 3 (page i links to pages
    3i+1 to 3i+3). Besides its children, page i links to each child again with a
    fragment, to itself, its parent and the root (pages met before), to
    `/redirect?to=` its parent (a page met before) and `/leaf/<i>` (a page only that
    redirect reaches), to `/gone/<i>` (404), to `/private/<i>` (robots.txt forbids
    it), and off-site: to the same server named `localhost`, directly and through a
    redirect. Every page is first met at one depth whatever order a crawl takes, so
    a depth limit bounds every crawl to the same pages: `reachable(depth)`."""

    FAN_OUT = 3

    def __init__(self, size: int = 40) -> None:
        super().__init__(size=size)

    @classmethod
    def doc_depth(cls, index: int) -> int:
        depth = 0
        while index > 0:
            index = (index - 1) // cls.FAN_OUT
            depth += 1
        return depth

    def reachable(self, depth: int) -> int:
        """Pages a crawl from `/doc/0` reaches within `depth` links: the docs, and
        the leaf behind the redirect of every doc that still follows links."""
        depths = [self.doc_depth(i) for i in range(self.size)]
        return sum(d <= depth for d in depths) + sum(d < depth for d in depths)

    def page_fetches(self) -> list[str]:
        """Requests for pages, every answer of which is a page."""
        return [path for path in self.paths_requested() if path.startswith(("/doc/", "/leaf/"))]

    def render(self, path: str) -> tuple[int, str]:
        if path.startswith("/leaf/"):
            return 200, f"<html><body><h1 class='title'>Leaf {path.removeprefix('/leaf/')}</h1></body></html>"
        if not path.startswith("/doc/"):
            return super().render(path)
        index = int(path.removeprefix("/doc/"))
        if not 0 <= index < self.size:
            return 404, "not found"
        children = [
            c for c in range(self.FAN_OUT * index + 1, self.FAN_OUT * index + self.FAN_OUT + 1) if c < self.size
        ]
        parent = (index - 1) // self.FAN_OUT if index else 0
        offsite = f"http://localhost:{self.port}"
        hrefs = [
            *(f"/doc/{c}" for c in children),
            *(f"/doc/{c}#section-2" for c in children),
            f"/doc/{index}#top",
            "/doc/0",
            f"/doc/{parent}#contents",
            f"/redirect?to=/doc/{parent}",
            f"/redirect?to=/leaf/{index}",
            f"/gone/{index}",
            f"/private/{index}",
            f"{offsite}/doc/{index}",
            f"/redirect?to={offsite}/leaf/{index}",
        ]
        links = "".join(f'<a href="{href}">{href}</a>' for href in hrefs)
        return 200, f"<html><body><h1 class='title'>Doc {index}</h1>{links}</body></html>"


class HeldWebsite(Website):
    """A site whose slow pages from `/slow/<held_from>` on are answered only after
    `release()`, so that a crawl of it is still running when the test acts on it."""

    def __init__(self, held_from: int) -> None:
        self.held_from = held_from
        self.released = threading.Event()
        super().__init__()

    def render(self, path: str) -> tuple[int, str]:
        if path.startswith("/slow/") and self.holds(int(path.removeprefix("/slow/"))):
            self.released.wait()
        return super().render(path)

    def holds(self, index: int) -> bool:
        """Whether `/slow/<index>` waits for `release()`."""
        return index >= self.held_from

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        super().stop()


class HeldTree(Website):
    """The tree of `/page/<i>` whose pages from `/page/<held_from>` on are answered only
    after `release()`: a breadth-first crawl of it fetches the pages before, then
    stalls, with every request it has in flight waiting here (`waiting`; at most
    `most_waiting` at once)."""

    def __init__(self, size: int, held_from: int) -> None:
        self.held_from = held_from
        self.released = threading.Event()
        self.waiting = 0
        self.most_waiting = 0
        self.lock = threading.Lock()
        super().__init__(size=size)

    def holds(self, index: int) -> bool:
        """Whether `/page/<index>` waits for `release()`."""
        return index >= self.held_from

    def render(self, path: str) -> tuple[int, str]:
        if path.startswith("/page/") and self.holds(int(path.removeprefix("/page/"))):
            with self.lock:
                self.waiting += 1
                self.most_waiting = max(self.most_waiting, self.waiting)
            self.released.wait()
            with self.lock:
                self.waiting -= 1
        return super().render(path)

    def release(self) -> None:
        self.released.set()

    def page_fetches(self) -> Counter[str]:
        """How many times each page was requested."""
        return Counter(path for path in self.paths_requested() if path.startswith("/page/"))

    def stop(self) -> None:
        self.release()
        super().stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the test website until killed.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    Website(host=options.host, port=options.port).thread.join()


if __name__ == "__main__":
    main()
