"""A small client of the CRI v1 API (the kubelet's own API to the container runtime), over gRPC.

The stubs are generated from tests/cri/api.proto with grpcio-tools when this module is first
imported (into a temporary directory; nothing generated is kept in the repository).
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_tools import protoc

PROTO = Path(__file__).with_name("api.proto")


def _generate():
    out = tempfile.mkdtemp(prefix="kubewire-cri-")
    include = Path(protoc.__file__).parent / "_proto"  # protobuf's well-known types
    status = protoc.main(["protoc", f"-I{PROTO.parent}", f"-I{include}", f"--python_out={out}",
                          f"--grpc_python_out={out}", str(PROTO)])
    if status != 0:
        raise RuntimeError(f"protoc failed on {PROTO} ({status})")
    sys.path.insert(0, out)
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")


api, api_grpc = _generate()


@dataclass
class Pod:
    id: str
    config: object  # api.PodSandboxConfig: CreateContainer needs it again


class CriClient:
    """RuntimeService and ImageService on a runtime's unix socket."""

    def __init__(self, socket: str, timeout: float = 30.0):
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.runtime = api_grpc.RuntimeServiceStub(self.channel)
        self.images = api_grpc.ImageServiceStub(self.channel)
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def version(self):
        return self.runtime.Version(api.VersionRequest(), timeout=self.timeout)

    def run_pod(self, name: str, cgroup_parent: str, namespace: str = "kubewire-test",
                host_ports: dict[int, int] | None = None) -> Pod:
        """RunPodSandbox: the runtime calls the CNI (ADD) for the pod's network namespace.

        `cgroup_parent` as the kubelet gives it: a systemd slice ("kubepods.slice") when the runtime
        uses systemd cgroups, a cgroupfs path ("/kubepods") otherwise."""
        config = api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, namespace=namespace, uid=str(uuid.uuid4()), attempt=0),
            hostname=name,  # no log_directory: containerd then keeps no container logs
            port_mappings=[api.PortMapping(protocol=api.TCP, container_port=container, host_port=host)
                           for container, host in (host_ports or {}).items()],
            linux=api.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent, security_context=api.LinuxSandboxSecurityContext(
                    namespace_options=api.NamespaceOption(network=api.POD, pid=api.CONTAINER, ipc=api.POD))))
        response = self.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=config), timeout=self.timeout)
        return Pod(response.pod_sandbox_id, config)

    def pod_ip(self, pod: Pod) -> str:
        status = self.runtime.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=pod.id),
                                               timeout=self.timeout).status
        return status.network.ip

    def start_container(self, pod: Pod, name: str, image: str, command: list[str]) -> str:
        config = api.ContainerConfig(metadata=api.ContainerMetadata(name=name, attempt=0),
                                     image=api.ImageSpec(image=image), command=command,
                                     linux=api.LinuxContainerConfig())
        created = self.runtime.CreateContainer(api.CreateContainerRequest(
            pod_sandbox_id=pod.id, config=config, sandbox_config=pod.config), timeout=self.timeout)
        self.runtime.StartContainer(api.StartContainerRequest(container_id=created.container_id),
                                    timeout=self.timeout)
        return created.container_id

    def exec_sync(self, container_id: str, command: list[str], timeout: int = 10) -> tuple[int, str, str]:
        response = self.runtime.ExecSync(api.ExecSyncRequest(container_id=container_id, cmd=command,
                                                             timeout=timeout), timeout=self.timeout + timeout)
        return response.exit_code, response.stdout.decode(), response.stderr.decode()

    def remove_pod(self, pod: Pod) -> None:
        """StopPodSandbox (the runtime calls the CNI's DEL) then RemovePodSandbox."""
        self.runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=pod.id), timeout=self.timeout)
        self.runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=pod.id), timeout=self.timeout)

    def pods(self) -> list:
        return list(self.runtime.ListPodSandbox(api.ListPodSandboxRequest(), timeout=self.timeout).items)
