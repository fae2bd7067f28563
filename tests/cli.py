"""The command line as the tests run it: in this process, with the environment the test set up."""

from click.testing import CliRunner

from data_engine.cli import main


def run_cli(*args: str) -> str:
    """What `data-engine ARGS` prints, after asserting that it exited 0 (exceptions propagate to the test)."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output
