"""The JSON contract: one declared type per document a command prints, the builders, and their JSON Schemas.

Every `--json` run prints exactly one of the documents below (or ErrorDocument). `quantpick schema COMMAND`
prints the JSON Schema generated from these types; the contract tests validate real output against it,
with every key required and no key extra. Pure: no I/O.
"""

from __future__ import annotations

import types
import typing
from dataclasses import asdict
from typing import Any, Literal, TypedDict, Union, cast, get_args, get_origin, get_type_hints

from quantpick.states import (
    Backend,
    BudgetMode,
    Family,
    FileStatus,
    FlashAttn,
    Layout,
    OtherKind,
    Placement,
    ReserveSource,
    SplitStyle,
    Vendor,
    Verdict,
)

SCHEMA_VERSION: Literal[1] = 1
SchemaVersion = Literal[1]


# --- shared parts ---------------------------------------------------------------------------------------


class ReasonDoc(TypedDict):
    code: str
    text: str


class RamDoc(TypedDict):
    total_bytes: int
    available_bytes: int
    source: str
    host_total_bytes: int | None
    cgroup_limit_bytes: int | None
    bandwidth_gbps: float | None
    bandwidth_source: str | None


class GpuDoc(TypedDict):
    vendor: Vendor
    name: str
    total_bytes: int | None
    free_bytes: int | None
    budget_bytes: int | None
    source: str
    index: int | None
    uuid: str | None
    reserved_bytes: int | None
    shared_with_ram_bytes: int
    unified: bool
    compute_capability: str | None
    bandwidth_gbps: float | None
    bandwidth_source: str | None
    rpc: str | None
    driver_version: str | None
    mig: bool


class CpuDoc(TypedDict):
    model: str | None
    arch: str | None
    physical_cores: int | None
    logical_cores: int | None
    flags: dict[str, bool]
    cache_bytes: int | None
    cache_source: str | None


class HardwareDoc(TypedDict):
    ram: RamDoc
    gpus: list[GpuDoc]
    cpu: CpuDoc
    backend: Backend
    backend_source: str
    warnings: list[str]
    source: str


class ModelDoc(TypedDict):
    architecture: str
    block_count: int
    embedding_length: int | None
    context_length: int | None
    head_count: int | list[int] | None
    head_count_kv: int | list[int] | None
    key_length: int | None
    value_length: int | None
    expert_count: int | None
    expert_used_count: int | None
    sliding_window: int | None
    sliding_window_pattern: int | list[bool] | None
    kv_lora_rank: int | None
    vocab_size: int | None
    file_type: int | None
    key_length_mla: int | None
    ssm_conv_kernel: int | None
    ssm_inner_size: int | None
    ssm_state_size: int | None
    ssm_group_count: int | None
    feed_forward_length: int | None
    expert_feed_forward_length: int | None
    expert_shared_count: int | None
    leading_dense_block_count: int | None


class FileDoc(TypedDict):
    path: str
    size_bytes: int
    sha256: str | None


class BudgetDoc(TypedDict):
    speed_bytes: int
    quality_bytes: int
    usable_ram_bytes: int
    has_gpu: bool
    explanation: list[str]


class ReserveDoc(TypedDict):
    """Everything besides the weights: total = KV + compute + output + runtime; overhead = total - KV."""

    total_bytes: int
    kv_cache_bytes: int | None
    overhead_bytes: int | None
    compute_bytes: int | None
    output_bytes: int | None
    runtime_bytes: int | None
    ctx: int
    source: ReserveSource
    detail: str


class DeviceMemoryDoc(TypedDict):
    device: str  # "gpu" (the GPUs together) or "cpu"
    bytes: int


class MemoryDoc(TypedDict):
    """A candidate's memory: total = weights (the file, once) + KV + compute + output + runtime."""

    weights_bytes: int
    repack_bytes: int
    kv_cache_bytes: int | None
    compute_bytes: int | None
    output_bytes: int | None
    runtime_bytes: int | None
    total_bytes: int
    devices: list[DeviceMemoryDoc]


class SpeedDoc(TypedDict):
    """Estimated speed: generation bound by memory bandwidth; prompt speed has no sourced basis yet (null)."""

    generation_tokens_per_second: float
    prompt_tokens_per_second: float | None
    bound_by: str
    basis: str
    source: str


