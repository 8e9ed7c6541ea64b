"""Operations created from what a role probed: only for what differs."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.operation import OperationMeta, operation
from pyinfra.operations import files

from .facts import first_line, sha256


def put_if_changed(probed: dict, probe: str, path: str, text: str, name: str, mode: str = "644"
                   ) -> OperationMeta | None:
    """Upload `text` to `path` (root's, `mode`) unless the probed sha256 (`file_digest_probe`) matches."""
    if first_line(probed, probe) == sha256(text):
        return None
    return files.put(name=name, src=StringIO(text), dest=path, user="root", group="root", mode=mode,
                     create_remote_dir=True)


# The firewall's nftables table (roles/firewall.py) -----------------------------------------

@operation()
def nft_table_loaded(rules_file: str, rules_digest: str, probed: dict, loaded_file: str, nft: str = "nft"):
    """Load `rules_file` (it replaces table inet kubewire atomically) unless the live table carries
    `rules_digest` and lists as it did right after kubewire loaded it (not changed by hand)."""
    live_digest = first_line(probed, "live").removeprefix("kubewire-rules ")
    tampered = first_line(probed, "live listing") != first_line(probed, "loaded listing")
    if live_digest == rules_digest and not tampered:
        host.noop(f"nftables table inet kubewire is loaded with rules {rules_digest}")
        return
    yield StringCommand(QuoteString(nft), "-f", QuoteString(rules_file))
    yield StringCommand(QuoteString(nft), "list table inet kubewire | sha256sum | cut -d' ' -f1 >",
                        QuoteString(loaded_file))


@operation()
def nft_table_absent(probed: dict, nft: str = "nft"):
    """Delete table inet kubewire when the node has it."""
    if first_line(probed, "table") != "present":
        host.noop("nftables table inet kubewire is absent")
        return
    yield StringCommand(QuoteString(nft), "delete table inet kubewire")
