"""The service layer: what each command does, composed from the core and the adapters, as typed results.

The CLI renders these results; notebooks and tools call them directly (they are quantpick's Python API,
re-exported from `quantpick`). Nothing here parses flags or prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from quantpick.errors import HubError, NoFitError, UsageError
from quantpick.rules import COMMON_SIZES, Options

if TYPE_CHECKING:
    from quantpick.catalog import Catalog
    from quantpick.download import DownloadPlan, Progress
    from quantpick.gguf import ModelShape
    from quantpick.hardware import Hardware
    from quantpick.hub import Listing, RepoHit
    from quantpick.naming import OtherFile, ParsedRepo, QuantGroup
    from quantpick.probe.memory_speed import MemorySpeed
    from quantpick.rules import Budget, Decision, Recommendation, SizePlan
    from quantpick.runners import Handoff


@dataclass
class RepoView:
    """A repo as quantpick sees it: the listing pinned to a commit, its quants, and the model's shape."""

    repo: str
    catalog: Catalog
    listing: Listing
    parsed: ParsedRepo
    shape: ModelShape | None
    shape_status: str


@dataclass
class Compared:
    repo: str
    quant: str | None  # the repo's pick; None when it had nothing that fits or could not be read
    tokens_per_second: float | None
    quality_loss: float | None
    note: str


@dataclass
class Discovery:
    """A repo without GGUF files: its quantizations found through the Hub's base_model tag, and the choice."""

    base: str
    found: list[RepoHit]
    compared: list[Compared]
    chosen: str
    why: str
    cached: bool


@dataclass
class RepoRecommendation:
    view: RepoView
    hardware: Hardware
    options: Options
    recommendation: Recommendation
    command: str  # the llama-server line that runs the pick
    discovery: Discovery | None = None


@dataclass
class SearchResult:
    text: str
    hits: list[RepoHit]
    cached: bool
    hardware: Hardware
    budget: Budget
    estimates: list[tuple[int | None, str | None]]  # per hit: est. Q4_K_M bytes and its verdict


@dataclass
class SizesPlan:
    hardware: Hardware
    options: Options
    budget: Budget
    plans: list[SizePlan]
    decision: Decision | None = None
    best: SizePlan | None = None  # the largest model whose pick reaches the speed target


@dataclass
class GetPlan:
    """What `get` will fetch (or fetched): the quant's files, where they go, and why this quant."""

    view: RepoView
    hardware: Hardware
    options: Options
    recommendation: Recommendation | None  # None when a chosen quant does not fit and is fetched anyway
    group: QuantGroup
    mmproj: OtherFile | None
    download: DownloadPlan
    warnings: list[str] = field(default_factory=list)
    handoff: Handoff | None = None  # --for ollama|lmstudio, once the files are on disk

    @property
    def command(self) -> str:
        from quantpick.commands import llama_server_command

        pick = self.recommendation.pick if self.recommendation else None
        mmproj_path = str(self.download.files[-1].path) if self.mmproj is not None else None
        ctx = self.recommendation.reserve.ctx if self.recommendation else self.options.context_for(self.view.shape)
        return llama_server_command(
            self.view.repo,
            pick,
            ctx,
            model_path=str(self.download.model_path),
            mmproj_path=mmproj_path,
            runner=self.options.runner,
            rpc=[g.rpc for g in self.hardware.gpus if g.rpc],
        )


def load_catalog() -> Catalog:
    """The quant catalog: $QUANTPICK_CATALOG, else the shipped one."""
    from quantpick.catalog import load_catalog as load

    return load()


def probe() -> Hardware:
    """This machine: RAM (container-aware), GPUs and CPU features."""
    from quantpick.probe import probe_hardware

    return probe_hardware()


