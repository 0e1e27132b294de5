"""supervise: a foreground process runner that speaks supervisord."""

__version__ = "0.1.0"