class DecisionDoc(TypedDict):
    mode: str
    min_speed: float
    quality_floor: str | None
    rule: str


class RunnerDoc(TypedDict):
    """The llama-server settings the estimate assumes (and the printed command sets where not default)."""

    parallel: int
    kv_unified: bool
    flash_attn: FlashAttn
    ubatch: int
    cache_type_k: str
    cache_type_v: str


# --- documents ------------------------------------------------------------------------------------------


class ErrorDoc(TypedDict):
    code: str
    message: str
    hint: str | None
    details: dict[str, Any] | None


class ErrorDocument(TypedDict):
    schema_version: SchemaVersion
    error: ErrorDoc


class ProbeDocument(HardwareDoc):
    schema_version: SchemaVersion


class ListQuantDoc(TypedDict):
    quant: str
    known: bool
    family: Family | None
    bpw: float | None
    effective_bpw: float | None  # this file's size over the parameter count read from the header
    variant_of: str | None
    loadable: bool | None
    size_bytes: int
    files: list[FileDoc]
    shards: int
    complete: bool
    split: SplitStyle | None
    needs_concatenation: bool
    imatrix: bool
    quality_loss: float | None
    quality_source: str | None


class OtherFileDoc(TypedDict):
    path: str
    kind: OtherKind
    size_bytes: int


class ListDocument(TypedDict):
    schema_version: SchemaVersion
    repo: str
    revision: str
    cached: bool
    gated: bool
    quants: list[ListQuantDoc]
    other_files: list[OtherFileDoc]
    model: ModelDoc | None
    model_source: str


class CandidateDoc(TypedDict):
    quant: str
    family: Family | None
    size_bytes: int
    files: list[str]
    eligible: bool
    fits: bool
    placement: Placement | None
    verdict: Verdict
    gpu_layers: int | None
    quality_loss: float | None
    quality_source: str | None
    reasons: list[ReasonDoc]
    memory: MemoryDoc | None
    speed: SpeedDoc | None
    cpu_moe_layers: int | None
    tensor_split: list[float] | None
    below_quality_floor: bool


class PickDoc(CandidateDoc):
    mode: BudgetMode
    command: str


class HitDoc(TypedDict):
    repo: str
    author: str
    downloads: int
    last_modified: str | None
    parameters: int | None


class ComparedDoc(TypedDict):
    repo: str
    quant: str | None
    generation_tokens_per_second: float | None
    quality_loss: float | None
    note: str


class DiscoveryDoc(TypedDict):
    """REPO had no GGUF files: its quantizations (the Hub's base_model tag), the uploaders compared, the choice."""

    base: str
    found: list[HitDoc]
    compared: list[ComparedDoc]
    chosen: str
    why: str
    cached: bool


class SearchHitDoc(HitDoc):
    est_q4_k_m_bytes: int | None
    verdict: str | None


class SearchDocument(TypedDict):
    schema_version: SchemaVersion
    query: str
    cached: bool
    budget: BudgetDoc
    repos: list[SearchHitDoc]


class HostDoc(TypedDict):
    name: str  # "head", or the worker's HOST:PORT
    role: Literal["head", "worker"]
    source: str
    memory_bytes: int
    bandwidth_gbps: float | None


class DeviceShareDoc(TypedDict):
    device: str
    host: str
    bytes: int
    layers: int


class NetworkDoc(TypedDict):
    gbit_per_second: float
    latency_ms: float
    seconds_per_token: float
    limits_speed: bool


class ClusterDoc(TypedDict):
    """Several machines: the hosts, where the pick's memory and layers go, the network, and the workers' lines."""

    hosts: list[HostDoc]
    devices: list[DeviceShareDoc]
    network: NetworkDoc
    worker_commands: list[str]
    warning: str


class RecommendDocument(TypedDict):
    schema_version: SchemaVersion
    repo: str
    revision: str
    hardware: HardwareDoc
    budget: BudgetDoc
    reserve: ReserveDoc
    runner: RunnerDoc
    decision: DecisionDoc
    discovery: DiscoveryDoc | None
    cluster: ClusterDoc | None
    model: ModelDoc | None
    model_source: str
    mode: BudgetMode
    pick: PickDoc
    runners_up: list[str]
    candidates: list[CandidateDoc]
    notes: list[ReasonDoc]


