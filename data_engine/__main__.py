"""`python -m data_engine` is the `data-engine` command."""

from data_engine.cli import run

run()
