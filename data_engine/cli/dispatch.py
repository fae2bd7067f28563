"""The `data-engine` group: its options, the engine's errors as one line, and which module holds each command.

The command modules import the stages they call at their top, and the stages import PyAV, OpenCV, pyarrow and the
catalog. So this module imports none of them: `COMMANDS` names each command's module and the first sentence of
its help, `--help` lists the commands from it, and only the module of the command that runs is imported (by
name, below). This is the one place where imports are deferred, for start-up speed, not to dodge a loop.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import sys
import traceback
from typing import Any, NamedTuple

import click

from data_engine.errors import EngineError, keep_secret, redact, redact_logs
from data_engine.runtime import Runtime
from data_engine.settings import Settings


class Entry(NamedTuple):
    """Where a command lives (a module of data_engine/cli/; the command is its attribute of the same name, `-`
    read as `_`) and its help's first sentence, which `--help` shows without importing the module."""

    module: str
    summary: str


COMMANDS = {
    "annotation-stats": Entry(
        "annotation",
        "Images reviewed per annotator and day, lead time, how much humans changed the autolabels per trigger, "
        "and each trigger's yield and lift over frames chosen without a trigger.",
    ),
    "autolabel": Entry(
        "autolabel",
        "Autolabel clips with the configured detectors and hindsight (tracking, gap filling, fusion).",
    ),
    "clip": Entry("listings", "Look at one clip."),
    "clips": Entry("listings", "The clips and their states."),
    "dataset": Entry("training", "Versioned training datasets built from reviewed labels."),
    "doctor": Entry(
        "operations",
        "Check the decoder, catalog, store, detector weights, annotation platform and free disk.",
    ),
    "evaluate": Entry(
        "evaluation",
        "Measure the engine on labelled footage: videos, folders of frames or MOTChallenge sequences with "
        "MOTChallenge ground truth (several sequences: one row each and the pooled figures).",
    ),
    "import-annotations": Entry(
        "annotation",
        "Import the answers of an exported bundle: its answer file (a folder, its zip, or the file itself).",
    ),
    "ingest": Entry(
        "ingest",
        "Register and clip the given video files or folders now (the same code the inbox sensor runs).",
    ),
    "labels": Entry("autolabel", "Look at label files."),
    "mine": Entry(
        "mining",
        "Frame features, trigger hits and the selection of frames for annotation under the daily budget.",
    ),
    "models": Entry(
        "models",
        "Model versions in the registry with their metrics, lineage and status (`models show ID`, `models add PATH`).",
    ),
    "promote": Entry("models", "Make a model version the champion by hand, bypassing the gate (recorded as an event)."),
    "proving-ground": Entry(
        "evaluation",
        "The data-engine loop measured on synthetic videos with rare hard cases: mining vs random vs uncertainty "
        "labelling at the same budget, test mAP overall and on the rare cases per round, over seeds with 95 % "
        "intervals.",
    ),
    "pull": Entry(
        "annotation",
        "Bring reviewed labels back from annotation platforms (Label Studio) as new label-file versions.",
    ),
    "push": Entry(
        "annotation",
        "Send the selected frames of autolabelled clips (selected ones on a cold start) to annotators.",
    ),
    "retry": Entry(
        "operations",
        "Re-queue failed work by hand, without waiting for its backoff; the next `run` or `ingest` does it.",
    ),
    "rollback": Entry(
        "models",
        "Take the champion out and reinstate the previous one (a second rollback goes further back).",
    ),
    "run": Entry(
        "operations",
        "The main job: ingest the inbox (and PATHS), clip, mine, select, autolabel; re-runnable, does only what "
        "is new.",
    ),
    "selection": Entry(
        "selection",
        "Frames selected for annotation and why, numbered within the clip and within its video.",
    ),
    "status": Entry("listings", "Counts of videos and clips per status, and the oldest clip waiting in each state."),
    "synth": Entry("evaluation", "Write a proving-ground video (H.264 mp4) and its exact ground truth (JSON)."),
    "train": Entry(
        "training",
        "Build the dataset, train a challenger (fine-tuning the champion), evaluate it and run the promotion gate.",
    ),
    "triggers": Entry("listings", "Trigger hits: which frames of which clips the triggers flagged, and how strongly."),
    "videos": Entry("listings", "The registered videos."),
}


def load_command(name: str) -> click.Command:
    """The command `name`, importing its module (and the stages that module calls)."""
    module = importlib.import_module(f"data_engine.cli.{COMMANDS[name].module}")
    command: click.Command = getattr(module, name.replace("-", "_"))
    return command


class EngineGroup(click.Group):
    """The top-level group: commands loaded on use from `COMMANDS`, and the engine's errors turned into one
    readable line (and a traceback with --debug)."""

    own_process = False
    """True when the group is the program of its own process (`run`): then what the command's imports made is
    frozen out of the garbage collector's passes (`gc.freeze`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        command = load_command(cmd_name)
        if self.own_process:
            gc.freeze()
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's listing of the commands, from their summaries: no command module is imported for `--help`."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        summaries = {name: click.Command(name, help=entry.summary) for name, entry in COMMANDS.items()}
        rows = [(name, summaries[name].get_short_help_str(limit)) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EngineError as error:
            if ctx.params.get("debug"):
                click.echo(redact(traceback.format_exc()), err=True, nl=False)
            click.echo(redact(f"error: {' '.join(str(error).split())}"), err=True)
            sys.exit(2)


@click.group(cls=EngineGroup)
@click.option(
    "--debug", is_flag=True, envvar="DATA_ENGINE_DEBUG", help="Show the traceback of errors too (DATA_ENGINE_DEBUG=1)."
)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """The video data engine: ingest, clip, mine, autolabel, annotate, retrain."""
    # `debug` is read from ctx.params by EngineGroup.invoke, which also sees errors raised right here.
    redact_logs()
    ctx.obj = Runtime(Settings.from_env())
    keep_secret(ctx.obj.settings.label_studio_token)


def run() -> None:
    """The `data-engine` program. The objects its imports made (modules, classes: most of what a command holds)
    are frozen out of the garbage collector once the command is loaded, and everything still alive at exit is left
    to the operating system: the collector's passes over them took 0.4-1 CPU s of every command (bench/README.md,
    "Command start-up"). A caller that invokes `main` in its own process (a test, CliRunner) keeps its collector
    as it was."""
    EngineGroup.own_process = True
    atexit.register(gc.freeze)
    main()