class PlanRowDoc(TypedDict):
    quant: str
    est_size_bytes: int
    placement: Placement | None
    gpu_layers: int | None
    cpu_moe_layers: int | None
    generation_tokens_per_second: float | None
    reasons: list[ReasonDoc]


class SizePlanDoc(TypedDict):
    label: str
    params_billions: float
    reference_shape: str
    reserve_bytes: int
    pick: PlanRowDoc | None
    speed: PlanRowDoc | None
    quality: PlanRowDoc | None


class PlanDocument(TypedDict):
    """`recommend` without a repo: the best quant type per model size."""

    schema_version: SchemaVersion
    hardware: HardwareDoc
    budget: BudgetDoc
    ctx: int
    decision: DecisionDoc
    best: str | None
    sizes: list[SizePlanDoc]
    note: str


class GetFileDoc(TypedDict):
    repo_path: str
    path: str
    size_bytes: int
    sha256: str | None
    status: FileStatus
    part_bytes: int


class TransferDoc(TypedDict):
    """What the download did: bytes fetched this run, wall seconds, connections, CPU seconds hashing."""

    bytes_fetched: int
    seconds: float
    connections: int
    segmented: bool
    hash_seconds: float


class HandoffDoc(TypedDict):
    """--for ollama|lmstudio: what was written (a Modelfile, or links to the cached files) and what to run."""

    runner: str
    written: list[str]
    commands: list[str]
    notes: list[str]


class GetDocument(TypedDict):
    schema_version: SchemaVersion
    repo: str
    revision: str
    quant: str
    destination: str
    layout: Layout
    dry_run: bool
    files: list[GetFileDoc]
    model_path: str
    mmproj_path: str | None
    bytes_to_download: int
    free_bytes: int | None
    command: str
    transfer: TransferDoc | None
    handoff: HandoffDoc | None
    notes: list[str]


class FigureDoc(TypedDict):
    value: float
    source: str
    note: str | None


class RankDoc(TypedDict):
    loss: float
    scale: str
    source: str
    estimated: bool


class NoteDoc(TypedDict):
    text: str
    source: str


class CatalogQuantDoc(TypedDict):
    name: str
    family: Family
    bpw: float
    effective_bpw: float | None
    bpw_source: str
    aliases: list[str]
    variant_of: str | None
    description: str | None
    loadable: bool
    auto_pick: bool
    quality: dict[str, FigureDoc]
    rank: RankDoc
    cpu_repack: list[str]
    gpu_missing: list[str]
    notes: list[NoteDoc]


class ScaleDoc(TypedDict):
    description: str
    source: str


class PrefixDoc(TypedDict):
    prefix: str
    description: str
    source: str


class CatalogDocument(TypedDict):
    schema_version: SchemaVersion
    catalog: str
    quants: list[CatalogQuantDoc]
    prefix_variants: list[PrefixDoc]
    sources: dict[str, str]
    quality_scales: dict[str, ScaleDoc]


# The document each command prints under --json (recommend without a repo prints PlanDocument).
DOCUMENTS: dict[str, type[Any]] = {
    "probe": ProbeDocument,
    "list": ListDocument,
    "recommend": RecommendDocument,
    "plan": PlanDocument,
    "get": GetDocument,
    "catalog": CatalogDocument,
    "search": SearchDocument,
    "error": ErrorDocument,
}


