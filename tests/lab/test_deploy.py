"""The main job on the lab: it converges, and a second run changes nothing."""

import pytest

from tests.harness import run_deploy

NOT_OUR_FIRST_RUN = ("checking an inventory converged elsewhere (kubewire verify): its first run's results are "
                     "not this session's to read")


def test_first_run_converged_without_errors(converged):
    if converged.first_run is None:
        pytest.skip(NOT_OUR_FIRST_RUN)
    totals = converged.first_run["results"]["totals"]
    assert totals["error"] == 0 and not converged.first_run["results"]["failed_hosts"]
    assert totals["success"] > 0  # a fresh lab has something to change (at least /etc/hosts)


def test_second_run_reports_no_changes(converged):
    results = run_deploy(converged.inventory)["results"]
    changed = {op["name"]: op["success"] for op in results["operations"] if op["success"]}
    assert results["totals"]["error"] == 0
    assert results["totals"]["success"] == 0, f"a re-run changed: {changed}"


def test_without_kubernetes_the_add_ons_are_validated_and_the_run_says_so(converged):
    if converged.first_run is None:
        pytest.skip(NOT_OUR_FIRST_RUN)
    log = converged.first_run["log"]
    assert "no Kubernetes cluster to apply kube-proxy, coredns to" in log, log[-2000:]
