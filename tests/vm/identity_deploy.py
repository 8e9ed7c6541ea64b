"""Reads each VM's identity as the main job does (kubewire.identity, through the inventory's
sudo) and writes it to KUBEWIRE_IDENTITY_DIR/<host>.json on the controller. Changes nothing."""

import json
import os
from dataclasses import asdict
from pathlib import Path

from pyinfra import host

from kubewire.identity import read_node
from kubewire.inventory import cluster_spec

identity, _ = read_node(host, cluster_spec())
(Path(os.environ["KUBEWIRE_IDENTITY_DIR"]) / f"{host.name}.json").write_text(json.dumps(asdict(identity)))