def measure_memory(hw: Hardware, measure: Callable[[int | None], MemorySpeed] | None = None) -> Hardware:
    """`hw` with its RAM bandwidth and CPU cache measured on this machine (a few seconds, every core busy).

    `measure` replaces the measurement (tests); a failed one leaves the figures as they were, with a warning.
    """
    from quantpick.probe.memory_speed import CACHED_RATIO, MEASURE_SOURCE, MeasureFailed
    from quantpick.probe.memory_speed import measure as measure_here
    from quantpick.sizes import format_size

    try:
        speed = (measure or measure_here)(hw.cpu.physical_cores or hw.cpu.logical_cores)
    except (MeasureFailed, OSError) as exc:
        hw.warnings.append(f"could not measure memory speed: {exc}")
        return hw
    hw.ram.bandwidth_gbps = speed.ram_gbps
    read = format_size(speed.ram_bytes)
    hw.ram.bandwidth_source = f"{MEASURE_SOURCE}: {speed.workers} processes reading {read}"
    hw.cpu.cache_bytes = speed.cache_bytes
    hw.cpu.cache_source = (
        f"{MEASURE_SOURCE}: read at {CACHED_RATIO:g}x RAM speed or more up to this size"
        if speed.cache_bytes
        else f"{MEASURE_SOURCE}: no size read faster than RAM"
    )
    return hw


def resolve_hardware(
    hardware_file: str | None = None,
    *,
    vram_bytes: int | list[int] | None = None,
    ram_bytes: int | None = None,
    backend: str | None = None,
    gpu_preset: str | None = None,
    worker_files: list[str] | None = None,
    rpc_specs: list[str] | None = None,
) -> Hardware:
    """The probe of this machine (or the one saved in `hardware_file`), with single figures overridden.

    `gpu_preset` (`RTX 4090`, `2x3090`, `M3 Max 64GB`) replaces the GPUs by a sourced table's figures.
    """
    from quantpick.devices import load_device_table, parse_preset, with_preset, with_table_bandwidths
    from quantpick.hardware import apply_overrides
    from quantpick.probe.saved import load_hardware_file

    hw = load_hardware_file(hardware_file) if hardware_file else probe()
    if gpu_preset is not None:
        if vram_bytes is not None:
            raise UsageError("--gpu and --vram both name the GPU memory", hint="give one of them")
        preset = parse_preset(gpu_preset, load_device_table())
        if preset.figure.backend == "metal" and ram_bytes is not None:
            raise UsageError(f"--gpu {preset.figure.name} already names the Mac's unified memory", hint="drop --ram")
        hw = with_preset(hw, preset)
    hw = apply_overrides(hw, vram=vram_bytes, ram=ram_bytes, backend=backend)
    if any(g.bandwidth_gbps is None for g in hw.gpus):
        hw = with_table_bandwidths(hw, load_device_table())
    if worker_files or rpc_specs:
        from pathlib import Path

        from quantpick.cluster import parse_rpc_spec, with_workers, worker_from_hardware

        workers = []
        for index, path in enumerate(worker_files or []):
            saved = load_hardware_file(path)
            if any(g.bandwidth_gbps is None for g in saved.gpus):
                saved = with_table_bandwidths(saved, load_device_table())
            workers.append(worker_from_hardware(Path(path).stem, saved, index))
        workers += [parse_rpc_spec(spec) for spec in rpc_specs or []]
        hw = with_workers(hw, workers)
    return hw


def load_repo(
    repo: str, revision: str | None = None, *, with_shape: bool = True, catalog: Catalog | None = None
) -> RepoView:
    """The listing (one request), the parsed quants and the model shape (one Range request, remembered)."""
    from quantpick.hub import fetch_listing, read_shape
    from quantpick.naming import parse_repo_files

    catalog = catalog if catalog is not None else load_catalog()
    listing = fetch_listing(repo, revision)
    parsed = parse_repo_files(listing.files, catalog)
    if not parsed.quants:
        raise HubError(
            f"{repo} has no GGUF model files",
            code="no_gguf",
            hint=f"is it the original safetensors repo? look for a GGUF version (e.g. {repo}-GGUF)",
        )
    shape, shape_status = None, "not read"
    if with_shape:
        header_group = _header_group(parsed)
        if header_group is not None:
            shape, shape_status = read_shape(listing, header_group.first_file.path)
    return RepoView(repo, catalog, listing, parsed, shape, shape_status)


def _header_group(parsed: ParsedRepo) -> QuantGroup | None:
    # The smallest complete known quant; any quant of the repo has the same shape.
    usable = [g for g in parsed.quants if g.complete and g.known] or [g for g in parsed.quants if g.complete]
    return min(usable, key=lambda g: g.size_bytes) if usable else None


