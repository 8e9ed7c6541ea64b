"""The cluster DNS address: inside the service range, not the API server's."""

from __future__ import annotations

from tests.unit.spec_input import assert_problem, spec_errors


def test_dns_service_ip_outside_service_cidr():
    error = spec_errors({"dns_service_ip": "10.200.0.10"})
    assert_problem(error, "dns_service_ip", "10.200.0.10",
                   "is outside service_cidr 10.96.0.0/12", "e.g. 10.96.0.10")


def test_dns_service_ip_is_the_service_network_address():
    error = spec_errors({"dns_service_ip": "10.96.0.0"})
    assert_problem(error, "dns_service_ip", "10.96.0.0",
                   "network or broadcast address of service_cidr 10.96.0.0/12", "e.g. 10.96.0.10")


def test_dns_service_ip_is_the_api_server_service_ip():
    error = spec_errors({"dns_service_ip": "10.96.0.1"})
    assert_problem(error, "dns_service_ip", "10.96.0.1",
                   "first service address", "'kubernetes' service", "e.g. 10.96.0.10")
