"""The floor: what pyinfra sent each host, replayed as one shell script over one SSH
connection per host, all hosts in parallel, with paramiko (the library, and so the key
exchange, pyinfra uses).

    python bench/floor.py EVENTS.json   # {"host": {"address": ..., "events": [...]}, ...}

Events are as counted_pyinfra.py records them: commands and file transfers, in order. A host
whose events are null only runs `true`: the bare SSH round, every host's connection in parallel.
Prints JSON: wall seconds (process start to the last host done) and the package seconds of the
slowest host (package operations' commands are timed inside the script).
"""

import base64
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

STARTED = time.monotonic()

from kubewire.lab import assert_lab_address, client_key, known_hosts_file  # noqa: E402
from kubewire.ssh import SshTarget, connect  # noqa: E402

PACKAGE_MARK = "@@kubewire-package"


def script_for(events: list[list[str]]) -> str:
    lines = []
    for event in events:
        if event[0] in ("put", "put-file"):
            content = event[2] if event[0] == "put" else base64.b64encode(open(event[2], "rb").read()).decode()
            lines += [f"base64 -d > '{event[1]}' <<'KUBEWIRE_EOF'", content, "KUBEWIRE_EOF"]
        elif event[0] == "pkg":  # a package operation's command (counted_pyinfra.py tags them)
            lines += [f"echo {PACKAGE_MARK} $(date +%s.%N)", f"( {event[1]} ) >/dev/null 2>&1",
                      f"echo {PACKAGE_MARK} $(date +%s.%N)"]
        else:
            lines.append(f"( {event[1]} ) >/dev/null 2>&1")
    return "\n".join(lines) + "\n"


def run_script(item):
    name, target = item
    assert_lab_address(target["address"])
    client = connect(SshTarget(name, target["address"], 22, "root", str(client_key()), str(known_hosts_file()), "yes"))
    try:
        if target["events"] is None:  # the bare SSH round: `true`, nothing else
            _, stdout, _ = client.exec_command("true")
            stdout.channel.recv_exit_status()
            return 0.0
        stdin, stdout, _ = client.exec_command("sh -s")
        stdin.write(script_for(target["events"]))
        stdin.channel.shutdown_write()
        output = stdout.read().decode().splitlines()
        marks = [float(line.split()[1]) for line in output if line.startswith(PACKAGE_MARK)]
        return sum(end - start for start, end in zip(marks[::2], marks[1::2], strict=False))
    finally:
        client.close()


def main():
    hosts = json.load(open(sys.argv[1]))
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        package_seconds = list(pool.map(run_script, hosts.items()))
    print(json.dumps({"seconds": time.monotonic() - STARTED, "package_seconds": max(package_seconds)}))


if __name__ == "__main__":
    main()
