"""The floor: each host's checks as one shell script over one SSH connection, all hosts in
parallel, with paramiko (so the key exchange is the one pyinfra negotiates).

    python bench/floor.py SCRIPTS.json   # {"host": {"address": ..., "script": ...}, ...}

Prints the wall time in seconds (process start to the last host done) as JSON.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

STARTED = time.monotonic()

from kubewire.lab import assert_lab_address, client_key, known_hosts_file  # noqa: E402
from kubewire.ssh import SshTarget, connect  # noqa: E402


def run_script(item):
    name, target = item
    assert_lab_address(target["address"])
    client = connect(SshTarget(name, target["address"], 22, "root", str(client_key()), str(known_hosts_file()), "yes"))
    try:
        stdin, stdout, _ = client.exec_command("sh -s")
        stdin.write(target["script"])
        stdin.channel.shutdown_write()
        stdout.read()
        channel = stdout.channel
        kex = client.get_transport().kex_engine.__class__.__name__
        return channel.recv_exit_status(), kex
    finally:
        client.close()


def main():
    scripts = json.load(open(sys.argv[1]))
    with ThreadPoolExecutor(max_workers=len(scripts)) as pool:
        results = list(pool.map(run_script, scripts.items()))
    print(json.dumps({"seconds": time.monotonic() - STARTED, "kex": sorted({kex for _, kex in results})}))


if __name__ == "__main__":
    main()
