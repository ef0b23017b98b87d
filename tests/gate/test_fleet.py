from __future__ import annotations

from pathlib import Path

import pytest

from checker.errors import ProfileError
from checker.gate.audit.fleet import load_fleet


def test_short_and_long_forms(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        """\
- H100-80GB
- L4:2
- name: lab-48
  price_per_hour: 1.1
  spec:
    memory_gib: 47.5
    memory_bandwidth_gbs: 960
    fp16_tflops: 180
    compute_capability: "8.9"
"""
    )
    fleet = load_fleet(path)
    assert [str(e.target) for e in fleet.targets] == ["H100-80GB:1", "L4:2", "lab-48:1"]
    assert fleet.targets[2].price_per_hour == 1.1
    (custom,) = fleet.custom_gpus
    assert custom.name == "lab-48" and custom.memory_gib == 47.5
    path.write_text("targets:\n  - L4\n")
    assert [e.name for e in load_fleet(path).targets] == ["L4"]


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        # a bare list names no 'targets' key: its entries are counted as the file shows them
        ("- L4\n- name: A100\n  cont: 2\n", ":3:3", "entry 2: unknown key 'cont'"),
        ("- L4:0\n", ":1:3", "entry 1: GPU target 'L4:0' is not"),
        ("- name: L4\n  price_per_hour: -1\n", ":2:3", "entry 1: price_per_hour: must be at"),
        ("- {nme: L4}\n", ":1:3", "entry 1: missing required key 'name'"),
        ("[]\n", ":1:1", "the fleet list must not be empty"),
        ("gpus: [L4]\n", ":1:1", "missing required key 'targets'"),
        ("targets:\n  - L4:0\n", ":2:5", "targets.0: GPU target 'L4:0' is not"),
    ],
)
def test_errors_at_file_and_line(tmp_path: Path, text: str, location: str, message: str) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as err:
        load_fleet(path)
    assert err.value.location == f"{path}{location}"
    assert err.value.message.startswith(message)


def test_every_problem_of_a_fleet_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("gpus: [L4]\n")
    with pytest.raises(ProfileError) as err:
        load_fleet(path)
    assert [e.message for e in (err.value, *err.value.related)] == [
        "missing required key 'targets'",
        "unknown key 'gpus'",
    ]
    assert len(err.value.details) == 2  # printed one line each


def test_every_problem_of_a_bare_list_names_its_entry(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("- H100-80GB\n- {gpu: L4}\n")
    with pytest.raises(ProfileError) as err:
        load_fleet(path)
    assert err.value.details == [  # the lines the CLI prints
        f"{path}:2:3: entry 2: missing required key 'name'",
        f"{path}:2:4: entry 2: unknown key 'gpu' (hint: valid keys here: name, count, "
        "price_per_hour, spec)",
    ]


@pytest.mark.parametrize(
    ("text", "location", "message"),
    [
        ("- H100-80GB\n- H100-SXM-80GB\n", ":2:3", "entry 2: 'H100-SXM-80GB:1' is entry 1 again"),
        ("- L4:2\n- name: L4\n  count: 2\n  price_per_hour: 1\n", ":2:3", "entry 2: 'L4:2' is"),
    ],
    ids=["alias", "second-price"],
)
def test_a_target_listed_twice_is_refused_at_its_line(
    tmp_path: Path, text: str, location: str, message: str
) -> None:
    # it was planned and reported twice, and ranked against itself by price
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    fleet = load_fleet(path)
    with pytest.raises(ProfileError) as err:
        fleet.check_gpus(())
    assert err.value.location == f"{path}{location}"
    assert err.value.message.startswith(message)
    path.write_text("- L4\n- L4:2\n")  # one GPU in two sizes: two targets
    load_fleet(path).check_gpus(())