# --- JSON Schema from the types -------------------------------------------------------------------------


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of DOCUMENTS[name]: every key required, none extra."""
    document = DOCUMENTS[name]
    definitions: dict[str, dict[str, Any]] = {}
    root = _object_schema(document, definitions)
    definitions.pop(document.__name__, None)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://quantpick.invalid/schema/{name}.json",
        "title": f"quantpick {name} --json",
        **root,
    }
    if definitions:
        schema["$defs"] = dict(sorted(definitions.items()))
    return schema


def _object_schema(typed_dict: type[Any], definitions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    hints = get_type_hints(typed_dict)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {key: _schema(value, definitions) for key, value in hints.items()},
        "required": list(hints),
        "additionalProperties": False,
    }
    if typed_dict.__doc__ and typed_dict.__doc__ != TypedDict.__doc__:
        schema["description"] = typed_dict.__doc__.strip()
    return schema


def _schema(annotation: Any, definitions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if typing.is_typeddict(annotation):
        name = annotation.__name__
        if name not in definitions:
            definitions[name] = {}  # a placeholder first: recursive types terminate
            definitions[name] = _object_schema(annotation, definitions)
        return {"$ref": f"#/$defs/{name}"}
    origin = get_origin(annotation)
    if origin is Literal:
        return {"enum": list(get_args(annotation))}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema(arg, definitions) for arg in get_args(annotation)]}
    if origin is list:
        (item,) = get_args(annotation)
        return {"type": "array", "items": _schema(item, definitions)}
    if origin is dict:
        _key, value = get_args(annotation)
        return {"type": "object", "additionalProperties": _schema(value, definitions)}
    simple = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}
    if annotation in simple:
        return {"type": simple[annotation]}
    if annotation is Any:
        return {}
    raise TypeError(f"no JSON Schema for {annotation!r}")


def property_names(name: str) -> set[str]:
    """Every property name anywhere in a document's schema (for checking the README against it)."""
    schema = json_schema(name)
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                found.update(properties)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


# --- builders -------------------------------------------------------------------------------------------

if typing.TYPE_CHECKING:
    from quantpick.catalog import Catalog, QuantType
    from quantpick.download import DownloadPlan
    from quantpick.gguf import ModelShape
    from quantpick.hardware import Hardware
    from quantpick.hub import RepoHit
    from quantpick.memory import Reserve, RunnerSettings
    from quantpick.naming import OtherFile, QuantGroup
    from quantpick.rules import Budget, Candidate, Decision, MemoryUse, Reason, SizePlan
    from quantpick.service import Discovery, GetPlan, RepoRecommendation, RepoView, SearchResult, SizesPlan
    from quantpick.speed import SpeedEstimate


def error_document(code: str, message: str, hint: str | None, details: dict[str, Any] | None) -> ErrorDocument:
    return {
        "schema_version": SCHEMA_VERSION,
        "error": {"code": code, "message": message, "hint": hint, "details": details},
    }


def hardware_doc(hw: Hardware) -> HardwareDoc:
    return {
        "ram": cast(RamDoc, asdict(hw.ram)),
        "gpus": [cast(GpuDoc, asdict(g)) for g in hw.gpus],
        "cpu": cast(CpuDoc, asdict(hw.cpu)),
        "backend": hw.backend,
        "backend_source": hw.backend_source,
        "warnings": list(hw.warnings),
        "source": hw.source,
    }


def probe_document(hw: Hardware) -> ProbeDocument:
    return {"schema_version": SCHEMA_VERSION, **hardware_doc(hw)}


def model_doc(shape: ModelShape | None) -> ModelDoc | None:
    return cast(ModelDoc, shape.to_dict()) if shape is not None else None


def _reasons(reasons: list[Reason]) -> list[ReasonDoc]:
    return [{"code": r.code, "text": r.text} for r in reasons]


def list_quant_doc(group: QuantGroup, catalog: Catalog, shape: ModelShape | None = None) -> ListQuantDoc:
    from quantpick.speed import parameter_count

    quant = group.quant
    rank = catalog.rank_figure(quant) if quant else None
    effective = None
    if shape is not None and group.size_bytes:
        bpw = (quant.bpw_effective or quant.bpw_nominal) if quant else None
        params = parameter_count(shape, group.size_bytes, bpw)
        effective = round(group.size_bytes * 8 / params, 2) if params > 0 else None
    return {
        "quant": group.label,
        "known": quant is not None,
        "family": quant.family if quant else None,
        "bpw": quant.bpw_nominal if quant else None,
        "effective_bpw": effective,
        "variant_of": quant.base if quant else None,
        "loadable": quant.loadable if quant else None,
        "size_bytes": group.size_bytes,
        "files": [{"path": f.path, "size_bytes": f.size_bytes, "sha256": f.sha256} for f in group.files],
        "shards": group.shard_total,
        "complete": group.complete,
        "split": group.split_style,
        "needs_concatenation": group.split_style == "concat",
        "imatrix": group.imatrix_marker,
        "quality_loss": rank.loss if rank else None,
        "quality_source": rank.provenance if rank else None,
    }


