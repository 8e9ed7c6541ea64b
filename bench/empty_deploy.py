"""An empty deploy: what pyinfra itself costs on an inventory (start, connect to every host, end)."""
