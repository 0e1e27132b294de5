"""One module per command: the only layer that sees CLI options (DESIGN.md)."""
