"""The roles' Jinja2 templates, templates/<role>/<file>.j2 (installed as package data: kubewire.role_templates)."""
