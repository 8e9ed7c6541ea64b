"""kubewire: Kubernetes cluster networking on real Linux nodes, declaratively, with pyinfra."""
