"""kube_proxy_mode's node side: nftables gets nf_tables and nft on every node; back to
iptables, the module list follows; re-runs change nothing."""

from kubewire.roles.prereqs import MODULES_FILE
from tests.harness import deploy_totals


def modules(host) -> set[str]:
    return {line.strip() for line in host.file(MODULES_FILE).content_string.splitlines()
            if line.strip() and not line.startswith("#")}


def test_nftables_mode_prepares_nf_tables_and_nft(converged, nodes):
    extra = ["--data", "kube_proxy_mode=nftables"]
    assert deploy_totals(converged.inventory, extra_args=extra)["error"] == 0
    for name, host in nodes.items():
        assert "nf_tables" in modules(host), name
        assert host.exists("nft") and host.package("nftables").is_installed, name
    assert deploy_totals(converged.inventory, extra_args=extra)["success"] == 0

    assert deploy_totals(converged.inventory)["error"] == 0
    for name, host in nodes.items():
        assert "nf_tables" not in modules(host) and host.exists("conntrack"), name
    assert deploy_totals(converged.inventory)["success"] == 0
