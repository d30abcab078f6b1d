"""`quantpick get REPO`: download the recommended (or chosen) quant and print its path."""

from __future__ import annotations

import typer

from quantpick.cli.options import (
    BackendOpt,
    CtxOpt,
    HardwareOpt,
    JsonOpt,
    ModeOpt,
    PreferOpt,
    QuantOpt,
    RamOpt,
    RepoArg,
    ReserveOpt,
    RevisionOpt,
    VramOpt,
)

EPILOG = """\b
Examples:
  quantpick get bartowski/Qwen_Qwen3-8B-GGUF                     # the recommended quant, into the HF cache
  llama-server -m "$(quantpick get bartowski/Qwen_Qwen3-8B-GGUF)"
  quantpick get unsloth/gemma-3-27b-it-GGUF --quant UD-Q4_K_XL --with-mmproj --local-dir ./models
  quantpick get bartowski/Qwen_Qwen3-8B-GGUF --dry-run --json
"""

MMPROJ_PREFERENCE = ("F16", "BF16", "Q8_0", "F32")


def choose_mmproj(parsed):
    projectors = [o for o in parsed.other_files if o.kind == "mmproj"]
    for label in MMPROJ_PREFERENCE:
        for other in projectors:
            if label in other.path.upper().replace("FP16", "F16"):
                return other
    return min(projectors, key=lambda o: o.size_bytes) if projectors else None


class RichProgress:
    """An overall bar (bytes, speed, ETA) and one bar per file, on stderr."""

    def __init__(self, console, total: int):
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
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
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def start_file(self, plan) -> None:
        if plan.repo_path not in self.tasks:
            self.tasks[plan.repo_path] = self.progress.add_task(
                plan.repo_path.rpartition("/")[2], total=plan.size_bytes
            )

    def advance(self, plan, num_bytes: int) -> None:
        self.progress.advance(self.tasks[plan.repo_path], num_bytes)
        self.progress.advance(self.overall, num_bytes)

    def finish_file(self, plan) -> None:
        pass


def get_command(
    repo: RepoArg,
    quant: QuantOpt = None,
    local_dir: str | None = typer.Option(
        None, "--local-dir", help="Put the files under DIR (repo paths kept) instead of the Hugging Face cache."
    ),
    revision: RevisionOpt = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan (files, bytes, free space); write nothing."),
    with_mmproj: bool = typer.Option(False, "--with-mmproj", help="Also fetch the vision projector (mmproj)."),
    mode: ModeOpt = "auto",
    ctx: CtxOpt = 8192,
    reserve: ReserveOpt = None,
    prefer: PreferOpt = "auto",
    vram: VramOpt = None,
    ram: RamOpt = None,
    backend: BackendOpt = None,
    hardware: HardwareOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Download a quant (every shard of a split set), verify its sha256, print the model file's path."""
    from quantpick.cli.common import optional_size, resolve_hardware
    from quantpick.cli.list_cmd import load_repo
    from quantpick.cli.output import Output
    from quantpick.cli.recommend_cmd import llama_command
    from quantpick.download import execute, plan_download
    from quantpick.errors import NoFitError
    from quantpick.naming import RepoFile
    from quantpick.rules import Options, label_matches, recommend
    from quantpick.sizes import format_size

    out = Output(json_output)
    options = Options(mode=mode, ctx=ctx, reserve_bytes=optional_size(reserve), prefer=prefer, quant=quant)
    hw = resolve_hardware(hardware, vram, ram, backend)
    catalog, listing, parsed, shape, _status = load_repo(repo, revision)
    try:
        result = recommend(hw, parsed, shape, catalog, options, repo=repo)
        pick = result.pick
    except NoFitError as exc:
        if quant is None:
            raise
        pick = None
        out.warning(f"{quant} does not fit this machine ({exc.message}); downloading it as asked")
    if pick is not None:  # the very files of the pick: two quants may share a label in different folders
        group = next(g for g in parsed.quants if [f.path for f in g.files] == pick.files)
    else:
        group = next(g for g in parsed.quants if label_matches(g, quant))
    if pick is not None and quant is None:
        out.info(f"picked {pick.label} ({format_size(pick.size_bytes)}): {pick.reasons[0]}")
    files = [RepoFile(f.path, f.size_bytes, f.sha256) for f in group.files]
    if with_mmproj:
        mmproj = choose_mmproj(parsed)
        if mmproj is None:
            out.warning("--with-mmproj: this repo has no mmproj file")
        else:
            files.append(RepoFile(mmproj.path, mmproj.size_bytes, mmproj.sha256))
    plan = plan_download(repo, listing.revision, revision, files, local_dir)
    if group.split_style == "concat":
        plan.notes.append(
            f"old-style split: run `cat {' '.join(f.path for f in group.files)} > "
            f"{group.files[0].path.split('.gguf')[0]}.gguf` in {plan.destination} before loading"
        )
    payload = {
        "repo": repo,
        "revision": listing.revision,
        "quant": group.label,
        "destination": str(plan.destination),
        "layout": plan.layout,
        "dry_run": dry_run,
    }
    if dry_run:
        _report(out, plan, payload, dry_run=True)
        return
    if listing.cached or _offline():
        missing = [f.repo_path for f in plan.files if f.status != "present"]
        if missing:
            from quantpick.errors import HubError

            raise HubError(
                f"offline mode and {len(missing)} file(s) are not on disk: {', '.join(missing)}",
                code="offline",
                hint="unset HF_HUB_OFFLINE to download them",
            )
    if out.interactive and plan.bytes_to_fetch:
        with RichProgress(out.err, sum(f.size_bytes for f in plan.files)) as progress:
            execute(plan, progress)
    else:
        execute(plan)
    _report(out, plan, payload, dry_run=False)
    if not json_output:
        command = (
            llama_command(repo, pick, ctx, str(plan.model_path))
            if pick
            else (f'llama-server -m "{plan.model_path}" -c {ctx}')
        )
        out.hint("run it: " + command)
    for note in plan.notes:
        out.warning(note)


def _offline() -> bool:
    from quantpick.hub import is_offline

    return is_offline()


def _report(out, plan, payload: dict, *, dry_run: bool) -> None:
    from quantpick.sizes import format_size

    payload.update(
        files=[f.to_dict() for f in plan.files],
        model_path=str(plan.model_path),
        bytes_to_download=plan.bytes_to_fetch,
        free_bytes=plan.free_bytes,
        notes=plan.notes,
    )
    if out.json_mode:
        out.json(payload)
        return
    if dry_run:
        from rich.table import Table

        table = Table(
            title=f"{payload['repo']} {payload['quant']} -> {plan.destination} (dry run: nothing written)",
            title_justify="left",
            box=None,
        )
        for column in ("file", "size", "status"):
            table.add_column(column)
        for f in plan.files:
            status = (
                f"partial: {format_size(f.part_bytes)} kept"
                if f.status == "partial"
                else ("on disk" if f.status == "present" else "to download")
            )
            table.add_row(f.repo_path, format_size(f.size_bytes), status)
        out.err.print(table)
        out.info(
            f"to download: {format_size(plan.bytes_to_fetch)}; free at destination: {format_size(plan.free_bytes)}"
        )
    out.line(str(plan.model_path))


def register(app: typer.Typer) -> None:
    app.command("get", epilog=EPILOG)(get_command)
