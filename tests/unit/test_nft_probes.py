"""The nftables gatherer's node side (awk over a kept `nft list ruleset`) and controller side, run
here on a ruleset as nft prints it: the shell variable the read keeps is set first, so no nft runs."""

import shlex
import subprocess

from kubewire.nft_probes import NFT_RULESET, NFT_TABLES, hooked_tables_except

OURS = """table inet kubewire {
\tcomment "kubewire-rules 0a1b"
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\ttcp dport 22 accept comment "SSH"
\t}
}
"""
RULESET = OURS + """table ip kube-proxy {
\tchain filter-input {
\t\ttype filter hook input priority -110; policy accept;
\t}
}
table inet other {
\tchain only_output {
\t\ttype filter hook output priority filter; policy drop;
\t\tmeta l4proto tcp comment "type filter hook input in a comment" accept
\t}
}
table ip filter {
\tchain FORWARD {
\t\ttype filter hook forward priority filter; policy drop;
\t}
}
table ip kubewire_cni {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t}
}
"""


def on_node(command: str) -> list[str]:
    script = f"{NFT_RULESET}={shlex.quote(RULESET.rstrip(chr(10)))}; {command}"
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()


def test_each_asked_table_is_picked_as_nft_lists_it_alone():
    printed = on_node(NFT_TABLES.command(["inet kubewire", "ip kubewire_cni", "inet absent"]))
    assert NFT_TABLES.answer(printed, "inet kubewire") == OURS.splitlines()
    assert NFT_TABLES.answer(printed, "ip kubewire_cni")[-2:] == ["\t}", "}"]
    assert NFT_TABLES.answer(printed, "inet absent") == []
    assert not any("kube-proxy" in line or "FORWARD" in line for line in printed)  # only what was asked is sent


def test_foreign_tables_with_an_input_or_forward_base_chain():
    # A chain's `type ... hook` line counts, not a rule that mentions a hook.
    assert on_node(hooked_tables_except(("inet kubewire", "ip kube-proxy", "ip6 kube-proxy"))) == ["ip filter"]