def other_file_doc(other: OtherFile) -> OtherFileDoc:
    return {"path": other.path, "kind": other.kind, "size_bytes": other.size_bytes}


def budget_doc(budget: Budget) -> BudgetDoc:
    return {
        "speed_bytes": budget.speed_bytes,
        "quality_bytes": budget.quality_bytes,
        "usable_ram_bytes": budget.usable_ram_bytes,
        "has_gpu": budget.has_gpu,
        "explanation": list(budget.explanation),
    }


def reserve_doc(reserve: Reserve) -> ReserveDoc:
    return {
        "total_bytes": reserve.total_bytes,
        "kv_cache_bytes": reserve.kv_cache_bytes,
        "overhead_bytes": reserve.overhead_bytes,
        "compute_bytes": reserve.compute_bytes,
        "output_bytes": reserve.output_bytes,
        "runtime_bytes": reserve.runtime_bytes,
        "ctx": reserve.ctx,
        "source": reserve.source,
        "detail": reserve.detail,
    }


def candidate_doc(cand: Candidate) -> CandidateDoc:
    return {
        "quant": cand.label,
        "family": cand.quant.family if cand.quant else None,
        "size_bytes": cand.size_bytes,
        "files": cand.files,
        "eligible": cand.eligible,
        "fits": cand.fits,
        "placement": cand.placement,
        "verdict": cand.verdict,
        "gpu_layers": cand.gpu_layers,
        "quality_loss": cand.loss,
        "quality_source": cand.loss_source,
        "reasons": _reasons(cand.reasons),
        "memory": memory_doc(cand.memory) if cand.memory is not None else None,
        "speed": speed_doc(cand.speed) if cand.speed is not None else None,
        "cpu_moe_layers": cand.cpu_moe_layers,
        "tensor_split": list(cand.tensor_split) if cand.tensor_split is not None else None,
        "below_quality_floor": cand.below_floor,
    }


def speed_doc(speed: SpeedEstimate) -> SpeedDoc:
    return {
        "generation_tokens_per_second": round(speed.generation_tokens_per_second, 2),
        "prompt_tokens_per_second": speed.prompt_tokens_per_second,
        "bound_by": speed.bound_by,
        "basis": speed.basis,
        "source": speed.source,
    }


def memory_doc(memory: MemoryUse) -> MemoryDoc:
    return {
        "weights_bytes": memory.weights_bytes,
        "repack_bytes": memory.repack_bytes,
        "kv_cache_bytes": memory.kv_cache_bytes,
        "compute_bytes": memory.compute_bytes,
        "output_bytes": memory.output_bytes,
        "runtime_bytes": memory.runtime_bytes,
        "total_bytes": memory.total_bytes,
        "devices": [{"device": device, "bytes": size} for device, size in memory.devices],
    }


def cluster_doc(result: RepoRecommendation) -> ClusterDoc | None:
    from quantpick.cluster import TRUST_WARNING, rpc_addresses, worker_commands
    from quantpick.rules import device_shares

    hw, rec = result.hardware, result.recommendation
    addresses = rpc_addresses(hw)
    if not addresses:
        return None
    workers = [g for g in hw.gpus if g.rpc]
    local = [g for g in hw.gpus if not g.rpc]
    hosts: list[HostDoc] = [
        {
            "name": "head",
            "role": "head",
            "source": hw.source,
            "memory_bytes": sum(g.budget_bytes or 0 for g in local) + hw.usable_ram_bytes(),
            "bandwidth_gbps": hw.ram.bandwidth_gbps,
        }
    ]
    hosts += [
        {
            "name": g.rpc or g.name,
            "role": "worker",
            "source": g.source,
            "memory_bytes": g.budget_bytes or 0,
            "bandwidth_gbps": g.bandwidth_gbps,
        }
        for g in workers
    ]
    shares = device_shares(rec.pick, hw, rec.reserve, result.view.shape, result.options.runner)
    network = result.options.network
    embd = (result.view.shape.embedding_length if result.view.shape is not None else None) or 4096
    seconds = network.seconds_per_token(len(workers), embd)
    speed = rec.pick.speed
    return {
        "hosts": hosts,
        "devices": [{"device": d.device, "host": d.host, "bytes": d.bytes, "layers": d.layers} for d in shares],
        "network": {
            "gbit_per_second": network.gbit_per_second,
            "latency_ms": network.latency_ms,
            "seconds_per_token": round(seconds, 6),
            "limits_speed": speed is not None and speed.bound_by.startswith("network"),
        },
        "worker_commands": worker_commands(addresses),
        "warning": TRUST_WARNING,
    }


