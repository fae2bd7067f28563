"""The command line's table of commands (data_engine/cli/dispatch.py) matches the commands themselves: `--help`
lists every command with its own words without importing the command modules, and no command is left out."""

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import click

import data_engine.cli
from data_engine.cli.dispatch import COMMANDS, load_command

CLI_DIR = Path(data_engine.cli.__file__).parent


def test_each_listed_command_loads_under_its_name_with_the_listed_summary() -> None:
    for name, entry in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        listed = click.Command(name, help=entry.summary).get_short_help_str(1000)
        assert command.get_short_help_str(1000) == listed, f"COMMANDS[{name!r}].summary differs from its help"


def test_every_command_of_the_package_is_listed() -> None:
    defined: set[click.Command] = set()
    nested: set[click.Command] = set()
    for module_info in pkgutil.iter_modules([str(CLI_DIR)]):
        module = importlib.import_module(f"data_engine.cli.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, click.Command) and value.name != "main":
                defined.add(value)
                if isinstance(value, click.Group):
                    nested.update(value.commands.values())
    assert defined - nested == {load_command(name) for name in COMMANDS}


def test_help_imports_no_command_module() -> None:
    script = (
        "import sys; from data_engine.cli import main; main(['--help'], standalone_mode=False); "
        "print(sorted(name for name in sys.modules if name.startswith('data_engine.cli.')))"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "['data_engine.cli.dispatch', 'data_engine.cli.output']"


def test_no_module_of_the_command_line_is_over_300_lines() -> None:
    sizes = {path.name: len(path.read_text().splitlines()) for path in CLI_DIR.glob("*.py")}
    assert max(sizes.values()) <= 300, sizes
