# kubewire on a fresh Debian 12 machine, as root.
#   make lab    set up, build the one-machine lab, converge it, verify it
#   make test   set up, lint, unit tests, and the lab tests (builds its own lab)
#   make unit   the fast tests (tests/unit): no root, no lab, nothing cached outside a temporary
#               directory; needs the .venv that `make setup` made (or `pip install -e '.[dev]'`)
#   make bench  the benchmark (labs of 3, 10 and 20 nodes, and 50 with BENCH_50=1; not part of the tests)

VENV ?= .venv
BIN := $(VENV)/bin
# What the controller needs: the lab (debootstrap, systemd-nspawn, ip, nft, a local apt
# repository), vagrant (to validate the Vagrantfile), Graphviz (kubewire diagram) and a Python
# virtual environment.
APT_PACKAGES := python3 python3-venv debootstrap systemd-container iproute2 nftables \
	openssh-client dpkg-dev vagrant graphviz

.PHONY: setup lab test lint lab-down bench unit

setup: $(VENV)/.kubewire-installed

$(VENV)/.kubewire-installed: pyproject.toml
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# Compiled now, as pip compiles what it installs: pyinfra's CLI writes no bytecode, so a module
	# first imported by a run would be compiled again on every run.
	$(BIN)/python -m compileall -q kubewire roles >/dev/null
	touch $@

lab: setup
	$(BIN)/kubewire lab up
	$(BIN)/kubewire check inventories/local.py
	$(BIN)/pyinfra inventories/local.py deploys/cluster.py -y
	$(BIN)/kubewire verify inventories/local.py

lab-down: setup
	$(BIN)/kubewire lab down

lint: setup
	$(BIN)/ruff check .

unit:
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

test: lint
	KUBEWIRE_LAB_ONLY=1 $(BIN)/pytest

# Results in bench/results/ (results.md is the table the README shows). `make bench BENCH_50=1`
# adds a lab of 50 nodes (and the per-node slope from 20 to 50); it holds the machine longer.
comma := ,
BENCH_NODES ?= 3,10,20$(if $(BENCH_50),$(comma)50)
BENCH_RUNS ?= 3
BENCH_RERUNS ?= 3
bench: setup
	$(BIN)/python bench/run.py --nodes $(BENCH_NODES) --runs $(BENCH_RUNS) --reruns $(BENCH_RERUNS)

# The Vagrant lab for real: three VMs under libvirt (plain QEMU without usable KVM), the
# README's commands for it, a reboot, ipvs and nftables modes; all inside a network namespace
# of its own. Holds its own lock (/run/kubewire-vm.lock), not the one-machine lab's: the two labs
# share no name, address or bridge, so the nspawn lab stays usable meanwhile.
VM_APT_PACKAGES := vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base \
	iptables e2fsprogs
.PHONY: test-vm
test-vm: setup
	dpkg -s $(VM_APT_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $(VM_APT_PACKAGES) >/dev/null; }
	flock /run/kubewire-vm.lock $(BIN)/pytest tests/vm -p no:cacheprovider