def hit_doc(hit: RepoHit) -> HitDoc:
    return {
        "repo": hit.repo,
        "author": hit.author,
        "downloads": hit.downloads,
        "last_modified": hit.last_modified,
        "parameters": hit.parameters,
    }


def discovery_doc(discovery: Discovery) -> DiscoveryDoc:
    return {
        "base": discovery.base,
        "found": [hit_doc(h) for h in discovery.found],
        "compared": [
            {
                "repo": c.repo,
                "quant": c.quant,
                "generation_tokens_per_second": round(c.tokens_per_second, 2) if c.tokens_per_second else None,
                "quality_loss": c.quality_loss,
                "note": c.note,
            }
            for c in discovery.compared
        ],
        "chosen": discovery.chosen,
        "why": discovery.why,
        "cached": discovery.cached,
    }


def search_document(result: SearchResult) -> SearchDocument:
    return {
        "schema_version": SCHEMA_VERSION,
        "query": result.text,
        "cached": result.cached,
        "budget": budget_doc(result.budget),
        "repos": [
            {**hit_doc(hit), "est_q4_k_m_bytes": size, "verdict": verdict}
            for hit, (size, verdict) in zip(result.hits, result.estimates, strict=True)
        ],
    }


def decision_doc(decision: Decision | None) -> DecisionDoc:
    if decision is None:
        return {"mode": "auto", "min_speed": 0.0, "quality_floor": None, "rule": ""}
    return {
        "mode": decision.mode,
        "min_speed": decision.min_speed,
        "quality_floor": decision.quality_floor,
        "rule": decision.rule,
    }


def runner_doc(settings: RunnerSettings) -> RunnerDoc:
    return {
        "parallel": settings.slots,
        "kv_unified": settings.unified,
        "flash_attn": settings.flash_attn,
        "ubatch": settings.ubatch,
        "cache_type_k": settings.cache_type_k,
        "cache_type_v": settings.cache_type_v,
    }


def pick_doc(cand: Candidate, mode: BudgetMode, command: str) -> PickDoc:
    return {**candidate_doc(cand), "mode": mode, "command": command}


def plan_row_doc(cand: Candidate | None) -> PlanRowDoc | None:
    if cand is None:
        return None
    return {
        "quant": cand.label,
        "est_size_bytes": cand.size_bytes,
        "placement": cand.placement,
        "gpu_layers": cand.gpu_layers,
        "cpu_moe_layers": cand.cpu_moe_layers,
        "generation_tokens_per_second": (
            round(cand.speed.generation_tokens_per_second, 2) if cand.speed is not None else None
        ),
        "reasons": _reasons(cand.reasons),
    }


def size_plan_doc(plan: SizePlan) -> SizePlanDoc:
    return {
        "label": plan.label,
        "params_billions": plan.params_billions,
        "reference_shape": plan.reference_shape,
        "reserve_bytes": plan.reserve.total_bytes,
        "pick": plan_row_doc(plan.pick),
        "speed": plan_row_doc(plan.speed),
        "quality": plan_row_doc(plan.quality),
    }


def get_file_docs(plan: DownloadPlan) -> list[GetFileDoc]:
    return [
        {
            "repo_path": f.repo_path,
            "path": str(f.path),
            "size_bytes": f.size_bytes,
            "sha256": f.sha256,
            "status": f.status,
            "part_bytes": f.part_bytes,
        }
        for f in plan.files
    ]


def catalog_quant_doc(catalog: Catalog, quant: QuantType) -> CatalogQuantDoc:
    rank = catalog.rank_figure(quant)
    return {
        "name": quant.name,
        "family": quant.family,
        "bpw": quant.bpw_nominal,
        "effective_bpw": quant.bpw_effective,
        "bpw_source": quant.bpw_source,
        "aliases": list(quant.aliases),
        "variant_of": quant.base,
        "description": quant.description,
        "loadable": quant.loadable,
        "auto_pick": quant.loadable and not quant.is_float,
        "quality": {k: {"value": f.value, "source": f.source, "note": f.note} for k, f in quant.quality.items()},
        "rank": {"loss": rank.loss, "scale": rank.scale, "source": rank.source, "estimated": rank.estimated},
        "cpu_repack": list(quant.cpu_repack),
        "gpu_missing": list(quant.gpu_missing),
        "notes": [{"text": n.text, "source": n.source} for n in quant.notes],
    }


