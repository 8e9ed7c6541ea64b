"""kubewire's roles: one module per role, each a pyinfra ``@deploy``.

Installed as ``kubewire.roles`` (see pyproject.toml): ``from kubewire.roles.hosts import hosts``.
"""
