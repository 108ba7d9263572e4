"""The job model: what a valid spec is, and what each bad one is told."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from crawlfleet_core.model.jobs import JobSpec, selector_xpath


def test_defaults_and_camel_case_round_trip() -> None:
    spec = JobSpec.model_validate({"startUrls": ["https://example.com/a"]})
    dumped = spec.model_dump(by_alias=True)
    assert dumped["maxPages"] == 100 and dumped["obeyRobotsTxt"] is True and dumped["queue"] == "default"
    assert JobSpec.model_validate(dumped) == spec
    assert spec.domains() == ["example.com"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"startUrls": []}, "startUrls"),
        ({"startUrls": ["ftp://example.com/"]}, "startUrls.0"),
        ({"startUrls": ["javascript:alert(1)"]}, "startUrls.0"),
        ({"startUrls": ["https://example.com:99999/"]}, "startUrls"),
        ({"startUrls": ["https://example.com/"], "maxPages": 0}, "maxPages"),
        ({"startUrls": ["https://example.com/"], "maxDepth": -1}, "maxDepth"),
        ({"startUrls": ["https://example.com/"], "concurrency": 1000}, "concurrency"),
        ({"startUrls": ["https://example.com/"], "shards": 0}, "shards"),
        ({"startUrls": ["https://example.com/"], "shards": 65, "concurrency": 64}, "shards"),
        # The shards share the job's concurrency: each needs a request in flight.
        ({"startUrls": ["https://example.com/"], "shards": 3, "concurrency": 2}, "shards"),
        ({"startUrls": ["https://example.com/"], "extract": {"t": "h1[[["}}, "extract"),
        ({"startUrls": ["https://example.com/"], "extract": {"url": "h1"}}, "extract"),
        ({"startUrls": ["https://example.com/"], "extract": {"1bad": "h1"}}, "extract.1bad"),
        ({"startUrls": ["https://example.com/"], "queue": "Not_A_Queue"}, "queue"),
        ({"startUrls": ["https://example.com/"], "allowedDomains": ["exa mple.com"]}, "allowedDomains.0"),
        ({"startUrls": ["https://example.com/"], "unknown": 1}, "unknown"),
        # Selectors that compile but fail when evaluated.
        ({"startUrls": ["https://example.com/"], "extract": {"t": "xpath:$undefined"}}, "extract"),
        ({"startUrls": ["https://example.com/"], "extract": {"t": "xpath:foo()"}}, "extract"),
        ({"startUrls": ["https://example.com/"], "extract": {"t": "xpath:document('x')"}}, "extract"),
        ({"startUrls": ["https://bü_cher.test/"]}, "startUrls.0"),
        ({"startUrls": ["https://example.com/"], "allowedDomains": ["bü cher.test"]}, "allowedDomains.0"),
        # A project's spider, and the fields that belong to one kind of spider only.
        ({"project": "books"}, "spider"),
        ({"spider": "catalog", "startUrls": ["https://example.com/"]}, "spider"),
        ({"project": "books", "spider": "catalog", "startUrls": ["https://example.com/"]}, "startUrls"),
        ({"project": "books", "spider": "catalog", "extract": {"t": "h1"}}, "extract"),
        ({"project": "books", "spider": "catalog", "itemSelector": "div.quote"}, "itemSelector"),
        ({"project": "books", "spider": "catalog", "cookies": {"session": "1"}}, "cookies"),
        ({"startUrls": ["https://example.com/"], "version": "1.0"}, "version"),
        ({"startUrls": ["https://example.com/"], "spiderArgs": {"category": "x"}}, "spiderArgs"),
        ({"project": "my/project", "spider": "catalog"}, "project"),
        ({"project": "books", "spider": "cat alog"}, "spider"),
        ({"project": "books", "spider": "catalog", "version": "feature/x"}, "version"),
        ({"project": "books", "spider": "catalog", "settings": {"NOT-A-NAME": "1"}}, "settings.NOT-A-NAME"),
        ({"project": "books", "spider": "catalog", "settings": {"ITEM_PIPELINES": {"a.B": 1}}}, "settings"),
        ({"project": "books", "spider": "catalog", "spiderArgs": {"1st": "x"}}, "spiderArgs.1st"),
        ({"startUrls": ["https://example.com/"], "itemSelector": "div[[["}, "itemSelector"),
        ({"startUrls": ["https://example.com/"], "headers": {"X-Bad": "a\r\nInjected: 1"}}, "headers.X-Bad"),
        ({"startUrls": ["https://example.com/"], "userAgent": "ua\nInjected: 1"}, "userAgent"),
        ({"startUrls": ["https://example.com/"], "downloadDelay": -1}, "downloadDelay"),
        ({"startUrls": ["https://example.com/"], "autoThrottle": {"targetConcurrency": 0}}, "autoThrottle"),
    ],
)
def test_bad_specs_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        JobSpec.model_validate(body)
    locations = [".".join(str(part) for part in error["loc"]) for error in caught.value.errors()]
    assert any(location.startswith(field) for location in locations), locations


def test_selectors_are_css_unless_marked_xpath() -> None:
    assert selector_xpath("xpath://h1/text()") == "//h1/text()"
    assert selector_xpath("//h1") == "//h1"
    assert selector_xpath("css:h1") == selector_xpath("h1") == "descendant-or-self::h1"


def test_priority_counts_up_but_celery_serves_zero_first() -> None:
    high = JobSpec.model_validate({"startUrls": ["https://example.com/"], "priority": 9})
    low = JobSpec.model_validate({"startUrls": ["https://example.com/"], "priority": 0})
    assert high.celery_priority() < low.celery_priority()


def test_an_internationalised_host_is_kept_in_its_ascii_form() -> None:
    spec = JobSpec.model_validate(
        {"startUrls": ["http://user@Bücher.test:8080/straße?q=ä#top"], "allowedDomains": ["Bücher.test", "EXAMPLE.com"]}
    )
    assert spec.start_urls == ["http://user@xn--bcher-kva.test:8080/straße?q=ä#top"]
    assert spec.allowed_domains == ["xn--bcher-kva.test", "example.com"]
    assert JobSpec.model_validate({"startUrls": ["http://bücher.test/"]}).domains() == ["xn--bcher-kva.test"]
    assert JobSpec.model_validate({"startUrls": ["http://[::1]:8000/"]}).start_urls == ["http://[::1]:8000/"]


def test_selectors_parsel_supports_are_accepted() -> None:
    spec = JobSpec.model_validate(
        {
            "startUrls": ["https://example.com/"],
            "extract": {"a": "xpath://div[has-class('x')]/text()", "b": "a::attr(href)", "c": "xpath:count(//a)"},
        }
    )
    assert set(spec.extract) == {"a", "b", "c"}


def test_a_project_spider_needs_no_start_urls_and_takes_arguments_and_settings_as_text() -> None:
    spec = JobSpec.model_validate(
        {
            "project": "books",
            "spider": "catalog",
            "version": "1.2",
            "spiderArgs": {"category": "poetry", "pages": 3},
            "settings": {"DOWNLOAD_DELAY": 0.5, "ROBOTSTXT_OBEY": False, "ITEM_PIPELINES": '{"books.Save": 300}'},
        }
    )
    assert spec.start_urls == []
    assert spec.spider_args == {"category": "poetry", "pages": "3"}
    assert spec.settings == {
        "DOWNLOAD_DELAY": "0.5",
        "ROBOTSTXT_OBEY": "False",
        "ITEM_PIPELINES": '{"books.Save": 300}',
    }
    assert JobSpec.model_validate(spec.model_dump(by_alias=True)) == spec


def test_the_built_in_spider_knobs_are_kept_as_given() -> None:
    spec = JobSpec.model_validate(
        {
            "startUrls": ["https://example.com/"],
            "itemSelector": "div.quote",
            "extract": {"text": "span.text::text"},
            "userAgent": "team-bot/1.0 (+https://example.com/bot)",
            "headers": {"Accept-Language": "de"},
            "cookies": {"consent": "yes"},
            "downloadDelay": 0.25,
            "autoThrottle": {"targetConcurrency": 2},
        }
    )
    assert spec.item_selector == "div.quote"
    assert spec.auto_throttle is not None and spec.auto_throttle.target_concurrency == 2.0
    assert spec.auto_throttle.max_delay == 60.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", False),
        ("priority", True),
        ("priority", 1.5),
        ("priority", "3"),
        ("maxPages", 10.5),
        ("maxPages", "10"),
        ("followLinks", "yes"),
        ("followLinks", 1),
        ("obeyRobotsTxt", "false"),
        ("queue", 7),
    ],
)
def test_json_types_are_strict(field: str, value: object) -> None:
    """A value of another JSON type is an error, never converted: `false` is no priority."""
    body = {"startUrls": ["https://example.com/"], field: value}
    for validate in (JobSpec.model_validate, lambda data: JobSpec.model_validate_json(json.dumps(data))):
        with pytest.raises(ValidationError) as raised:
            validate(body)
        assert [error["loc"] for error in raised.value.errors()] == [(field,)]


def test_an_integral_number_is_an_integer_as_in_json_schema() -> None:
    spec = JobSpec.model_validate_json('{"startUrls": ["https://example.com/"], "maxPages": 83.0, "priority": 1.0}')
    assert (spec.max_pages, spec.priority) == (83, 1)
    assert isinstance(spec.max_pages, int)
