"""Which addresses a crawl may reach."""

from __future__ import annotations

import ipaddress

import pytest

from crawlfleet_core.addresses import BlockedAddressError, check_address, parse_address, reached_address

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
    # IPv6 forms that carry a private or loopback IPv4 address.
    "0:0:0:0:0:ffff:7f00:1",  # IPv4-mapped, written out
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "::ffff:0:10.0.0.1",
    "::7f00:1",  # IPv4-compatible (deprecated): 127.0.0.1
    "::127.0.0.1",
    "::808:808",  # IPv4-compatible is refused whatever it carries
    "64:ff9b::7f00:1",  # NAT64 well-known prefix: 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64: 169.254.169.254
    "64:ff9b::c0a8:101",  # NAT64: 192.168.1.1
    "64:ff9b:1::a00:1",  # local-use NAT64 (64:ff9b:1::/48)
    "64:ff9b:1:808:8::",
    "2002:7f00:1::",  # 6to4: 127.0.0.1
    "2002:a00:1::1",  # 6to4: 10.0.0.1
    "2002:a9fe:a9fe::",  # 6to4: 169.254.169.254
    "fec0::1",  # site-local (deprecated)
    "feff::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "ff02::1",  # multicast
]


@pytest.mark.parametrize("text", BLOCKED)
def test_private_and_special_addresses_are_refused(text: str) -> None:
    address = parse_address(text)
    assert address is not None
    with pytest.raises(BlockedAddressError, match="CRAWLFLEET_ALLOWED_NETWORKS"):
        check_address(address, [])


PUBLIC = [
    "93.184.216.34",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "[2606:4700:4700::1111]",
    "::ffff:8.8.8.8",  # IPv4-mapped public address
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("text", PUBLIC)
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


@pytest.mark.parametrize(
    ("text", "reached"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:0:7f00:1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:a00:1::1", "10.0.0.1"),
        ("2606:4700:4700::1111", "2606:4700:4700::1111"),
        ("10.0.0.1", "10.0.0.1"),
    ],
)
def test_an_ipv6_form_is_judged_by_the_ipv4_address_it_carries(text: str, reached: str) -> None:
    assert reached_address(ipaddress.ip_address(text)) == ipaddress.ip_address(reached)


def test_the_error_names_the_carried_address() -> None:
    with pytest.raises(BlockedAddressError, match=r"64:ff9b::a9fe:a9fe \(it reaches 169\.254\.169\.254\)"):
        check_address(ipaddress.ip_address("64:ff9b::a9fe:a9fe"), [])


def test_an_allowed_ipv4_network_covers_the_forms_that_carry_it() -> None:
    allowed = [ipaddress.ip_network("127.0.0.0/8")]
    for text in ("::ffff:127.0.0.1", "::ffff:0:7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::"):
        check_address(ipaddress.ip_address(text), allowed)
    with pytest.raises(BlockedAddressError):
        check_address(ipaddress.ip_address("64:ff9b::a00:1"), allowed)


def test_names_are_not_addresses() -> None:
    assert parse_address("example.com") is None
    assert parse_address("localhost") is None