DISCOVERY_UPLOADERS = 3  # the leading uploaders compared, each costing a listing and a header request


def _discovers(exc: HubError, revision: str | None, file: str | None) -> bool:
    """A repo without GGUF files, asked for by name alone: look for its quantizations instead."""
    return exc.code == "no_gguf" and revision is None and file is None


def discover(base: str, hw: Hardware, options: Options) -> tuple[RepoRecommendation, Discovery]:
    """The best pick among the GGUF quantizations of `base` by its leading uploaders (one search request, then a
    listing and a header per uploader compared)."""
    from quantpick.hub import search_repos
    from quantpick.rules import decide

    hits, cached = search_repos((f"base_model:quantized:{base}", "gguf"))
    if not hits:
        raise HubError(
            f"{base} has no GGUF files and the Hub lists no GGUF quantization of it",
            code="no_gguf",
            hint=f"search by name: quantpick search {base.split('/')[-1]}",
        )
    leaders: list[RepoHit] = []
    for hit in hits:
        if hit.author not in {h.author for h in leaders}:
            leaders.append(hit)
        if len(leaders) == DISCOVERY_UPLOADERS:
            break
    results: list[RepoRecommendation] = []
    compared: list[Compared] = []
    catalog = load_catalog()  # once for every uploader compared
    for hit in leaders:
        try:
            result = recommend(hit.repo, hardware=hw, options=options, discover_quantizations=False, catalog=catalog)
        except (NoFitError, UsageError, HubError) as exc:
            compared.append(Compared(hit.repo, None, None, None, exc.message))
            continue
        pick = result.recommendation.pick
        tps = pick.speed.generation_tokens_per_second if pick.speed is not None else None
        imatrix = pick.group is not None and pick.group.imatrix_marker
        note = f"{hit.downloads} downloads" + (", imatrix" if imatrix else "")
        compared.append(Compared(hit.repo, pick.label, tps, pick.loss, note))
        results.append(result)
    if not results:
        raise NoFitError(
            f"none of the GGUF quantizations of {base} fits this machine",
            hint="; ".join(f"{c.repo}: {c.note}" for c in compared)[:400],
        )
    picks = [r.recommendation.pick for r in results]

    # imatrix quants first among equals: the same decision, fed the picks in that order
    def has_imatrix(index: int) -> bool:
        group = picks[index].group
        return group is not None and group.imatrix_marker

    order = sorted(range(len(picks)), key=lambda i: not has_imatrix(i))
    chosen_pick, rule, _ = decide([picks[i] for i in order], options, [], options.min_speed)
    chosen = next(r for r in results if r.recommendation.pick is chosen_pick)
    why = f"{chosen.view.repo}: {rule.text}"
    discovery = Discovery(base, hits, compared, chosen.view.repo, why, cached)
    chosen.discovery = discovery
    return chosen, discovery


def search(text: str, *, hardware: Hardware | None = None, limit: int = 20) -> SearchResult:
    """GGUF repos matching `text`, most downloaded first, with an estimated Q4_K_M size and whether it fits."""
    from quantpick.hub import search_repos
    from quantpick.rules import compute_budget

    if not text.strip() or len(text) > 200:
        raise UsageError("give a few words to search for (1 to 200 characters)", hint="e.g. quantpick search qwen3 8b")
    hw = hardware if hardware is not None else probe()
    hits, cached = search_repos(("gguf",), text.strip(), limit)
    budget = compute_budget(hw)
    q4_k_m = load_catalog().get("Q4_K_M")
    bpw = (q4_k_m.bpw_effective or q4_k_m.bpw_nominal) if q4_k_m is not None else 4.85
    estimates: list[tuple[int | None, str | None]] = []
    for hit in hits:
        if hit.parameters is None:
            estimates.append((None, None))
            continue
        size = int(hit.parameters * bpw / 8)  # at the catalog's effective bpw of Q4_K_M
        if budget.has_gpu and size <= budget.speed_bytes:
            verdict = "fits GPU"
        elif size <= budget.quality_bytes:
            verdict = "fits GPU+CPU" if budget.has_gpu else "fits RAM"
        else:
            verdict = "too large"
        estimates.append((size, verdict))
    return SearchResult(text, hits, cached, hw, budget, estimates)


