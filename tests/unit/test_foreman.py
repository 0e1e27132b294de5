"""`.foreman`: foreman's option file read as defaults (PRODUCT.md §2 "Coming from foreman and honcho")."""

from __future__ import annotations

import pytest

from supervise.config.foreman import ForemanDefaults, parse_foreman
from supervise.errors import ConfigError


def test_every_key_supervise_honours() -> None:
    text = """\
---
# written for foreman
procfile: Procfile.dev
env: .env, .env.local
formation: web=2,worker=0   # comment
port: 3000
timeout: 2.5
"""
    assert parse_foreman(text) == ForemanDefaults(
        procfile="Procfile.dev",
        env_files=(".env", ".env.local"),
        formation="web=2,worker=0",
        port=3000,
        stop_timeout=2.5,
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("concurrency: web=3", ForemanDefaults(formation="web=3")),
        ("procfile: 'Procfile dev'", ForemanDefaults(procfile="Procfile dev")),
        ('env: ".env.test"', ForemanDefaults(env_files=(".env.test",))),
        ("timeout: 0", ForemanDefaults(stop_timeout=0.0)),
        ("", ForemanDefaults()),
    ],
)
def test_values_as_foreman_users_write_them(line: str, expected: ForemanDefaults) -> None:
    assert parse_foreman(line + "\n") == expected


def test_keys_supervise_does_not_use_are_named_one_line_each() -> None:
    defaults = parse_foreman("app: shop\nport: 5000\nroot: /srv\nshell: zsh\n")
    assert defaults.port == 5000
    assert defaults.notices == (
        '.foreman:1: "app" is not used (use export --app NAME)',
        '.foreman:3: "root" is not used (use -d DIR)',
        '.foreman:4: "shell" is not used (supervise has no such option)',
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("web=2\n", '.foreman:1: expected "key: value", got "web=2"'),
        ("port: 0\n", '.foreman:1: port: expected a port number from 1 to 65535, got "0"'),
        ("\n\nport: 99999\n", '.foreman:3: port: expected a port number from 1 to 65535, got "99999"'),
        ("timeout: soon\n", '.foreman:1: timeout: expected seconds from 0 to 86400, got "soon"'),
        ("timeout: nan\n", '.foreman:1: timeout: expected seconds from 0 to 86400, got "nan"'),
        ("procfile:\n", ".foreman:1: procfile: expected a path"),
        ("concurrency: a=1\nformation: a=2\n", ".foreman:2: give formation or concurrency, not both"),
    ],
)
def test_mistakes_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_foreman(text)
    assert str(caught.value) == message
