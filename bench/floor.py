"""The floor: what pyinfra sent each host, replayed as one shell script over one SSH
connection per host, all hosts in parallel, with paramiko (the library, and so the key
exchange, pyinfra uses).

    python bench/floor.py EVENTS.json   # {"host": {"address": ..., "events": [...]}, ...}

Events are as counted_pyinfra.py records them: commands and file transfers, in order.
Prints JSON: wall seconds (process start to the last host done) and the apt seconds of the
slowest host (apt commands are timed inside the script).
"""

import base64
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

STARTED = time.monotonic()

from kubewire.lab import assert_lab_address, client_key, known_hosts_file  # noqa: E402
from kubewire.ssh import SshTarget, connect  # noqa: E402

APT_MARK = "@@kubewire-apt"


def script_for(events: list[list[str]]) -> str:
    lines = []
    for event in events:
        if event[0] in ("put", "put-file"):
            content = event[2] if event[0] == "put" else base64.b64encode(open(event[2], "rb").read()).decode()
            lines += [f"base64 -d > '{event[1]}' <<'KUBEWIRE_EOF'", content, "KUBEWIRE_EOF"]
        elif "apt-get" in event[1]:
            lines += [f"echo {APT_MARK} $(date +%s.%N)", f"( {event[1]} ) >/dev/null 2>&1",
                      f"echo {APT_MARK} $(date +%s.%N)"]
        else:
            lines.append(f"( {event[1]} ) >/dev/null 2>&1")
    return "\n".join(lines) + "\n"


def run_script(item):
    name, target = item
    assert_lab_address(target["address"])
    client = connect(SshTarget(name, target["address"], 22, "root", str(client_key()), str(known_hosts_file()), "yes"))
    try:
        stdin, stdout, _ = client.exec_command("sh -s")
        stdin.write(script_for(target["events"]))
        stdin.channel.shutdown_write()
        marks = [float(line.split()[1]) for line in stdout.read().decode().splitlines() if line.startswith(APT_MARK)]
        return sum(end - start for start, end in zip(marks[::2], marks[1::2], strict=False))
    finally:
        client.close()


def main():
    hosts = json.load(open(sys.argv[1]))
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        apt_seconds = list(pool.map(run_script, hosts.items()))
    print(json.dumps({"seconds": time.monotonic() - STARTED, "apt_seconds": max(apt_seconds)}))


if __name__ == "__main__":
    main()
