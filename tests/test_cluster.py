"""Several machines through llama.cpp's RPC backend: parsing, devices, the network, and the plan."""

import json

import pytest

from conftest import GiB
from quantpick.cluster import Network, parse_rpc_spec, with_workers, worker_commands
from quantpick.errors import InvalidValue
from quantpick.hardware import Cpu, Hardware, Ram


def head(ram_gib: float = 16) -> Hardware:
    return Hardware(Ram(int(ram_gib * GiB), int(ram_gib * GiB), "test"), [], Cpu(), "cpu")


def test_worker_specs():
    worker = parse_rpc_spec("192.168.1.20:50052=24GiB@936")
    assert (worker.address, worker.memory_bytes, worker.bandwidth_gbps) == ("192.168.1.20:50052", 24 * GiB, 936.0)
    assert parse_rpc_spec("box:6000=12GiB").bandwidth_gbps is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("192.168.1.20:50052", "not a worker"),
        ("192.168.1.20=24GiB", "not a worker"),
        ("box:70000=24GiB", "port 70000 is out of range"),
        ("box:50052=24GiB@fast", "not a bandwidth"),
    ],
)
def test_bad_worker_specs(spec, message):
    with pytest.raises(InvalidValue) as caught:
        parse_rpc_spec(spec)
    assert message in caught.value.message and caught.value.field == "rpc"


def test_duplicate_workers_are_refused():
    worker = parse_rpc_spec("box:50052=24GiB")
    with pytest.raises(InvalidValue) as caught:
        with_workers(head(), [worker, worker])
    assert "named twice" in caught.value.message


def test_workers_come_first_as_llama_cpp_orders_devices():
    hw = with_workers(head(), [parse_rpc_spec("a:1=8GiB"), parse_rpc_spec("b:2=4GiB")])
    assert [g.rpc for g in hw.gpus] == ["a:1", "b:2"]
    assert worker_commands(["a:1", "b:2"]) == ["rpc-server -H 0.0.0.0 -p 1 -c", "rpc-server -H 0.0.0.0 -p 2 -c"]


def test_network_cost_per_token():
    gbe = Network(1.0, 0.2)
    # 2 trips per worker of 4096 x 4 bytes at 1 Gbit/s (0.13 ms) plus 0.2 ms each
    assert gbe.seconds_per_token(1, 4096) == pytest.approx(2 * (0.0002 + 4096 * 4 * 8 / 1e9))
    assert gbe.seconds_per_token(2, 4096) == pytest.approx(2 * gbe.seconds_per_token(1, 4096))
    with pytest.raises(InvalidValue):
        Network(0, 0.2)


def test_a_plan_across_a_head_and_two_workers(cli, hardware_file):
    hw = hardware_file(ram=8 * GiB, gpus=[])
    result = cli(
        "recommend",
        "bartowski/Qwen_Qwen3-8B-GGUF",
        "--hardware",
        hw,
        "--rpc",
        "10.0.0.2:50052=24GiB@936",
        "--rpc",
        "10.0.0.3:50053=12GiB",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = result.json
    cluster = data["cluster"]
    assert [h["name"] for h in cluster["hosts"]] == ["head", "10.0.0.2:50052", "10.0.0.3:50053"]
    assert cluster["worker_commands"] == ["rpc-server -H 0.0.0.0 -p 50052 -c", "rpc-server -H 0.0.0.0 -p 50053 -c"]
    assert "trusted network" in cluster["warning"]
    devices = {d["device"]: d for d in cluster["devices"]}
    assert devices["rpc 10.0.0.2:50052"]["bytes"] > devices["rpc 10.0.0.3:50053"]["bytes"] > 0
    assert sum(d["layers"] for d in cluster["devices"]) == data["model"]["block_count"]
    command = data["pick"]["command"]
    assert " --rpc 10.0.0.2:50052,10.0.0.3:50053 " in command and " -ts 24," in command
    assert cluster["network"]["seconds_per_token"] > 0 and data["pick"]["speed"]["basis"].count("network") == 1


def test_workers_from_saved_probes(cli, hardware_file, tmp_path):
    head_file = hardware_file(ram=8 * GiB, gpus=[])
    with open(hardware_file(ram=8 * GiB, gpus=[16 * GiB])) as handle:
        worker = json.load(handle)
    path = tmp_path / "gpu-box.json"
    path.write_text(json.dumps(worker))
    data = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", head_file, "--hardware", str(path), "--json")
    assert data.exit_code == 0, data.stderr
    assert [h["name"] for h in data.json["cluster"]["hosts"]] == ["head", "gpu-box:50052"]


def test_the_network_can_be_the_limit(cli, hardware_file):
    hw = hardware_file(ram=8 * GiB, gpus=[])
    slow = cli(
        "recommend",
        "bartowski/Qwen_Qwen3-8B-GGUF",
        "--hardware",
        hw,
        "--rpc",
        "w:50052=24GiB@2000",
        "--network-bandwidth",
        "0.01",
        "--network-latency",
        "50",
        "--json",
    ).json
    assert slow["cluster"]["network"]["limits_speed"] is True and slow["pick"]["speed"]["bound_by"] == "network (RPC)"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rpc", "w:50052"], "--rpc: not a worker"),
        (["--rpc", "w:50052=8GiB", "--rpc", "w:50052=8GiB"], "--rpc: w:50052 is named twice"),
        (["--network-bandwidth", "0"], "--network-bandwidth:"),
    ],
)
def test_bad_cluster_input_exits_2(cli, hardware_file, flags, message):
    hw = hardware_file(ram=8 * GiB, gpus=[])
    result = cli("recommend", "bartowski/Qwen_Qwen3-8B-GGUF", "--hardware", hw, *flags)
    assert result.exit_code == 2 and message in result.stderr and "Hint:" in result.stderr


def test_layers_are_placed_as_llama_cpp_places_them():
    from quantpick.rules import layer_devices

    # bench/rpc: 4 layers + output on two devices with -ts 1,0.5: llama.cpp put the 4 layers on the first
    assert layer_devices(4, 5, [1.0, 0.5]) == [0, 0, 0, 0, 1]
    assert layer_devices(4, 5, [1.0, 1.0]) == [0, 0, 0, 1, 1]
    assert layer_devices(4, 2, [1.0]) == [None, None, None, 0, 0]  # -ngl 2: the last layer and the output
    assert layer_devices(4, 0, [1.0]) == [None] * 5
