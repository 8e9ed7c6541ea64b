"""A deploy that reads every node twice, changing nothing: its whole state in one command as
deploys/cluster.py reads it (gathered probes answered on the controller), then each section's
probes run alone. Writes both to $KUBEWIRE_READS_DIR/<host>.json (tests/lab/test_gathered_probes.py)."""

import json
import os
from pathlib import Path

from pyinfra import host

from kubewire.facts import GatheredProbe, Probes, split_sections, whole_node_command
from kubewire.node_read import node_sections

sections = {name: tuple(build(host.name)) for name, build in node_sections().items()}
together = split_sections(host.get_fact(Probes, probes=whole_node_command(sections)), sections)
alone = {name: host.get_fact(Probes, probes=probes) for name, probes in sections.items() if probes}
Path(os.environ["KUBEWIRE_READS_DIR"], f"{host.name}.json").write_text(json.dumps({
    "together": {name: answers for name, (_, answers) in together.items() if answers},
    "alone": alone,
    "gathered": sorted({type(script.gatherer).__name__ for probes in sections.values()
                        for _, script in probes if isinstance(script, GatheredProbe)}),
}))
