"""The hardware probe on machines built under tmp_path: fake /proc, /sys, cgroups, NVML and sysctl."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fake_nvml import RTX_3060, RTX_4090, make_fake_nvml
from quantpick.hardware import Ram
from quantpick.probe import guess_backend, probe_hardware
from quantpick.probe.apple import apple_gpu_budget
from quantpick.probe.cpu import parse_cpuinfo, parse_size, probe_cpu, read_caches, weights_cache
from quantpick.probe.drm import probe_drm
from quantpick.probe.memory_speed import MeasureFailed, MemorySpeed, cached_size, measure, ram_total
from quantpick.probe.nvidia import probe_nvidia
from quantpick.probe.ram import probe_ram, read_cgroup_limit

GiB = 1024**3
MiB = 1024**2
RAM = Ram(64 * GiB, 60 * GiB, "test")
MEMINFO = "MemTotal:       65536000 kB\nMemFree:        1000000 kB\nMemAvailable:   60000000 kB\nCached: 100 kB\n"


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- RAM and cgroups --------------------------------------------------------------------------------------


def test_meminfo_without_cgroup_limit(tmp_path):
    write(tmp_path, "proc/meminfo", MEMINFO)
    ram = probe_ram(tmp_path, [])
    assert (ram.total_bytes, ram.available_bytes) == (65536000 * 1024, 60000000 * 1024)
    assert ram.source == "/proc/meminfo" and ram.cgroup_limit_bytes is None


def test_cgroup_v2_limit_in_a_parent_and_memory_high(tmp_path):
    write(tmp_path, "proc/meminfo", MEMINFO)
    write(tmp_path, "proc/self/cgroup", "0::/user.slice/app.scope\n")
    write(tmp_path, "proc/self/mountinfo", "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n")
    write(tmp_path, "sys/fs/cgroup/user.slice/app.scope/memory.max", "max\n")
    write(tmp_path, "sys/fs/cgroup/user.slice/app.scope/memory.high", "max\n")
    write(tmp_path, "sys/fs/cgroup/user.slice/memory.max", str(16 * GiB))
    write(tmp_path, "sys/fs/cgroup/user.slice/memory.high", str(12 * GiB))
    write(tmp_path, "sys/fs/cgroup/user.slice/app.scope/memory.current", str(2 * GiB))
    write(tmp_path, "sys/fs/cgroup/user.slice/app.scope/memory.stat", f"anon 5\ninactive_file {GiB // 2}\n")
    ram = probe_ram(tmp_path, [])
    assert ram.total_bytes == 12 * GiB and ram.available_bytes == 12 * GiB - (2 * GiB - GiB // 2)
    assert ram.source == "cgroup /sys/fs/cgroup/user.slice/memory.high"
    assert ram.host_total_bytes == 65536000 * 1024


def test_cgroup_v2_namespace_root(tmp_path):
    write(tmp_path, "proc/self/cgroup", "0::/\n")
    write(tmp_path, "proc/self/mountinfo", "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    write(tmp_path, "sys/fs/cgroup/memory.max", str(4 * GiB))
    assert read_cgroup_limit(tmp_path) == (4 * GiB, "/sys/fs/cgroup/memory.max")


def test_cgroup_v1_docker_without_namespace(tmp_path):
    write(tmp_path, "proc/meminfo", MEMINFO)
    write(tmp_path, "proc/self/cgroup", "12:memory:/docker/abc123\n11:cpu,cpuacct:/docker/abc123\n0::/\n")
    write(
        tmp_path,
        "proc/self/mountinfo",
        "40 30 0:36 /docker/abc123 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
        "30 1 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
    )
    write(tmp_path, "sys/fs/cgroup/memory/memory.limit_in_bytes", str(8 * GiB))
    write(tmp_path, "sys/fs/cgroup/memory/memory.usage_in_bytes", str(3 * GiB))
    write(tmp_path, "sys/fs/cgroup/memory/memory.stat", f"cache 100\ntotal_inactive_file {GiB}\n")
    ram = probe_ram(tmp_path, [])
    assert ram.total_bytes == 8 * GiB and ram.cgroup_limit_bytes == 8 * GiB
    assert ram.available_bytes == 6 * GiB  # limit - (usage - inactive page cache)


def test_cgroup_v1_unlimited_sentinel_is_no_limit(tmp_path):
    write(tmp_path, "proc/meminfo", MEMINFO)
    write(tmp_path, "proc/self/cgroup", "9:memory:/user.slice\n0::/user.slice\n")
    write(
        tmp_path,
        "proc/self/mountinfo",
        "40 30 0:36 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "30 1 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
    )
    write(tmp_path, "sys/fs/cgroup/memory/user.slice/memory.limit_in_bytes", "9223372036854771712\n")
    write(tmp_path, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")
    ram = probe_ram(tmp_path, [])
    assert ram.total_bytes == 65536000 * 1024 and ram.source == "/proc/meminfo"


def test_this_machine_matches_proc_meminfo():
    ram = probe_ram(Path("/"), [])
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total = int(meminfo["MemTotal"].split()[0]) * 1024
    assert ram.host_total_bytes == total
    assert ram.total_bytes == min(total, ram.cgroup_limit_bytes or total)


# --- NVIDIA ------------------------------------------------------------------------------------------------


def test_one_nvidia_gpu_v2_memory_and_bandwidth():
    nvml = make_fake_nvml([RTX_4090])
    warnings = []
    (gpu,) = probe_nvidia(nvml, RAM, warnings, env={})
    assert gpu.name == "NVIDIA GeForce RTX 4090" and gpu.total_bytes == 24564 * MiB
    assert gpu.reserved_bytes == 330 * MiB and gpu.budget_bytes == (24564 - 330) * MiB
    assert gpu.free_bytes == 24000 * MiB and gpu.compute_capability == "8.9"
    assert gpu.bandwidth_gbps == pytest.approx(1008.1, abs=0.1)
    assert gpu.driver_version == "580.95.05" and gpu.source.startswith("nvml v2")
    assert nvml.calls == ["init", "shutdown"] and not warnings


def test_two_gpus_and_cuda_visible_devices():
    nvml = make_fake_nvml([RTX_4090, RTX_3060])
    assert [g.name for g in probe_nvidia(nvml, RAM, [], env={})] == [RTX_4090["name"], RTX_3060["name"]]
    assert [g.name for g in probe_nvidia(nvml, RAM, [], env={"CUDA_VISIBLE_DEVICES": "1"})] == [RTX_3060["name"]]
    assert [g.name for g in probe_nvidia(nvml, RAM, [], env={"CUDA_VISIBLE_DEVICES": "1,0"})] == [
        RTX_3060["name"],
        RTX_4090["name"],
    ]
    assert [g.name for g in probe_nvidia(nvml, RAM, [], env={"CUDA_VISIBLE_DEVICES": "GPU-aaaa"})] == [RTX_4090["name"]]
    assert probe_nvidia(nvml, RAM, [], env={"CUDA_VISIBLE_DEVICES": ""}) == []
    warnings = []
    assert [g.name for g in probe_nvidia(nvml, RAM, warnings, env={"CUDA_VISIBLE_DEVICES": "0,7,1"})] == [
        RTX_4090["name"]
    ]
    assert "7" in warnings[0]


def test_mig_instances_are_the_usable_units():
    a100 = {
        "name": "NVIDIA A100-SXM4-80GB",
        "total": 80 * GiB,
        "uuid": "GPU-a100",
        "cc": (8, 0),
        "mem_clock": 1593,
        "bus_width": 5120,
        "migs": [
            {"name": "3g.40gb", "total": 40 * GiB, "free": 39 * GiB, "uuid": "MIG-one"},
            None,
            {"name": "1g.10gb", "total": 10 * GiB, "uuid": "MIG-two"},
        ],
    }
    gpus = probe_nvidia(make_fake_nvml([a100]), RAM, [], env={})
    assert [(g.name, g.total_bytes, g.mig) for g in gpus] == [
        ("NVIDIA A100-SXM4-80GB MIG 3g.40gb", 40 * GiB, True),
        ("NVIDIA A100-SXM4-80GB MIG 1g.10gb", 10 * GiB, True),
    ]
    assert gpus[0].bandwidth_gbps == pytest.approx(2039.0 / 2, rel=0.01)  # half the memory slices, half the bandwidth
    visible = probe_nvidia(make_fake_nvml([a100]), RAM, [], env={"CUDA_VISIBLE_DEVICES": "MIG-two"})
    assert [g.uuid for g in visible] == ["MIG-two"]


def test_unified_memory_gpu_is_not_counted_twice():
    gb10 = {"name": "NVIDIA GB10", "total": 0, "not_supported": True, "cc": (12, 1), "uuid": "GPU-gb10"}
    (gpu,) = probe_nvidia(make_fake_nvml([gb10]), RAM, [], env={})
    assert gpu.unified and gpu.total_bytes is None and gpu.budget_bytes is None
    assert "unified" in gpu.source


def test_old_driver_without_v2_memory_call_falls_back_to_v1():
    (gpu,) = probe_nvidia(make_fake_nvml([RTX_3060], has_v2=False), RAM, [], env={})
    assert gpu.reserved_bytes is None and gpu.budget_bytes == RTX_3060["total"] and gpu.source == "nvml v1 (total)"


@pytest.mark.parametrize(
    ("code", "warned"),
    [
        ("NVML_ERROR_LIBRARY_NOT_FOUND", None),
        ("NVML_ERROR_DRIVER_NOT_LOADED", "kernel driver is not loaded"),
        ("NVML_ERROR_LIB_RM_VERSION_MISMATCH", "could not start"),
    ],
)
def test_nvml_failures_mean_no_gpu_and_at_most_one_warning(code, warned):
    import pynvml

    nvml = make_fake_nvml([RTX_4090], init_error=getattr(pynvml, code))
    warnings = []
    assert probe_nvidia(nvml, RAM, warnings, env={}) == []
    assert "shutdown" not in nvml.calls  # never shut down what did not start
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warned in warnings[0]


def test_missing_nvml_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    warnings = []
    assert probe_nvidia(None, RAM, warnings, env={}) == []
    assert "nvidia-ml-py is not installed" in warnings[0]


def test_query_failure_mid_enumeration_still_shuts_down():
    import pynvml

    nvml = make_fake_nvml([RTX_4090])
    nvml.nvmlDeviceGetCount = lambda: (_ for _ in ()).throw(pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST))
    warnings = []
    assert probe_nvidia(nvml, RAM, warnings, env={}) == []
    assert nvml.calls[-1] == "shutdown" and "query failed" in warnings[0]


# --- AMD, Intel, Apple ----------------------------------------------------------------------------------


def drm_card(root: Path, card: str, vendor: str, files: dict[str, str]) -> None:
    write(root, f"sys/class/drm/{card}/device/vendor", vendor + "\n")
    for name, value in files.items():
        write(root, f"sys/class/drm/{card}/device/{name}", value + "\n")
    (root / "sys/class/drm" / f"{card}-DP-1").mkdir(parents=True, exist_ok=True)


def test_amd_discrete(tmp_path):
    drm_card(
        tmp_path,
        "card1",
        "0x1002",
        {
            "mem_info_vram_total": str(24 * GiB),
            "mem_info_vram_used": str(GiB),
            "mem_info_vram_vendor": "samsung",
            "product_name": "Radeon RX 7900 XTX",
            "mem_info_vis_vram_total": str(256 * MiB),
        },
    )
    (gpu,) = probe_drm(tmp_path, [])
    assert (gpu.vendor, gpu.name, gpu.total_bytes, gpu.free_bytes, gpu.budget_bytes) == (
        "amd",
        "Radeon RX 7900 XTX",
        24 * GiB,
        23 * GiB,
        24 * GiB,
    )
    assert guess_backend([gpu], "Linux") == "rocm"


def test_amd_apu_carve_out_plus_gtt_shared_with_ram(tmp_path):
    drm_card(tmp_path, "card0", "0x1002", {"mem_info_vram_total": str(512 * MiB), "mem_info_gtt_total": str(96 * GiB)})
    (gpu,) = probe_drm(tmp_path, [])
    assert gpu.budget_bytes == 512 * MiB + 96 * GiB and gpu.shared_with_ram_bytes == 96 * GiB and gpu.unified
    assert guess_backend([gpu], "Linux") == "cpu"  # an iGPU is not a ROCm card by default


def test_intel_xe_tiles_and_numeric_card_order(tmp_path):
    drm_card(
        tmp_path,
        "card10",
        "0x8086",
        {"tile0/physical_vram_size_bytes": str(8 * GiB), "tile1/physical_vram_size_bytes": hex(8 * GiB)},
    )
    drm_card(tmp_path, "card2", "0x8086", {})  # an iGPU with no VRAM file: not reported
    drm_card(tmp_path, "card3", "0x1002", {"mem_info_vram_total": str(16 * GiB), "board_info": "x"})
    gpus = probe_drm(tmp_path, [])
    assert [(g.vendor, g.total_bytes) for g in gpus] == [("amd", 16 * GiB), ("intel", 16 * GiB)]


@pytest.mark.parametrize(
    ("total_gib", "metal", "wired", "expected", "source"),
    [
        (16, None, "0", 16 * GiB * 2 // 3, "2/3"),
        (128, None, "0", 96 * GiB, "3/4"),
        (128, 115 * GiB, "0", 115 * GiB, "Metal"),
        (16, None, "12000", 12000 * MiB, "iogpu.wired_limit_mb"),
    ],
)
def test_apple_gpu_budget(total_gib, metal, wired, expected, source):
    budget, where = apple_gpu_budget(total_gib * GiB, run={"iogpu.wired_limit_mb": wired}.get, metal=lambda: metal)
    assert budget == pytest.approx(expected, abs=1) and source in where


@pytest.mark.parametrize("total_gib", [16, 128])
def test_apple_machine_end_to_end(tmp_path, total_gib):
    sysctl = {
        "hw.optional.arm64": "1",
        "hw.memsize": str(total_gib * GiB),
        "machdep.cpu.brand_string": "Apple M3 Max",
        "hw.optional.neon": "1",
        "hw.optional.arm.FEAT_DotProd": "1",
        "hw.optional.arm.FEAT_I8MM": "1",
        "hw.logicalcpu": "16",
        "hw.physicalcpu": "16",
        "iogpu.wired_limit_mb": "0",
    }
    hw = probe_hardware(root=tmp_path, system="Darwin", run=sysctl.get, metal=lambda: None, nvml=make_fake_nvml([]))
    (gpu,) = hw.gpus
    assert hw.backend == "metal" and gpu.unified and gpu.shared_with_ram_bytes == gpu.budget_bytes
    assert gpu.budget_bytes == (total_gib * GiB * 2 // 3 if total_gib == 16 else total_gib * GiB * 3 // 4)
    assert hw.cpu.flags["neon"] and hw.cpu.flags["i8mm"] and hw.cpu.logical_cores == 16


# --- CPU and the whole probe -----------------------------------------------------------------------------

X86 = """processor\t: 0
model name\t: AMD Ryzen 9 7950X
physical id\t: 0
core id\t: 0
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512_vnni

