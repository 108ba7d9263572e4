"""The job model: the single source of the API request body, the ScrapeJob CRD's
spec schema and the worker's input."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import idna
from parsel import Selector as HtmlSelector
from parsel.csstranslator import css2xpath
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crawlfleet_core.model.base import SpecModel
from crawlfleet_core.model.feeds import FeedOptions, FeedUri
from crawlfleet_core.model.projects import ProjectName, SpiderName, VersionName

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


SETTING_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
ARGUMENT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# RFC 9110 token characters; values may not break a header line.
HEADER_NAME_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$"
HEADER_VALUE_PATTERN = r"^[^\r\n]*$"
COOKIE_VALUE_PATTERN = r"^[^;\r\n]*$"


def scalar_as_text(value: object) -> object:
    """A number or a boolean given for a Scrapy setting is the text Scrapy would read,
    as with `scrapy crawl -s NAME=VALUE`."""
    return str(value) if isinstance(value, bool | int | float) else value


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


SettingValue = Annotated[str, BeforeValidator(scalar_as_text), StringConstraints(max_length=8192)]
HeaderValue = Annotated[str, StringConstraints(max_length=4096, pattern=HEADER_VALUE_PATTERN)]
CookieValue = Annotated[str, StringConstraints(max_length=4096, pattern=COOKIE_VALUE_PATTERN)]
# Fields that drive the built-in spider and mean nothing to a project's own spider.
BUILT_IN_SPIDER_FIELDS = ("start_urls", "allowed_domains", "extract", "item_selector", "cookies")


class AutoThrottle(SpecModel):
    """Scrapy's AutoThrottle: the delay between requests adapts to the site's latency."""

    target_concurrency: float = Field(
        1.0, ge=0.1, le=64, description="Requests in flight per site that AutoThrottle aims at."
    )
    start_delay: float = Field(5.0, ge=0, le=60, description="Seconds between requests at first.")
    max_delay: float = Field(60.0, ge=0, le=600, description="Longest delay between requests, in seconds.")


class JobSpec(SpecModel):
    """What to crawl and what to extract. Field names are camelCase on the wire,
    the same in the API and in a ScrapeJob's spec.

    A job runs either the built-in spider, driven by `startUrls`, `extract` and the
    other crawl fields, or the spider `spider` of the Scrapy project `project`."""

    project: ProjectName | None = Field(
        None,
        description=(
            "Scrapy project whose spider runs: deployed with addversion.json, or installed in the queue's "
            "worker image. Unset runs the built-in spider."
        ),
    )
    spider: SpiderName | None = Field(
        None, validate_default=True, description="Name of the project's spider to run; required with project."
    )
    version: VersionName | None = Field(
        None, description="Deployed version of the project to run; unset runs the latest one at submission."
    )
    spider_args: dict[Annotated[str, StringConstraints(pattern=ARGUMENT_NAME_PATTERN)], SettingValue] = Field(
        default_factory=dict,
        max_length=100,
        description="Arguments of the project's spider (`scrapy crawl -a NAME=VALUE`), as text.",
    )
    settings: dict[Annotated[str, StringConstraints(pattern=SETTING_NAME_PATTERN)], SettingValue] = Field(
        default_factory=dict,
        max_length=200,
        description=(
            "Scrapy settings of this job, over the project's (`scrapy crawl -s NAME=VALUE`), as text: "
            "dicts as JSON, lists comma-separated. The platform's guard settings always win."
        ),
    )
    start_urls: list[HttpUrl] = Field(
        default_factory=list, max_length=1000, description="Pages the built-in spider starts from; http or https only."
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
    item_selector: Selector | None = Field(
        None,
        description=(
            "CSS (or `xpath:` XPath) selector of the elements that are items: one item per match, with the "
            "extract selectors evaluated relative to it. Unset gives one item per page."
        ),
    )
    user_agent: Annotated[str, StringConstraints(max_length=512, pattern=HEADER_VALUE_PATTERN)] | None = Field(
        None, description="User-Agent header of every request (Scrapy's USER_AGENT)."
    )
    headers: dict[Annotated[str, StringConstraints(pattern=HEADER_NAME_PATTERN)], HeaderValue] = Field(
        default_factory=dict,
        max_length=50,
        description="Headers sent with every request (Scrapy's DEFAULT_REQUEST_HEADERS).",
    )
    cookies: dict[Annotated[str, StringConstraints(pattern=HEADER_NAME_PATTERN)], CookieValue] = Field(
        default_factory=dict,
        max_length=50,
        description="Cookies the built-in spider sends with every request.",
    )
    download_delay: float | None = Field(
        None, ge=0, le=600, description="Seconds between two requests to the same site (Scrapy's DOWNLOAD_DELAY)."
    )
    auto_throttle: AutoThrottle | None = Field(
        None, description="Adapt the delay between requests to each site's latency (Scrapy's AutoThrottle)."
    )

    @model_validator(mode="before")
    @classmethod
    def _start_urls_given(cls, data: Any) -> Any:
        """Absent start URLs are checked as an empty list given, so that an error names
        them `startUrls` (pydantic names a default it validates by its Python name)."""
        if isinstance(data, dict) and "startUrls" not in data and "start_urls" not in data:
            return {**data, "startUrls": []}
        return data

    @field_validator("spider")
    @classmethod
    def _spider_with_project(cls, spider: str | None, info: ValidationInfo) -> str | None:
        if (spider is None) != (info.data.get("project") is None):
            raise ValueError(
                "project and spider go together: name both to run a project's spider, neither for the built-in one"
            )
        return spider

    @field_validator("version", "spider_args")
    @classmethod
    def _only_with_project(cls, value: Any, info: ValidationInfo) -> Any:
        if value and info.data.get("project") is None:
            raise ValueError(f"{_camel(info.field_name)} belongs to a project's spider: name project and spider too")
        return value

    @field_validator("start_urls")
    @classmethod
    def _start_urls_for_the_built_in_spider(cls, urls: list[str], info: ValidationInfo) -> list[str]:
        if not urls and info.data.get("project") is None:
            raise ValueError("the built-in spider needs at least one start URL (or name a project and spider)")
        return urls

    @field_validator(*BUILT_IN_SPIDER_FIELDS)
    @classmethod
    def _built_in_spider_only(cls, value: Any, info: ValidationInfo) -> Any:
        if value and info.data.get("project") is not None:
            raise ValueError(
                f"{_camel(info.field_name)} drives the built-in spider; a project's spider takes its own arguments "
                "in spiderArgs"
            )
        return value

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
            _check_selector(name, selector)
        return extract

    @field_validator("item_selector")
    @classmethod
    def _item_selector_compiles(cls, selector: str | None) -> str | None:
        if selector is not None:
            _check_selector("itemSelector", selector)
        return selector

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


def _camel(field_name: str | None) -> str:
    alias = JobSpec.model_fields[field_name].alias if field_name else None
    return alias or str(field_name)


def _check_selector(name: str, selector: str) -> None:
    try:
        EMPTY_PAGE.xpath(selector_xpath(selector))
    except Exception as error:  # cssselect, parsel and lxml raise several unrelated types
        raise ValueError(f"{name}: invalid selector {selector!r}: {error}") from None