def catalog_document(catalog: Catalog) -> CatalogDocument:
    return {
        "schema_version": SCHEMA_VERSION,
        "catalog": catalog.path,
        "quants": [catalog_quant_doc(catalog, q) for q in catalog.types.values()],
        "prefix_variants": [
            {"prefix": prefix, "description": description, "source": source}
            for prefix, (description, source) in catalog.prefix_variants.items()
        ],
        "sources": dict(catalog.sources),
        "quality_scales": {
            k: {"description": v["description"], "source": v["source"]} for k, v in catalog.scales.items()
        },
    }


def list_document(view: RepoView) -> ListDocument:
    return {
        "schema_version": SCHEMA_VERSION,
        "repo": view.repo,
        "revision": view.listing.revision,
        "cached": view.listing.cached,
        "gated": view.listing.gated,
        "quants": [list_quant_doc(g, view.catalog, view.shape) for g in view.parsed.quants],
        "other_files": [other_file_doc(o) for o in view.parsed.other_files],
        "model": model_doc(view.shape),
        "model_source": view.shape_status,
    }


def recommend_document(result: RepoRecommendation) -> RecommendDocument:
    rec = result.recommendation
    return {
        "schema_version": SCHEMA_VERSION,
        "repo": result.view.repo,
        "revision": result.view.listing.revision,
        "hardware": hardware_doc(result.hardware),
        "budget": budget_doc(rec.budget),
        "reserve": reserve_doc(rec.reserve),
        "runner": runner_doc(result.options.runner),
        "decision": decision_doc(rec.decision),
        "discovery": discovery_doc(result.discovery) if result.discovery is not None else None,
        "cluster": cluster_doc(result),
        "model": model_doc(result.view.shape),
        "model_source": result.view.shape_status,
        "mode": rec.mode,
        "pick": pick_doc(rec.pick, rec.mode, result.command),
        "runners_up": [c.label for c in rec.runners_up],
        "candidates": [candidate_doc(c) for c in rec.candidates],
        "notes": _reasons(rec.notes),
    }


def plan_document(result: SizesPlan) -> PlanDocument:
    return {
        "schema_version": SCHEMA_VERSION,
        "hardware": hardware_doc(result.hardware),
        "budget": budget_doc(result.budget),
        "ctx": result.plans[0].reserve.ctx if result.plans else result.options.ctx or 8192,
        "decision": decision_doc(result.decision),
        "best": result.best.label if result.best is not None else None,
        "sizes": [size_plan_doc(p) for p in result.plans],
        "note": "sizes estimated from the catalog's effective bpw; pass a REPO for real file sizes",
    }


def get_document(plan: GetPlan, *, dry_run: bool) -> GetDocument:
    download = plan.download
    return {
        "schema_version": SCHEMA_VERSION,
        "repo": plan.view.repo,
        "revision": plan.view.listing.revision,
        "quant": plan.group.label,
        "destination": str(download.destination),
        "layout": download.layout,
        "dry_run": dry_run,
        "files": get_file_docs(download),
        "model_path": str(download.model_path),
        "mmproj_path": str(download.files[-1].path) if plan.mmproj is not None else None,
        "bytes_to_download": download.bytes_to_fetch,
        "free_bytes": download.free_bytes,
        "command": plan.command,
        "transfer": None
        if dry_run
        else {
            "bytes_fetched": download.stats.bytes_fetched,
            "seconds": round(download.stats.seconds, 3),
            "connections": download.stats.connections,
            "segmented": download.stats.segmented,
            "hash_seconds": round(download.stats.hash_seconds, 3),
        },
        "handoff": None
        if plan.handoff is None
        else {
            "runner": plan.handoff.runner,
            "written": [str(path) for path in plan.handoff.written],
            "commands": list(plan.handoff.commands),
            "notes": list(plan.handoff.notes),
        },
        "notes": list(download.notes),
    }