def recommend(
    repo: str,
    *,
    hardware: Hardware | None = None,
    options: Options | None = None,
    revision: str | None = None,
    file: str | None = None,
    discover_quantizations: bool = True,
    catalog: Catalog | None = None,
) -> RepoRecommendation:
    """The quant of `repo` to download for `hardware` (default: this machine), with every verdict's reasons.

    Raises NoFitError when nothing fits, UsageError for a quant the repo lacks, HubError for the Hub.
    """
    from quantpick.commands import llama_server_command
    from quantpick.rules import recommend as apply_rules

    hw = hardware if hardware is not None else probe()
    try:
        view = load_repo(repo, revision, catalog=catalog)
    except HubError as exc:
        if not (discover_quantizations and _discovers(exc, revision, file)):
            raise
        return discover(repo, hw, options or Options())[0]
    opts = _with_file_quant(options or Options(), view, file)
    result = apply_rules(hw, view.parsed, view.shape, view.catalog, opts, repo=repo)
    from quantpick.cluster import rpc_addresses

    command = llama_server_command(repo, result.pick, result.reserve.ctx, runner=opts.runner, rpc=rpc_addresses(hw))
    return RepoRecommendation(view, hw, opts, result, command)


def _with_file_quant(options: Options, view: RepoView, file: str | None) -> Options:
    """A file URL names its quant: the one whose files hold `file` (UsageError when none does)."""
    if file is None:
        return options
    import dataclasses
    import difflib

    for group in view.parsed.quants:
        if file in [f.path for f in group.files]:
            if options.quant is not None and options.quant.upper() != group.label.upper():
                raise UsageError(
                    f"two quants asked for: {options.quant} and {group.label} ({file})", hint="give one of them"
                )
            return dataclasses.replace(options, quant=group.label)
    paths = [f.path for g in view.parsed.quants for f in g.files]
    close = difflib.get_close_matches(file, paths, n=3)
    raise UsageError(
        f"{view.repo} has no GGUF quant file {file[:80]!r}",
        hint=f"did you mean {', '.join(close)}?" if close else f"see `quantpick list {view.repo}`",
        code="file_not_found",
    )


def plan_sizes(
    *, hardware: Hardware | None = None, options: Options | None = None, extra_sizes: tuple[float, ...] = ()
) -> SizesPlan:
    """Without a repo: the best quant type per common model size (sizes estimated from bpw). Never online."""
    from quantpick.catalog import load_catalog
    from quantpick.rules import best_size, decision_for, plan_without_repo

    hw = hardware if hardware is not None else probe()
    opts = options or Options()
    sizes = tuple(sorted(set(COMMON_SIZES) | set(extra_sizes)))
    budget, plans = plan_without_repo(hw, load_catalog(), opts, sizes)
    return SizesPlan(hw, opts, budget, plans, decision_for(opts), best_size(plans, opts.min_speed))


