"""Every command's --help teaches: examples that parse as written, and the default of every
option that has one."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from checker.cli import build_parser

PARSER = build_parser()
COMMANDS: dict[str, argparse.ArgumentParser] = next(
    a.choices for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)
)


def _examples(text: str | None) -> list[list[str]]:
    """The argument lists of the example lines of a description or epilog: indented lines that
    run vllm-wizard (a trailing comment and a leading 'cmd && ' dropped)."""
    found = []
    for line in (text or "").splitlines():
        match = re.match(r"  (?:.* (?:&&|\|) )?vllm-wizard (.*?)(?:  +#.*)?$", line)
        if match:
            found.append(shlex.split(match[1]))
    return found


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_shows_examples_that_parse(name: str) -> None:
    examples = _examples(COMMANDS[name].epilog)
    assert any(e[0] == name for e in examples), f"'vllm-wizard {name} --help' shows no example"
    for argv in examples + _examples(PARSER.description):
        PARSER.parse_args(argv)  # a _Parser raises UsageError on anything it cannot read


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_option_with_a_default_says_it(name: str) -> None:
    for action in COMMANDS[name]._actions:
        if not action.option_strings or action.default in (None, False, [], argparse.SUPPRESS):
            continue
        assert re.search(r"default|\(\d", action.help or ""), (name, action.option_strings)


def test_descriptions_are_wrapped_for_a_terminal() -> None:
    for name, command in COMMANDS.items():
        widest = max(len(line) for line in command.format_help().splitlines())
        assert widest <= 100, name
