"""`python -m supervise` and the `supervise` console script.

`--version` is answered before typer is imported: it is the one question
that needs no parser, and typer's import is most of a bare start-up.
"""

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from supervise import __version__

        print(f"supervise {__version__}")
        sys.exit(0)
    from supervise.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
