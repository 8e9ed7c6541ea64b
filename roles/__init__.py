"""kubewire's roles: one module per role, each a pyinfra ``@deploy`` with its own defaults."""
