"""Which network addresses a crawl may reach.

Only globally routable unicast addresses are reachable by default: user-supplied
URLs must never reach the platform's own network, loopback, link-local (cloud
metadata at 169.254.169.254), shared carrier-grade NAT (100.64/10, Alibaba's
metadata service) or reserved ranges. An operator can open specific networks
with `CRAWLFLEET_ALLOWED_NETWORKS`."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from crawlfleet_core.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddressError(ValueError):
    """A crawl tried to reach an address outside the public internet."""


def parse_address(text: str) -> Address | None:
    """The IP address written in `text` (a host part of a URL), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def check_address(address: Address, allowed_networks: Iterable[Network]) -> None:
    """Raise BlockedAddressError unless a crawl may connect to `address`."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed_networks):
        return
    if address.is_global and not address.is_multicast:
        return
    raise BlockedAddressError(
        f"{address} is not a public address; crawls may not reach it "
        "(an operator can allow its network with CRAWLFLEET_ALLOWED_NETWORKS)"
    )
