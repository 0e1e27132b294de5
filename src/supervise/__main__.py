"""`python -m supervise` and the `supervise` console script.

`--version` is answered before typer is imported: it is the one question
that needs no parser, and typer's import is most of a bare start-up.
`supervise up` forks its guardian before that import too: the guardian keeps
what was loaded at the fork, so forking now costs the least memory
(runtime/guardian.py; `run_up` forks it later when `up` was not the first word).
"""

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from supervise import __version__

        print(f"supervise {__version__}")
        sys.exit(0)
    if sys.argv[1:2] == ["up"]:
        import gc

        gc.disable()  # start-up makes many objects and frees few; `up` turns it on again once started
        from supervise.runtime import guardian

        guardian.protect()
    from supervise.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
