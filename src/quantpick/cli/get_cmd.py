"""`quantpick get REPO`: download the recommended (or chosen) quant and print its path."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from quantpick.cli.options import (
    JsonOpt,
    PlanFlags,
    QuantOpt,
    QuietOpt,
    RepoArg,
    RevisionOpt,
    output,
    repo_target,
    with_plan_flags,
)

if TYPE_CHECKING:
    from types import TracebackType

    from rich.console import Console

    from quantpick.cli.output import Output
    from quantpick.download import FilePlan
    from quantpick.service import GetPlan

EPILOG = """\b
Examples:
  quantpick get bartowski/Qwen_Qwen3-8B-GGUF                     # the recommended quant, into the HF cache
  llama-server -m "$(quantpick get bartowski/Qwen_Qwen3-8B-GGUF)"
  quantpick get unsloth/gemma-3-27b-it-GGUF --quant UD-Q4_K_XL --with-mmproj --local-dir ./models
  quantpick get unsloth/gemma-3-27b-it-GGUF --mmproj BF16        # that projector precision
  quantpick get bartowski/Qwen_Qwen3-8B-GGUF --dry-run --json
  quantpick get bartowski/Qwen_Qwen3-8B-GGUF:Q4_K_M               # llama.cpp's -hf shorthand
  quantpick get https://huggingface.co/bartowski/Qwen_Qwen3-8B-GGUF/blob/main/Qwen_Qwen3-8B-Q4_K_M.gguf
  quantpick get unsloth/Qwen3-30B-A3B-GGUF --connections 16         # a fast line, a slow CDN stream
"""


class RichProgress:
    """An overall bar (bytes, speed, ETA) and one bar per file, on stderr."""

    def __init__(self, console: Console, total: int) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskID,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.overall = self.progress.add_task("total", total=total)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.progress.stop()

    def start_file(self, plan: FilePlan) -> None:
        if plan.repo_path not in self.tasks:
            self.tasks[plan.repo_path] = self.progress.add_task(
                plan.repo_path.rpartition("/")[2], total=plan.size_bytes
            )

    def advance(self, plan: FilePlan, num_bytes: int) -> None:
        self.progress.advance(self.tasks[plan.repo_path], num_bytes)
        self.progress.advance(self.overall, num_bytes)

    def finish_file(self, plan: FilePlan) -> None:
        pass


@with_plan_flags
def get_command(
    ctx: typer.Context,
    repo: RepoArg,
    quant: QuantOpt = None,
    local_dir: str | None = typer.Option(
        None, "--local-dir", help="Put the files under DIR (repo paths kept) instead of the Hugging Face cache."
    ),
    revision: RevisionOpt = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan (files, bytes, free space); write nothing."),
    with_mmproj: bool = typer.Option(False, "--with-mmproj", help="Also fetch the vision projector (mmproj)."),
    mmproj: str | None = typer.Option(
        None, "--mmproj", metavar="QUANT", help="Fetch the vision projector of this precision (F16, BF16, Q8_0)."
    ),
    connections: int | None = typer.Option(
        None,
        "--connections",
        "-j",
        metavar="N",
        help="Ranged connections at once, shared by the files of a split set (default 8, at most 16; "
        "1 = one stream per file).",
        show_default=False,
    ),
    for_runner: str | None = typer.Option(
        None,
        "--for",
        metavar="RUNNER",
        help="Hand the file to a runner: ollama (writes a Modelfile) or lmstudio (links it into its models folder).",
    ),
    flags: PlanFlags = PlanFlags(),
    _json: JsonOpt = False,
    _quiet: QuietOpt = False,
) -> None:
    """Download a quant (every shard of a split set), verify its sha256, print the model file's path."""
    from quantpick import service
    from quantpick.cli.output import format_size
    from quantpick.errors import InvalidValue, UsageError

    out = output(ctx)
    if for_runner is not None and for_runner.lower() not in ("ollama", "lmstudio"):
        raise InvalidValue("for", f"unknown runner {for_runner[:40]!r}", hint="use --for ollama or --for lmstudio")
    for_runner = for_runner.lower() if for_runner is not None else None
    if local_dir is not None and not local_dir.strip():
        raise InvalidValue("local_dir", "an empty folder name", hint="name a folder, e.g. --local-dir ./models")
    target = repo_target(repo, revision, quant)
    quant = target.quant
    options = flags.options(quant)
    hw = flags.machine()
    plan = service.plan_get(
        target.repo,
        hardware=hw,
        options=options,
        revision=target.revision,
        file=target.file,
        discover_quantizations=not flags.repo_only,
        local_dir=local_dir,
        with_mmproj=with_mmproj,
        mmproj=mmproj,
        connections=connections,
    )
    for warning in plan.warnings:
        out.warning(warning)
    if for_runner == "ollama" and len(plan.group.files) > 1:
        raise UsageError(
            f"{plan.group.label} is split in {len(plan.group.files)} files and an Ollama Modelfile takes one",
            hint="take a quant in one file (--quant), or merge the parts with llama-gguf-split --merge",
        )
    pick = plan.recommendation.pick if plan.recommendation else None
    if pick is not None and quant is None:
        out.info(f"picked {pick.label} ({format_size(pick.size_bytes)}): {pick.reasons[0].text}")
    if dry_run:
        _report(out, plan, dry_run=True)
        return
    if out.interactive and plan.download.bytes_to_fetch:
        with RichProgress(out.err, sum(f.size_bytes for f in plan.download.files)) as progress:
            service.run_get(plan, progress, on_wait=out.info)
    else:
        service.run_get(plan, on_wait=out.info)
    if for_runner is not None:
        plan = service.hand_off(plan, for_runner)
    _report(out, plan, dry_run=False)
    if not out.json_mode:
        if plan.handoff is not None:
            for path in plan.handoff.written:
                out.info(f"wrote {path}")
            for note in plan.handoff.notes:
                out.info(note)
            for line in plan.handoff.commands:
                out.hint("then: " + line)
        else:
            out.hint("run it: " + plan.command)
    for note in plan.download.notes:
        out.warning(note)


def _report(out: Output, plan: GetPlan, *, dry_run: bool) -> None:
    from quantpick.cli.output import format_size, plain
    from quantpick.documents import get_document

    document = get_document(plan, dry_run=dry_run)
    if out.json_mode:
        out.json(document)
        return
    download = plan.download
    if dry_run:
        from rich.table import Table

        table = Table(
            title=plain(f"{document['repo']} {document['quant']} -> {download.destination} (dry run: nothing written)"),
            title_justify="left",
            box=None,
        )
        for column in ("file", "size", "status"):
            table.add_column(column)
        for f in download.files:
            status = (
                f"partial: {format_size(f.part_bytes)} kept"
                if f.status == "partial"
                else ("on disk" if f.status == "present" else "to download")
            )
            table.add_row(plain(f.repo_path), format_size(f.size_bytes), status)
        out.err.print(table)
        out.info(_disk_line(download.bytes_to_fetch, download.margin_bytes, download.free_bytes))
    out.line(str(download.model_path))


def _disk_line(to_fetch: int, margin: int, free: int | None) -> str:
    from quantpick.cli.output import format_size

    line = f"to download: {format_size(to_fetch)}; free at destination: {format_size(free)}"
    if free is None:
        return line + " (unknown: the disk could not be asked)"
    if to_fetch + margin > free:
        return line + f" - NOT enough room (needs {format_size(to_fetch + margin)} with the margin)"
    return line + " - enough room"


def register(app: typer.Typer) -> None:
    app.command("get", epilog=EPILOG)(get_command)
