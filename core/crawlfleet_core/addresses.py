"""Which network addresses a crawl may reach.

Only globally routable unicast addresses are reachable by default: user-supplied
URLs must never reach the platform's own network, loopback, link-local (cloud
metadata at 169.254.169.254), shared carrier-grade NAT (100.64/10, Alibaba's
metadata service) or reserved ranges. An operator can open specific networks
with `CRAWLFLEET_ALLOWED_NETWORKS`.

An IPv6 address can carry an IPv4 address inside it, and a connection to it
reaches that IPv4 address (through the kernel, a NAT64 gateway or a 6to4 relay),
so such an address is judged by the IPv4 address it carries. Python's own
`is_global` calls several of these forms global, and the deprecated IPv4-compatible
and site-local ranges too, so the ranges are spelled out here."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from crawlfleet_core.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 forms whose last 32 bits are the IPv4 address a connection reaches.
CARRIES_IPV4_IN_LOW_BITS = (
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, the well-known prefix
)
# IPv6 ranges refused whatever they carry.
NEVER_PUBLIC = (
    # IPv4-compatible (deprecated since 2006): `::7f00:1` is 127.0.0.1 to some stacks.
    ipaddress.IPv6Network("::/96"),
    # Site-local (deprecated), the forerunner of unique local addresses.
    ipaddress.IPv6Network("fec0::/10"),
    # Local-use NAT64: translates into whatever networks its operator chose.
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)


class BlockedAddressError(ValueError):
    """A crawl tried to reach an address outside the public internet."""


def parse_address(text: str) -> Address | None:
    """The IP address written in `text` (a host part of a URL), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def reached_address(address: Address) -> Address:
    """The address a connection to `address` ends at: the IPv4 address inside an
    IPv6 form that carries one, else `address` itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in CARRIES_IPV4_IN_LOW_BITS):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def is_public(address: Address) -> bool:
    """Whether `address` is a globally routable unicast address (judged as given,
    not by what it carries: see `reached_address`)."""
    if isinstance(address, ipaddress.IPv6Address) and any(address in network for network in NEVER_PUBLIC):
        return False
    return address.is_global and not address.is_multicast


def check_address(address: Address, allowed_networks: Iterable[Network]) -> None:
    """Raise BlockedAddressError unless a crawl may connect to `address`."""
    reached = reached_address(address)
    allowed = list(allowed_networks)
    if any(candidate in network for candidate in {address, reached} for network in allowed):
        return
    if is_public(address) and is_public(reached):
        return
    carried = f" (it reaches {reached})" if reached != address else ""
    raise BlockedAddressError(
        f"{address}{carried} is not a public address; crawls may not reach it "
        "(an operator can allow its network with CRAWLFLEET_ALLOWED_NETWORKS)"
    )


def allowed_addresses(host: str, port: int, allowed_networks: Iterable[Network]) -> list[Address]:
    """The addresses `host` resolves to (itself, for an IP literal) that may be reached,
    for connections the platform opens itself rather than through a crawl's guarded
    resolver (webhooks, feed storage). BlockedAddressError names why when none may."""
    networks = list(allowed_networks)
    literal = parse_address(host)
    if literal is not None:
        candidates = [literal]
    else:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise BlockedAddressError(f"{host!r} does not resolve: {error}") from None
        candidates = [address for info in found if (address := parse_address(str(info[4][0]))) is not None]
    allowed, refusals = [], []
    for address in candidates:
        try:
            check_address(address, networks)
        except BlockedAddressError as error:
            refusals.append(str(error))
        else:
            allowed.append(address)
    if not allowed:
        raise BlockedAddressError(f"{host!r}: " + ("; ".join(dict.fromkeys(refusals)) or "no address"))
    return allowed
