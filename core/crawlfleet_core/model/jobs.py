"""The job model: the single source of the API request body, the ScrapeJob CRD's
spec schema and the worker's input."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import idna
from parsel import Selector as HtmlSelector
from parsel.csstranslator import css2xpath
from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo, field_validator

from crawlfleet_core.model.base import SpecModel
from crawlfleet_core.model.feeds import FeedOptions, FeedUri

MAX_URL_LENGTH = 2048
# The URL grammar the API schema and the CRD publish is the one the server applies:
# every URL the pattern admits is accepted (`ascii_url` never refuses one) and none
# it refuses is. So it spells out what `urllib.parse` would otherwise judge later: a
# port from 0 to 65535, an IPv6 literal `ipaddress` accepts (without an embedded
# IPv4 or a zone), ASCII user information, and no control or space character.
_LABEL = r"([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?|[\p{L}\p{N}]([\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?)"
_HEX = "[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join(
    (
        rf"({_HEX}:){{7}}{_HEX}",
        rf"({_HEX}:){{1,7}}:",
        *(rf"({_HEX}:){{1,{7 - tail}}}(:{_HEX}){{{tail}}}" for tail in range(1, 7)),
        rf":(:{_HEX}){{1,7}}",
        "::",
    )
)
_PORT = r"0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_VISIBLE = r"[^\x00-\x20\x7f]"
HTTP_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    r"([A-Za-z0-9._~!$&'()*+,;=:%-]*@)?"
    rf"({_LABEL}(\.{_LABEL})*|\[({_IPV6})\])"
    rf"(:({_PORT})?)?"
    rf"([/?#]{_VISIBLE}*)?$"
)
# Letters of any script: an internationalised name is accepted as written and kept in its ASCII form.
DOMAIN_PATTERN = r"^([\p{L}\p{N}]([\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)*[\p{L}\p{N}]([\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$"
QUEUE_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_SHARDS = 64


def ascii_host(host: str) -> str:
    """`host` as DNS and Scrapy see it: lower case, an internationalised name in its
    IDNA (punycode) form, so that `bücher.test` and `xn--bcher-kva.test` are one host.

    A name IDNA 2008 would not register (a label too long once encoded, letters of
    scripts mixed against its rules) is still a well-formed name: its labels are
    encoded as they are, DNS answers that no such host exists, and the crawl says so."""
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return ".".join(
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in host.lower().split(".")
        )


def ascii_url(url: str) -> str:
    """`url`, which matches `HTTP_URL_PATTERN`, with its host in ASCII (see `ascii_host`)."""
    parts = urlsplit(url)
    port = parts.port
    if parts.hostname is None or parts.hostname.isascii():
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + ascii_host(parts.hostname) + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


HttpUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=MAX_URL_LENGTH, pattern=HTTP_URL_PATTERN),
    AfterValidator(ascii_url),
]
Domain = Annotated[str, StringConstraints(max_length=253, pattern=DOMAIN_PATTERN), AfterValidator(ascii_host)]
Selector = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
# Selectors are tried on this at submission, so one that only fails when evaluated
# (an undefined variable or function) is refused then, not found out mid-crawl.
EMPTY_PAGE = HtmlSelector(text="<html><body></body></html>")


def selector_xpath(selector: str) -> str:
    """The XPath of an extract selector: `xpath:...`, `css:...`, or bare CSS
    (a bare selector that starts with `/` or `(` is XPath)."""
    if selector.startswith("xpath:"):
        return selector.removeprefix("xpath:")
    if selector.startswith("css:"):
        return css2xpath(selector.removeprefix("css:"))
    if selector.startswith(("/", "(")):
        return selector
    return css2xpath(selector)


class JobSpec(SpecModel):
    """What to crawl and what to extract. Field names are camelCase on the wire,
    the same in the API and in a ScrapeJob's spec."""

    start_urls: list[HttpUrl] = Field(
        min_length=1, max_length=1000, description="Pages the crawl starts from; http or https only."
    )
    allowed_domains: list[Domain] = Field(
        default_factory=list,
        max_length=100,
        description="Domains the crawl may follow links into; empty means the start URLs' domains.",
    )
    max_pages: int = Field(100, ge=1, le=1_000_000, description="Stop after this many pages.")
    max_depth: int = Field(3, ge=0, le=100, description="How many links deep to follow from a start URL.")
    follow_links: bool = Field(True, description="Follow links found on crawled pages.")
    extract: dict[Annotated[str, StringConstraints(pattern=FIELD_NAME_PATTERN)], Selector] = Field(
        default_factory=dict,
        max_length=50,
        description="Item field name to CSS selector (or `xpath:` XPath); one item per page with its url.",
        # Without it the schema's key pattern would only constrain the keys that match it.
        json_schema_extra={"additionalProperties": False},
    )
    obey_robots_txt: bool = Field(True, description="Honour each site's robots.txt.")
    concurrency: int = Field(8, ge=1, le=64, description="Requests in flight at once.")
    shards: int = Field(
        1,
        ge=1,
        le=MAX_SHARDS,
        description="Crawl processes sharing the job's frontier, each on a worker slot of its own: more for a "
        "big site whose parsing a single core cannot keep up with. At most the job's concurrency, which they share, "
        "and the platform's CRAWLFLEET_MAX_SHARDS.",
    )
    time_limit_seconds: int | None = Field(
        None,
        ge=1,
        le=86_400,
        description="Stop the crawl cleanly after this many seconds; at most, and by default, as long as the "
        "platform lets a crawl run (its CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS).",
    )
    retries: int = Field(2, ge=0, le=10, description="Retries of a failed page, and of a crashed crawl.")
    callback_url: HttpUrl | None = Field(
        None,
        description="Where to POST the job's signed JSON summary when it ends (SUCCESS, FAILURE or REVOKED).",
    )
    feeds: dict[FeedUri, FeedOptions] = Field(
        default_factory=dict,
        max_length=10,
        description="Scrapy feed exports of the items, as in its FEEDS setting: s3:// URI to options.",
    )
    queue: Annotated[str, StringConstraints(max_length=63, pattern=QUEUE_PATTERN)] = Field(
        "default", description="Worker pool (Celery queue) that runs the job."
    )
    priority: int = Field(5, ge=0, le=9, description="0 (lowest) to 9 (highest) within the queue.")

    @field_validator("shards")
    @classmethod
    def _shards_share_the_concurrency(cls, shards: int, info: ValidationInfo) -> int:
        concurrency = info.data.get("concurrency")
        if concurrency is not None and shards > concurrency:
            raise ValueError(
                f"{shards} shards would need at least {shards} requests in flight, and concurrency is {concurrency}: "
                "the shards share the job's concurrency; ask for fewer shards or more concurrency"
            )
        return shards

    @field_validator("extract")
    @classmethod
    def _selectors_compile(cls, extract: dict[str, str]) -> dict[str, str]:
        for name, selector in extract.items():
            if name == "url":
                raise ValueError("'url' is reserved: every item has the page's url")
            try:
                EMPTY_PAGE.xpath(selector_xpath(selector))
            except Exception as error:  # cssselect, parsel and lxml raise several unrelated types
                raise ValueError(f"{name}: invalid selector {selector!r}: {error}") from None
        return extract

    def domains(self) -> list[str]:
        """The domains the crawl may visit."""
        if self.allowed_domains:
            return list(self.allowed_domains)
        return sorted({urlsplit(url).hostname or "" for url in self.start_urls})

    def time_limit(self, platform_limit: int) -> int:
        """Seconds the crawl may run: its own limit, or the platform's when it names none."""
        return self.time_limit_seconds or platform_limit

    def celery_priority(self) -> int:
        """Celery's Redis transport serves priority 0 first; ours counts up."""
        return 9 - self.priority
