"""Keep crawls off addresses they must not reach.

Two checks, because a URL names its host in two ways: an IP literal is checked
before the request leaves (a clear error at once), and a host name is checked on
every address its DNS lookup returns, at connection time, so a name that
resolves (or re-resolves) to a private address is refused too."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingHostnameResolver
from twisted.internet.interfaces import IAddress, IHostResolution, IResolutionReceiver
from zope.interface import provider

from crawlfleet_core.addresses import BlockedAddressError, check_address, parse_address
from crawlfleet_core.settings import Network

ALLOWED_NETWORKS_SETTING = "CRAWLFLEET_ALLOWED_NETWORKS"
# Why the first request was refused, for the job's error when no page could be fetched.
FIRST_BLOCKED_STAT = "crawlfleet/first_blocked"
# Host name -> why its addresses were refused, so an error names the cause
# instead of Twisted's "no results for hostname lookup".
BLOCKED_HOSTS: dict[str, str] = {}


class BlockedRequestError(IgnoreRequest):
    """A request refused because of where it would connect."""


def allowed_networks(settings: Any) -> list[Network]:
    return list(settings.get(ALLOWED_NETWORKS_SETTING) or [])


class AddressGuardMiddleware:
    """Downloader middleware refusing requests to IP literals outside the public internet."""

    def __init__(self, networks: list[Network], stats: Any) -> None:
        self.networks = networks
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> AddressGuardMiddleware:
        return cls(allowed_networks(crawler.settings), crawler.stats)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        address = parse_address(urlsplit(request.url).hostname or "")
        if address is None:
            return
        try:
            check_address(address, self.networks)
        except BlockedAddressError as error:
            reason = f"blocked {request.url}: {error}"
            if self.stats.get_value(FIRST_BLOCKED_STAT) is None:
                self.stats.set_value(FIRST_BLOCKED_STAT, reason)
            raise BlockedRequestError(reason) from None


@provider(IResolutionReceiver)
class _PublicAddressesOnly:
    def __init__(self, receiver: IResolutionReceiver, host: str, networks: list[Network]) -> None:
        self.receiver = receiver
        self.host = host
        self.networks = networks

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:
        parsed = parse_address(getattr(address, "host", ""))
        try:
            if parsed is None:
                raise BlockedAddressError(f"{address} is not an IP address")
            check_address(parsed, self.networks)
        except BlockedAddressError as error:
            BLOCKED_HOSTS[self.host] = f"{self.host} resolves to {error}"
            return
        self.receiver.addressResolved(address)

    def resolutionComplete(self) -> None:
        self.receiver.resolutionComplete()


class PublicAddressResolver(CachingHostnameResolver):
    """Scrapy's caching resolver, passing on only the addresses a crawl may reach."""

    def __init__(self, reactor: Any, cache_size: int, networks: list[Network]) -> None:
        super().__init__(reactor, cache_size)
        self.networks = networks

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> PublicAddressResolver:
        return cls(reactor, crawler.settings.getint("DNSCACHE_SIZE"), allowed_networks(crawler.settings))

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> IResolutionReceiver:
        guarded = _PublicAddressesOnly(resolutionReceiver, hostName, self.networks)
        super().resolveHostName(guarded, hostName, portNumber, addressTypes, transportSemantics)
        return resolutionReceiver
