"""A small client of the CRI v1 API (the kubelet's own API to the container runtime), over gRPC.

gRPC runs in a worker process of its own (`python -m tests.cri.client SOCKET`, JSON lines on its
stdin/stdout), never in the test process: pyinfra's gevent forks in Python, which runs gRPC's fork
handlers in the child, and a child forked while a channel is open can abort (SIGABRT seen on
`ip link set` in a lab test). The stubs are generated from tests/cri/api.proto with grpcio-tools
when the worker starts (into a temporary directory, removed once they are imported).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROTO = Path(__file__).with_name("api.proto")
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Version:
    runtime_name: str
    runtime_api_version: str


class CriError(RuntimeError):
    """A call the runtime (or the worker) refused; the message is the worker's."""


class CriClient:
    """RuntimeService calls on a runtime's unix socket, made by the worker process.

    Pod sandboxes are known by their ids; the worker keeps each sandbox's config, which
    CreateContainer needs again."""

    def __init__(self, socket: str, timeout: float = 30.0):
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "tests.cri.client", socket, str(timeout)], cwd=REPOSITORY_ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _call(self, method: str, *args):
        self.worker.stdin.write(json.dumps([method, *args]) + "\n")
        self.worker.stdin.flush()
        line = self.worker.stdout.readline()
        if not line:
            raise CriError(f"the CRI worker ended (exit {self.worker.wait()}) during {method}")
        answer = json.loads(line)
        if "error" in answer:
            raise CriError(f"{method}: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        self.worker.stdin.close()
        self.worker.wait(timeout=30)

    def version(self) -> Version:
        return Version(**self._call("version"))

    def run_pod(self, name: str, cgroup_parent: str, namespace: str = "kubewire-test",
                host_ports: dict[int, int] | None = None) -> str:
        """RunPodSandbox: the runtime calls the CNI (ADD) for the pod's network namespace.

        `cgroup_parent` as the kubelet gives it: a systemd slice ("kubepods.slice") when the runtime
        uses systemd cgroups, a cgroupfs path ("/kubepods") otherwise."""
        return self._call("run_pod", name, cgroup_parent, namespace, sorted((host_ports or {}).items()))

    def pod_ip(self, pod_id: str) -> str:
        return self._call("pod_ip", pod_id)

    def start_container(self, pod_id: str, name: str, image: str, command: list[str]) -> str:
        return self._call("start_container", pod_id, name, image, command)

    def exec_sync(self, container_id: str, command: list[str], timeout: int = 10) -> tuple[int, str, str]:
        return tuple(self._call("exec_sync", container_id, command, timeout))

    def remove_pod(self, pod_id: str) -> None:
        """StopPodSandbox (the runtime calls the CNI's DEL) then RemovePodSandbox."""
        self._call("remove_pod", pod_id)

    def pods(self) -> list[str]:
        return self._call("pods")


def _generate():
    """The stubs, generated into a temporary directory that is removed once both are imported (a
    worker per test would otherwise leave one behind)."""
    import importlib
    import tempfile

    from grpc_tools import protoc

    include = Path(protoc.__file__).parent / "_proto"  # protobuf's well-known types
    with tempfile.TemporaryDirectory(prefix="kubewire-cri-") as out:
        status = protoc.main(["protoc", f"-I{PROTO.parent}", f"-I{include}", f"--python_out={out}",
                              f"--grpc_python_out={out}", str(PROTO)])
        if status != 0:
            raise RuntimeError(f"protoc failed on {PROTO} ({status})")
        sys.path.insert(0, out)
        try:
            return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")
        finally:
            sys.path.remove(out)


class _Runtime:
    """The worker's side: the gRPC calls themselves."""

    def __init__(self, socket: str, timeout: float):
        import grpc

        self.api, api_grpc = _generate()
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.runtime = api_grpc.RuntimeServiceStub(self.channel)
        self.timeout = timeout
        self.sandbox_configs: dict[str, object] = {}

    def version(self) -> dict:
        response = self.runtime.Version(self.api.VersionRequest(), timeout=self.timeout)
        return {"runtime_name": response.runtime_name, "runtime_api_version": response.runtime_api_version}

    def run_pod(self, name, cgroup_parent, namespace, host_ports) -> str:
        api = self.api
        import uuid

        config = api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=name, namespace=namespace, uid=str(uuid.uuid4()), attempt=0),
            hostname=name,  # no log_directory: containerd then keeps no container logs
            port_mappings=[api.PortMapping(protocol=api.TCP, container_port=container, host_port=host)
                           for container, host in host_ports],
            linux=api.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent, security_context=api.LinuxSandboxSecurityContext(
                    namespace_options=api.NamespaceOption(network=api.POD, pid=api.CONTAINER, ipc=api.POD))))
        response = self.runtime.RunPodSandbox(api.RunPodSandboxRequest(config=config), timeout=self.timeout)
        self.sandbox_configs[response.pod_sandbox_id] = config
        return response.pod_sandbox_id

    def pod_ip(self, pod_id) -> str:
        request = self.api.PodSandboxStatusRequest(pod_sandbox_id=pod_id)
        return self.runtime.PodSandboxStatus(request, timeout=self.timeout).status.network.ip

    def start_container(self, pod_id, name, image, command) -> str:
        api = self.api
        config = api.ContainerConfig(metadata=api.ContainerMetadata(name=name, attempt=0),
                                     image=api.ImageSpec(image=image), command=command,
                                     linux=api.LinuxContainerConfig())
        created = self.runtime.CreateContainer(api.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=config, sandbox_config=self.sandbox_configs[pod_id]),
            timeout=self.timeout)
        self.runtime.StartContainer(api.StartContainerRequest(container_id=created.container_id),
                                    timeout=self.timeout)
        return created.container_id

    def exec_sync(self, container_id, command, timeout) -> list:
        response = self.runtime.ExecSync(self.api.ExecSyncRequest(container_id=container_id, cmd=command,
                                                                  timeout=timeout), timeout=self.timeout + timeout)
        return [response.exit_code, response.stdout.decode(), response.stderr.decode()]

    def remove_pod(self, pod_id) -> None:
        self.runtime.StopPodSandbox(self.api.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=self.timeout)
        self.runtime.RemovePodSandbox(self.api.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=self.timeout)
        self.sandbox_configs.pop(pod_id, None)

    def pods(self) -> list[str]:
        items = self.runtime.ListPodSandbox(self.api.ListPodSandboxRequest(), timeout=self.timeout).items
        return [item.id for item in items]


def _serve(socket: str, timeout: float) -> None:
    runtime = _Runtime(socket, timeout)
    for line in sys.stdin:
        method, *args = json.loads(line)
        try:
            answer = {"result": getattr(runtime, method)(*args)}
        except Exception as error:  # handed to the test process, which raises CriError
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    runtime.channel.close()


if __name__ == "__main__":
    _serve(sys.argv[1], float(sys.argv[2]))
