"""Which addresses a crawl may reach."""

from __future__ import annotations

import ipaddress

import pytest

from crawlfleet_core.addresses import BlockedAddressError, check_address, parse_address

BLOCKED = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata (link-local)
    "100.100.100.200",  # Alibaba metadata (shared address space)
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "::1",
    "fd00:ec2::254",  # AWS metadata over IPv6 (unique local)
    "fe80::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
]


@pytest.mark.parametrize("text", BLOCKED)
def test_private_and_special_addresses_are_refused(text: str) -> None:
    address = parse_address(text)
    assert address is not None
    with pytest.raises(BlockedAddressError, match="CRAWLFLEET_ALLOWED_NETWORKS"):
        check_address(address, [])


@pytest.mark.parametrize("text", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "[2606:4700:4700::1111]"])
def test_public_addresses_are_allowed(text: str) -> None:
    address = parse_address(text)
    assert address is not None
    check_address(address, [])


def test_an_allowed_network_opens_only_itself() -> None:
    allowed = [ipaddress.ip_network("127.0.0.0/8")]
    check_address(ipaddress.ip_address("127.0.0.1"), allowed)
    check_address(ipaddress.ip_address("::ffff:127.0.0.1"), allowed)
    with pytest.raises(BlockedAddressError):
        check_address(ipaddress.ip_address("10.0.0.1"), allowed)


def test_names_are_not_addresses() -> None:
    assert parse_address("example.com") is None
    assert parse_address("localhost") is None
