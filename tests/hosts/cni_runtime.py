"""A container runtime's CNI calls, made by hand per the CNI spec (what containerd does).

For a network config list the runtime calls each plugin in turn with CNI_COMMAND,
CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and CNI_PATH in its environment and the plugin's
config on stdin -- the list's `cniVersion` and `name` added, and the previous plugin's
result as `prevResult`. DEL runs the plugins in reverse; CHECK passes the ADD result.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field


@dataclass
class Pod:
    host: object  # a testinfra Host: the node the pod runs on
    name: str
    conflist: dict
    bin_dir: str
    result: dict = field(default_factory=dict)

    @property
    def netns(self) -> str:
        return f"/run/netns/{self.name}"

    @property
    def ip(self) -> str:
        return self.result["ips"][0]["address"].split("/")[0]

    def run(self, command: str):
        """Run a shell command inside the pod's network namespace."""
        return self.host.run(f"ip netns exec {shlex.quote(self.name)} sh -c {shlex.quote(command)}")

    def call(self, command: str, plugin: dict, prev_result: dict | None):
        config = {**plugin, "cniVersion": self.conflist["cniVersion"], "name": self.conflist["name"]}
        if prev_result is not None:
            config["prevResult"] = prev_result
        env = (f"CNI_COMMAND={command} CNI_CONTAINERID={self.name} CNI_NETNS={self.netns} "
               f"CNI_IFNAME=eth0 CNI_PATH={self.bin_dir}")
        return self.host.run(f"echo {shlex.quote(json.dumps(config))} | env {env} {self.bin_dir}/{plugin['type']}")

    def add(self) -> dict:
        self.host.run_test(f"ip netns add {self.name}")
        result = None
        for plugin in self.conflist["plugins"]:
            out = self.call("ADD", plugin, result)
            assert out.rc == 0, f"ADD {plugin['type']} on {self.name}: {out.stdout} {out.stderr}"
            result = json.loads(out.stdout)
        self.result = result
        return result

    def check(self):
        """CHECK every plugin; returns the failures (empty when the pod's network is as ADD left it)."""
        failures = []
        for plugin in self.conflist["plugins"]:
            out = self.call("CHECK", plugin, self.result)
            if out.rc != 0:
                failures.append(f"{plugin['type']}: {out.stdout} {out.stderr}")
        return failures

    def delete(self) -> None:
        for plugin in reversed(self.conflist["plugins"]):
            out = self.call("DEL", plugin, self.result or None)
            assert out.rc == 0, f"DEL {plugin['type']} on {self.name}: {out.stdout} {out.stderr}"

    def remove_netns(self) -> None:
        self.host.run(f"ip netns delete {self.name}")