def plan_get(
    repo: str,
    *,
    hardware: Hardware | None = None,
    options: Options | None = None,
    revision: str | None = None,
    local_dir: str | None = None,
    with_mmproj: bool = False,
    mmproj: str | None = None,
    connections: int | None = None,
    file: str | None = None,
    discover_quantizations: bool = True,
) -> GetPlan:
    """Which files `get` fetches and where they go; reads the disk, writes nothing.

    `connections`: ranged connections at once (default DEFAULT_CONNECTIONS; 1 = one stream per file).
    """
    from quantpick.errors import InvalidValue
    from quantpick.transfer import DEFAULT_CONNECTIONS, MAX_CONNECTIONS

    if connections is not None and not 1 <= connections <= MAX_CONNECTIONS:
        raise InvalidValue("connections", f"must be 1 to {MAX_CONNECTIONS}, got {connections}", hint="the default is 8")
    from quantpick.download import plan_download
    from quantpick.naming import RepoFile, choose_mmproj
    from quantpick.rules import label_matches
    from quantpick.rules import recommend as apply_rules

    hw = hardware if hardware is not None else probe()
    try:
        view = load_repo(repo, revision)
    except HubError as exc:
        if not (discover_quantizations and _discovers(exc, revision, file)):
            raise
        chosen, discovery = discover(repo, hw, options or Options())
        plan = plan_get(
            chosen.view.repo,
            hardware=hw,
            options=options,
            local_dir=local_dir,
            with_mmproj=with_mmproj,
            mmproj=mmproj,
            connections=connections,
            discover_quantizations=False,
        )
        plan.warnings.insert(0, f"{repo} has no GGUF files: {discovery.why}")
        return plan
    opts = _with_file_quant(options or Options(), view, file)
    warnings: list[str] = []
    result: Recommendation | None
    try:
        result = apply_rules(hw, view.parsed, view.shape, view.catalog, opts, repo=repo)
    except NoFitError as exc:
        if opts.quant is None:
            raise
        result = None
        warnings.append(f"{opts.quant} does not fit this machine ({exc.message}); downloading it as asked")
    if result is not None and result.pick.group is not None:
        group = result.pick.group
    else:
        wanted = opts.quant or ""
        group = next(g for g in view.parsed.quants if label_matches(g, wanted))
    files = [RepoFile(f.path, f.size_bytes, f.sha256) for f in group.files]
    projector = None
    if with_mmproj or mmproj is not None:
        projector = choose_mmproj(view.parsed, view.catalog, mmproj)
        if projector is None and mmproj is not None:
            have = [o.path for o in view.parsed.other_files if o.kind == "mmproj"]
            raise UsageError(
                f"{repo} has no {mmproj} vision projector",
                hint=f"available: {', '.join(have) or 'none'}",
                code="mmproj_not_found",
            )
        if projector is None:
            warnings.append("this repo has no vision projector (mmproj) file")
        else:
            files.append(RepoFile(projector.path, projector.size_bytes, projector.sha256))
    download = plan_download(repo, view.listing.revision, revision, files, local_dir)
    download.connections = connections or DEFAULT_CONNECTIONS
    if group.split_style == "concat":
        download.notes.append(
            f"old-style split: run `cat {' '.join(f.path for f in group.files)} > "
            f"{group.files[0].path.split('.gguf')[0]}.gguf` in {download.destination} before loading"
        )
    return GetPlan(view, hw, opts, result, group, projector, download, warnings)


def run_get(
    plan: GetPlan, progress: Progress | None = None, *, on_wait: Callable[[str], None] | None = None
) -> GetPlan:
    """Fetch what is missing, verify every sha256, link the files in place.

    `on_wait` hears when another process holds a file's lock (it is fetching the same file).
    """
    from quantpick.download import execute
    from quantpick.hub import is_offline

    if plan.view.listing.cached or is_offline():
        missing = [f.repo_path for f in plan.download.files if f.status != "present"]
        if missing:
            raise HubError(
                f"offline mode and {len(missing)} file(s) are not on disk: {', '.join(missing)}",
                code="offline",
                hint="unset HF_HUB_OFFLINE to download them",
            )
    execute(plan.download, progress, on_wait=on_wait)
    return plan


def hand_off(plan: GetPlan, runner: str) -> GetPlan:
    """After `run_get`: a Modelfile for Ollama, or links in LM Studio's models folder (no second copy)."""
    from quantpick.runners import link_lmstudio, write_ollama

    files = [f.path for f in plan.download.files]
    model_files = files[: len(plan.group.files)]
    if runner == "ollama":
        from huggingface_hub import constants

        local = plan.download.layout == "local-dir"
        base = plan.download.destination if local else Path(constants.HF_HOME) / "quantpick" / "ollama"
        folder = base / f"{plan.view.repo.replace('/', '--')}--{plan.group.label}"
        ctx = plan.recommendation.reserve.ctx if plan.recommendation else plan.options.context_for(plan.view.shape)
        mmproj = files[-1] if plan.mmproj is not None else None
        plan.handoff = write_ollama(
            plan.download.model_path, len(model_files), plan.view.repo, plan.group.label, ctx, folder, mmproj
        )
    elif runner == "lmstudio":
        plan.handoff = link_lmstudio(files, plan.view.repo)
    else:
        raise UsageError(f"unknown runner {runner!r}", hint="use ollama or lmstudio", code="invalid_value")
    return plan
