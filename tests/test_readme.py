"""Every command of the CLI is shown in the README (a command nobody can find is not done)."""

import click

from semsearch.cli import cli

from .conftest import REPO


def commands(group: click.Group, prefix: str = "semsearch") -> list[str]:
    found = []
    for name, command in group.commands.items():
        found.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix} {name}")
    return found


def test_every_command_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    missing = [c for c in commands(cli) if c not in readme]
    assert not missing, f"not in README.md: {missing}"
