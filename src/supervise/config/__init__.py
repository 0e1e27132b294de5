"""Reading and validating the user's configuration: pure parsers plus `load`."""
