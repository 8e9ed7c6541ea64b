"""nftables in a whole-node read: one `nft list ruleset` answers every table listing and the check for
foreign filter tables, where each asked nft on its own (each nft run costs a node a few milliseconds of
CPU: it builds its cache of the kernel's ruleset first)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from .facts import GatheredProbe, Gatherer, lines, sha256, shared_output

NFT = "/usr/sbin/nft"
NFT_RULESET = "kubewire_nft_ruleset"
READ_NFT_RULESET = shared_output(NFT_RULESET, f"{NFT} list ruleset")
# Prints each asked table as `nft list table FAMILY NAME` does: `list ruleset` prints every table with
# the very function `list table` uses (nftables src/rule.c: do_list_ruleset calls do_list_table), from
# its header line to its closing brace. Compared on lab nodes: tests/lab/test_gathered_probes.py.
# awk's `asked`: the tables as "FAMILY NAME|FAMILY NAME".
_ASKED = 'BEGIN { n = split(asked, names, "|"); for (i = 1; i <= n; i++) is_asked[names[i]] = 1 } '
_PRINT_ASKED = _ASKED + '/^table / { p = ($2 " " $3) in is_asked } p { print } p && $0 == "}" { p = 0 }'
# A base chain's first line is `type TYPE hook HOOK priority ...` (nft list's output).
_HOOKED_NOT_ASKED = (_ASKED + '/^table / { t = $2 " " $3 } '
                     '$1 == "type" && $3 == "hook" && ($4 == "input" || $4 == "forward") && !(t in is_asked) '
                     '&& !seen[t]++ { print t }')


def _kept_ruleset_through(awk_program: str, tables: list[str] | tuple[str, ...]) -> str:
    return (f"{READ_NFT_RULESET}; printf '%s\\n' \"${NFT_RULESET}\" | "
            f"awk -v asked={shlex.quote('|'.join(tables))} {shlex.quote(awk_program)}")


class NftTables(Gatherer):
    """Every table listing of a read from one `nft list ruleset`, kubewire's tables only sent on: the
    ruleset also holds kube-proxy's and iptables-nft's rules, thousands of lines on a busy cluster.
    The ruleset stays in the shell for `hooked_tables_except`."""

    name = "nft tables"

    def command(self, items: list) -> str:
        return _kept_ruleset_through(_PRINT_ASKED, items)

    def answer(self, lines_: list[str], item) -> list[str]:
        found, inside = [], False
        for line in lines_:
            inside = inside or line == f"table {item} {{"
            if inside:
                found.append(line)
                if line == "}":
                    break
        return found


NFT_TABLES = NftTables()


def nft_table_probe(table: str) -> GatheredProbe:
    """Prints `nft list table TABLE` (nothing when there is no such table)."""
    return GatheredProbe(f"{NFT} list table {table}", NFT_TABLES, table)


def hooked_tables_except(skipped: tuple[str, ...]) -> str:
    """Prints "FAMILY NAME" of each table with an input or forward base chain, but the `skipped` ones."""
    return _kept_ruleset_through(_HOOKED_NOT_ASKED, skipped)


@dataclass(frozen=True)
class TableListing:
    """What `nft list table …` printed, read on the controller: grepping and hashing it on the node
    cost four processes per table."""

    lines: tuple[str, ...]

    @classmethod
    def probed(cls, probed: dict[str, list[str]], name: str) -> TableListing:
        """The listing the probe `name` printed."""
        return cls(tuple(lines(probed, name)))

    @property
    def present(self) -> bool:
        return any(line.strip() for line in self.lines)

    def marker(self, name: str) -> str:
        """The digest after `name` in the table's comment (`comment "kubewire-rules 1a2b…"`), or ""."""
        found = re.search(rf"{re.escape(name)} ([0-9a-f]*)", "\n".join(self.lines))
        return found.group(1) if found else ""

    @property
    def digest(self) -> str:
        """What `nft list table … | sha256sum` prints: each line ends in a newline, the last one too."""
        return sha256("".join(f"{line}\n" for line in self.lines))