processor\t: 1
model name\t: AMD Ryzen 9 7950X
physical id\t: 0
core id\t: 0
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512_vnni
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm asimddp sve i8mm
CPU implementer\t: 0x41
"""


def test_cpu_flags_x86_and_arm():
    cpu = parse_cpuinfo(X86)
    assert cpu.model == "AMD Ryzen 9 7950X" and cpu.logical_cores == 2 and cpu.physical_cores == 1
    assert cpu.flags["avx2"] and cpu.flags["avx512_vnni"] and not cpu.flags["neon"] and not cpu.flags["amx"]
    arm = parse_cpuinfo(GRAVITON)
    assert arm.flags["neon"] and arm.flags["dotprod"] and arm.flags["i8mm"] and arm.flags["sve"]
    assert not arm.flags["avx2"]


def test_whole_probe_on_a_fake_linux_box(tmp_path):
    write(tmp_path, "proc/meminfo", MEMINFO)
    write(tmp_path, "proc/cpuinfo", X86)
    hw = probe_hardware(root=tmp_path, system="Linux", nvml=make_fake_nvml([RTX_4090]), env={})
    assert hw.backend == "cuda" and len(hw.gpus) == 1 and hw.cpu.flags["avx2"]
    data = json.loads(json.dumps(hw.to_dict()))
    assert data["gpus"][0]["total_bytes"] == RTX_4090["total"]


def test_probe_never_crashes_a_command(tmp_path):
    hw = probe_hardware(root=tmp_path / "empty", system="Linux", nvml=make_fake_nvml([]), env={})
    assert hw.ram.total_bytes > 0 and hw.gpus == [] and hw.backend == "cpu"


def test_probe_command_reads_the_fake_machine(cli):
    result = cli("probe", "--json")
    assert result.exit_code == 0
    data = result.json
    assert data["schema_version"] == 1 and data["backend"] == "cpu" and data["gpus"] == []
    assert data["ram"]["total_bytes"] == 32 * 1024**3 and data["cpu"]["model"] == "Fake CPU"


def test_the_real_probe_runs_here_whatever_the_machine_has():
    hw = probe_hardware()  # this machine: only that it works, never what it holds
    assert hw.ram.total_bytes > 0 and hw.backend in ("cuda", "rocm", "metal", "vulkan", "cpu")


FAKE_LIB = Path(__file__).parent / "fake_libnvidia_ml.c"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the fake libnvidia-ml")
def test_real_binding_against_a_fake_libnvidia_ml(tmp_path):
    """The real nvidia-ml-py ctypes code paths, loading a C library that plays a 2-GPU driver."""
    lib = tmp_path / "libnvidia-ml.so.1"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(FAKE_LIB)], check=True)
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "quantpick", "probe", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["backend"] == "cuda"
    assert [g["name"] for g in data["gpus"]] == ["Fake RTX 4090", "Fake GB10"]
    first, unified = data["gpus"]
    assert first["total_bytes"] == 24 * GiB and first["reserved_bytes"] == 512 * MiB
    assert first["budget_bytes"] == 24 * GiB - 512 * MiB and first["compute_capability"] == "8.9"
    assert first["bandwidth_gbps"] == pytest.approx(1008.1, abs=0.1) and first["driver_version"] == "580.00.fake"
    assert unified["unified"] and unified["total_bytes"] is None
    no_v2 = subprocess.run(
        [sys.executable, "-m", "quantpick", "probe", "--json"],
        env={**env, "FAKE_NVML_NO_V2": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(no_v2.stdout)["gpus"][0]["reserved_bytes"] is None
    driver = subprocess.run(
        [sys.executable, "-m", "quantpick", "probe", "--json"],
        env={**env, "FAKE_NVML_INIT_RC": "9"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    data = json.loads(driver.stdout)
    assert driver.returncode == 0 and data["gpus"] == [] and "driver is not loaded" in data["warnings"][0]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"schema_version": 1, "ram": {"total_bytes": "big"}}', "ram.total_bytes"),
        ('{"schema_version": 1, "ram": {"total_bytes": 1e999}}', "ram.total_bytes"),
        ('{"schema_version": 1, "ram": {"total_bytes": -5}}', "ram.total_bytes"),
        ('{"schema_version": 1, "ram": {"total_bytes": 8}, "backend": "tpu"}', "backend"),
        ('{"schema_version": 1, "ram": {"total_bytes": 8}, "gpus": [{"name": "x"}]}', "gpus[0].budget_bytes"),
        ('{"schema_version": 1, "ram": {"total_bytes": 8}, "gpus": [{"name": 3, "budget_bytes": 1}]}', "gpus[0].name"),
        ('{"schema_version": 1, "ram": {"total_bytes": 8}, "cpu": {"flags": {"avx2": "yes"}}}', "cpu.flags"),
        ('{"schema_version": 1, "ram": []}', "ram expected an object"),
        ("[" * 100000 + "]" * 100000, "not JSON"),
        ('{"schema_version": 2, "ram": {}}', "not a quantpick probe file"),
    ],
)
def test_a_bad_hardware_file_exits_2_naming_the_field(cli, tmp_path, content, words):
    path = tmp_path / "hw.json"
    path.write_text(content)
    result = cli("recommend", "--hardware", str(path), "--json")
    assert result.exit_code == 2, result
    error = result.json["error"]
    assert error["code"] == "hardware_file" and words in error["message"] and error["message"].startswith("--hardware")
    assert len(result.stderr.splitlines()) == 2 and "Traceback" not in result.stderr


def test_a_huge_hardware_file_is_not_read_whole(cli):
    result = cli("recommend", "--hardware", "/dev/zero", "--json")
    assert result.exit_code == 2 and "larger than" in result.json["error"]["message"]


# --- CPU caches and memory speed -------------------------------------------------------------------------


def write_cache(root, cpu: int, index: int, level: int, kind: str, size: str, shared: str) -> None:
    base = f"sys/devices/system/cpu/cpu{cpu}/cache/index{index}"
    for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
        write(root, f"{base}/{name}", f"{value}\n")


def two_core_caches(root) -> None:
    for cpu in (0, 1):
        write_cache(root, cpu, 0, 1, "Data", "48K", str(cpu))
        write_cache(root, cpu, 1, 1, "Instruction", "32K", str(cpu))
        write_cache(root, cpu, 2, 2, "Unified", "2048K", str(cpu))
        write_cache(root, cpu, 3, 3, "Unified", "36864K", "0-1")  # one L3, listed under each CPU


def test_caches_from_sysfs_count_each_instance_once(tmp_path):
    two_core_caches(tmp_path)
    assert read_caches(tmp_path) == {2: 4 * MiB, 3: 36 * MiB}
    assert weights_cache({2: 4 * MiB, 3: 36 * MiB}, guest=False) == (40 * MiB, "sysfs L2 + L3")


def test_a_virtual_machine_counts_only_its_l2s(tmp_path):
    write(tmp_path, "proc/cpuinfo", X86.replace("avx512_vnni", "avx512_vnni hypervisor"))
    two_core_caches(tmp_path)
    cpu = probe_cpu(tmp_path, system="Linux")
    assert cpu.has("hypervisor") and cpu.cache_bytes == 4 * MiB and "not counted" in (cpu.cache_source or "")


@pytest.mark.parametrize(
    ("text", "size"), [("2048K", 2 * MiB), ("36M", 36 * MiB), ("512", 512), ("", None), ("big", None), ("-4K", None)]
)
def test_cache_sizes_parse_or_are_ignored(text, size):
    assert parse_size(text) == size


def test_no_cache_files_means_no_cache_figure(tmp_path):
    write(tmp_path, "proc/cpuinfo", X86)
    cpu = probe_cpu(tmp_path, system="Linux")
    assert cpu.cache_bytes is None and cpu.cache_source is None


def test_the_cached_size_is_the_last_fast_size_of_an_unbroken_run():
    curve = [(16 * MiB, 50.0), (64 * MiB, 45.0), (128 * MiB, 30.0), (256 * MiB, 40.0)]
    assert cached_size(curve, 25.0) == 64 * MiB  # 256 MiB reads fast again (noise): not counted
    assert cached_size(curve, 40.0) is None


def test_the_ram_figure_reads_past_a_big_servers_cache():
    assert ram_total(2) == 1024 * MiB
    assert ram_total(96) == 96 * 32 * MiB  # 3 GiB: past a 96-core EPYC's 1152 MiB of L3


def test_memory_is_measured_by_processes_side_by_side():
    speed = measure(2, cache_sizes=(1 * MiB, 2 * MiB), ram_size=4 * MiB)
    assert speed.workers == 2 and [size for size, _ in speed.curve] == [1 * MiB, 2 * MiB]
    assert speed.ram_gbps > 0 and all(gbps > 0 for _, gbps in speed.curve)


def test_measured_figures_land_in_the_hardware_and_a_failure_is_a_warning(tmp_path):
    from quantpick import service

    write(tmp_path, "proc/meminfo", MEMINFO)
    write(tmp_path, "proc/cpuinfo", X86)
    hw = probe_hardware(root=tmp_path, system="Linux", nvml=make_fake_nvml([]), env={})
    asked = []

    def fake(workers):
        asked.append(workers)
        return MemorySpeed(31.5, 96 * MiB, workers, ((96 * MiB, 70.0),))

    measured = service.measure_memory(hw, fake)
    assert asked == [1]  # the physical cores llama.cpp uses
    assert measured.ram.bandwidth_gbps == 31.5 and "probe --measure" in (measured.ram.bandwidth_source or "")
    assert measured.cpu.cache_bytes == 96 * MiB

    def broken(workers):
        raise MeasureFailed("a measuring process stopped without reporting")

    again = service.measure_memory(
        probe_hardware(root=tmp_path, system="Linux", nvml=make_fake_nvml([]), env={}), broken
    )
    assert again.ram.bandwidth_gbps is None and any("could not measure" in w for w in again.warnings)


def test_probe_measure_saves_figures_that_recommend_reads_back(cli, tmp_path, monkeypatch):
    import quantpick.probe.memory_speed as memory_speed
    from quantpick.probe.saved import load_hardware_file

    monkeypatch.setattr(memory_speed, "measure", lambda workers: MemorySpeed(27.0, 128 * MiB, workers or 1, ()))
    result = cli("probe", "--measure", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ram"]["bandwidth_gbps"] == 27.0 and data["cpu"]["cache_bytes"] == 128 * MiB
    saved = tmp_path / "hw.json"
    saved.write_text(result.stdout)
    hw = load_hardware_file(str(saved))
    assert hw.cpu.cache_bytes == 128 * MiB and "probe --measure" in (hw.cpu.cache_source or "")
    assert "probe --measure" in (hw.ram.bandwidth_source or "")
    human = cli("probe", "--measure")
    assert "27 GB/s" in human.stdout and "128" in human.stdout
