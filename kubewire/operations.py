"""Operations created from what a role probed: only for what differs."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from .facts import first_line, sha256

NFT = "/usr/sbin/nft"
CNI_CONFIG_SUFFIXES = (".conf", ".conflist", ".json")  # what runtimes load from a CNI conf dir
CNI_DISABLED_DIR = "kubewire-disabled"


def put_if_changed(probed: dict, probe: str, path: str, text: str, name: str, mode: str = "644"
                   ) -> OperationMeta | None:
    """Upload `text` to `path` (root's, `mode`) unless the probed sha256 (`file_digest_probe`) matches."""
    if first_line(probed, probe) == sha256(text):
        return None
    return files.put(name=name, src=StringIO(text), dest=path, user="root", group="root", mode=mode,
                     create_remote_dir=True)


# -- compare-and-fix operations: facts in (what a role probed), quoted commands or a noop out --

def _path(directory: str, name: str) -> QuoteString:
    return QuoteString(f"{directory}/{name}")


def _glob_in(directory: str, pattern: str = "*") -> StringCommand:
    """`'<directory>'/*`: the directory quoted, the glob left to the shell."""
    return StringCommand(QuoteString(directory), f"/{pattern}", _separator="")


def configs_that_win(config_names: list[str], active: str) -> list[str]:
    """Runtimes load the lexically first .conf/.conflist/.json in the conf dir: these sort before `active`."""
    return sorted(name for name in config_names if name.endswith(CNI_CONFIG_SUFFIXES) and name < active)


@operation()
def cni_configs_moved_aside(conf_dir: str, config_names: list[str], active: str):
    """Move every CNI config that would win over `active` into `conf_dir`/kubewire-disabled.

    An earlier file of the same name there is kept as a numbered backup, never overwritten."""
    winners = configs_that_win(config_names, active)
    if not winners:
        host.noop(f"nothing in {conf_dir} sorts before {active}")
        return
    aside = f"{conf_dir}/{CNI_DISABLED_DIR}"
    yield StringCommand("mkdir", "-p", "--", QuoteString(aside))
    for name in winners:
        yield StringCommand("mv", "--backup=numbered", "--", _path(conf_dir, name), _path(aside, name))


@operation()
def cni_plugins_unpacked(tarball: str, sha256: str, bin_dir: str, stale: list[str]):
    """Check the uploaded plugins tarball on the node, then unpack it into `bin_dir`."""
    if not stale:
        host.noop(f"every CNI plugin in {bin_dir} matches the tarball")
        return
    yield StringCommand("printf", "'%s  %s\\n'", QuoteString(sha256), QuoteString(tarball), "|",
                        "sha256sum", "-c", "--quiet", "-")
    yield StringCommand("mkdir", "-p", "--", QuoteString(bin_dir), "&&", "tar", "-xzf", QuoteString(tarball),
                        "-C", QuoteString(bin_dir), "--no-same-owner", "&&", "chmod", "755", _glob_in(bin_dir))


@operation()
def cni_plugins_linked(source_dir: str, bin_dir: str, linked: bool):
    """Link every plugin of the distribution's package (in `source_dir`) into `bin_dir`."""
    if linked:
        host.noop(f"the plugins in {source_dir} are linked into {bin_dir}")
        return
    yield StringCommand("mkdir", "-p", "--", QuoteString(bin_dir), "&&", "for", "f", "in", _glob_in(source_dir),
                        ";", "do", "ln", "-sfn", '"$f"', StringCommand(QuoteString(bin_dir), "/", _separator=""),
                        ";", "done")


@operation()
def pod_routes_applied(script: str, live: set[str], wanted: set[str]):
    """Run the pod routes script when the live routes differ from the wanted `SUBNET via ADDRESS`."""
    if live == wanted:
        host.noop(f"{len(wanted)} pod routes are in place")
        return
    yield StringCommand("/bin/sh", QuoteString(script))


@operation()
def nft_table_loaded(table: str, rules_file: str, loaded_file: str, wanted_digest: str, live_digest: str,
                     live_listing: str, loaded_listing: str):
    """Load `rules_file` (it replaces only its own table, atomically) unless the live table carries
    `wanted_digest` and still lists as it did right after loading (else it was changed by hand)."""
    if live_digest == wanted_digest and live_listing == loaded_listing:
        host.noop(f"nftables table {table} is loaded from {rules_file}")
        return
    yield StringCommand(NFT, "-f", QuoteString(rules_file))
    yield StringCommand(NFT, "list", "table", *map(QuoteString, table.split()), "|", "sha256sum", "|",
                        "cut", "-d' '", "-f1", ">", QuoteString(loaded_file))


@operation()
def nft_table_removed(table: str, present: bool):
    if not present:
        host.noop(f"no nftables table {table}")
        return
    yield StringCommand(NFT, "delete", "table", *map(QuoteString, table.split()))


@operation()
def weave_node_state_removed(links: list[str], iptables: dict[str, dict[str, list[str]]], paths: list[str]):
    """Remove what Weave Net's pods leave on a node: its links, its iptables chains and the rules
    that jump to them or match its bridge, its CNI config, plugins and database.

    `iptables` is {table: {"chains": [...], "rules": ["-A CHAIN ..." as iptables-save prints them]}}."""
    if not (links or paths or any(found["chains"] or found["rules"] for found in iptables.values())):
        host.noop("no Weave Net state on the node")
        return
    for link in links:  # a veth's peer goes with it, so one already gone is fine
        yield StringCommand("ip", "link", "delete", "dev", QuoteString(link), "||", "test", "!", "-e",
                            QuoteString(f"/sys/class/net/{link}"))
    for table, found in sorted(iptables.items()):
        restore = [f"*{table}"]
        restore += ["-D" + rule[2:] for rule in found["rules"] if not _weave_chain(rule.split()[1])]
        restore += [f"-F {chain}" for chain in found["chains"]] + [f"-X {chain}" for chain in found["chains"]]
        # One transaction per table: the references go before the chains they point at.
        yield StringCommand("printf", "'%s\\n'", *map(QuoteString, [*restore, "COMMIT"]), "|",
                            "iptables-restore", "--noflush")
    if paths:
        yield StringCommand("rm", "-rf", "--", *map(QuoteString, paths))


def _weave_chain(chain: str) -> bool:
    """Weave Net names every chain it creates WEAVE or WEAVE-... (net/bridge.go, npc/constants.go)."""
    return chain == "WEAVE" or chain.startswith("WEAVE-")


@operation()
def files_removed(paths: list[str], why: str = ""):
    """Remove files a probe found (no further fact is read)."""
    if not paths:
        host.noop("nothing to remove" + (f" ({why})" if why else ""))
        return
    yield StringCommand("rm", "-f", "--", *map(QuoteString, paths))


@operation()
def systemd_unit_disabled(unit: str, enabled: bool):
    """Disable a unit the probe found enabled (`systemctl is-enabled`), without reading it again."""
    if not enabled:
        host.noop(f"{unit} is not enabled")
        return
    yield StringCommand("systemctl", "disable", QuoteString(unit))
