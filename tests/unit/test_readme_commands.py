"""Every ``vcc ...`` example of the README names a command and options that exist.

Each example (inline code and code blocks, the CLI table included) is run through the
real click command with ``--help`` appended: click parses every option before it acts on
``--help``, so an unknown command or option fails while nothing is executed. Placeholders
(``[...]``, ``...``, ``a|b`` values) are read the way a person reads them; alternatives
of a subcommand (``list/show/add``, ``province|site``) are each checked.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from vcc_ops.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
_VCC = re.compile(r"^(?:\.venv/bin/)?vcc(?=\s|$)")
_WORD = re.compile(r"^[a-z][a-z-]*$")


def readme_examples(text: str) -> list[str]:
    """Every ``vcc`` command line of the README, as written."""
    found: list[str] = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            for part in re.split(r"&&|;", line):
                if _VCC.match(part.strip()):
                    found.append(part.strip())
            continue
        for span in re.findall(r"`([^`]+)`", line):
            if _VCC.match(span.strip()):
                found.append(span.strip())
    return found


def argvs(example: str) -> list[list[str]]:
    """The argument lists an example stands for (one per alternative subcommand)."""
    text = example.replace("\\|", "|").replace("[", " ").replace("]", " ")
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    tokens = [t for t in tokens[1:] if t not in ("...", "|", "…")]
    choices: list[list[str]] = []
    seen_option = False
    for token in tokens:
        seen_option = seen_option or token.startswith("-")
        parts = re.split(r"[/|]", token)
        if not seen_option and len(parts) > 1 and all(_WORD.match(p) for p in parts):
            choices.append(parts)
        else:
            choices.append([token])
    return [list(combo) for combo in itertools.product(*choices)]


def parse_error(argv: list[str]) -> str | None:
    """None when click accepts the command and its options, else its message."""
    result = CliRunner().invoke(main, [*argv, "--help"])
    if result.exit_code == 0:
        return None
    return (result.output or repr(result.exception)).strip()


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))


def test_the_readme_has_examples_of_every_command() -> None:
    named = {argv[0] for example in EXAMPLES for argv in argvs(example) if argv}
    assert not set(main.commands) - named, (
        f"commands without a README example: {sorted(set(main.commands) - named)}"
    )


@pytest.mark.parametrize("example", EXAMPLES)
def test_readme_example_parses(example: str) -> None:
    for argv in argvs(example):
        error = parse_error(argv)
        assert error is None, f"README example `{example}` ({argv}): {error}"


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "directory", "--made-up-option", "F"],
        ["up", "--no-such-flag"],
        ["report", "no-such-view"],
        ["directory", "--hub", "h:1", "list", "agent", "--bogus"],
    ],
)
def test_a_made_up_command_or_option_fails(argv: list[str]) -> None:
    assert parse_error(argv) is not None


def test_alternatives_and_placeholders_are_expanded() -> None:
    assert argvs("vcc report province\\|site --format table\\|csv [--out F]") == [
        ["report", "province", "--format", "table|csv", "--out", "F"],
        ["report", "site", "--format", "table|csv", "--out", "F"],
    ]
    assert argvs("vcc settings [--json \\| --markdown] ...") == [
        ["settings", "--json", "--markdown"]
    ]
    assert readme_examples("x `vcc status` y\n```\npip install . && .venv/bin/vcc up\n```\n") == [
        "vcc status",
        ".venv/bin/vcc up",
    ]
