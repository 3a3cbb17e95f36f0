"""The cost per particle: exact FLOPs, the estimate, and the Pareto front."""

import json

from study.report import build_report, load_study
from study.report.analysis import cost_front
from study.testing.scripted import write_study
from study.training import cost
from study.training.network import build_network


def test_flops_are_twice_the_multiply_adds_of_the_dense_layers():
    net = build_network(12, 128, 10, "tanh", 1e-3)
    kernels = sum(int(w.size) for w in net.get_weights() if w.ndim == 2)
    assert cost.flops_per_particle(12, 128, 10) == 2 * kernels == 331_008
    assert cost.estimated_c_ns(331_008) == cost.NS_FIXED + cost.NS_PER_FLOP * 331_008


def test_pareto_front_is_the_non_dominated_set():
    points = [("a", 10.0, 0.30), ("b", 20.0, 0.25), ("c", 15.0, 0.31), ("d", 40.0, 0.25),
              ("e", 5.0, 0.40), ("f", 50.0, 0.20), ("g", 20.0, 0.26)]  # fmt: skip
    assert cost.pareto_front(points) == ["e", "a", "b", "f"]
    for point_id, c, o in points:  # brute force: dominated <=> someone better in both
        dominated = any(c2 <= c and o2 <= o and (c2 < c or o2 < o) for _, c2, o2 in points)
        assert dominated == (point_id not in cost.pareto_front(points))


def test_the_report_marks_the_front_of_the_completed_trials(tmp_path):
    study_dir = write_study(tmp_path, "s", ["COMPLETED"] * 6 + ["FAILED", "PRUNED"])
    study = load_study(study_dir)
    front = cost_front(study)
    assert len(front.points) == 6  # completed trials only
    by_id = {i: (c, o) for i, c, o in front.points}
    expected = [
        i for i, (c, o) in sorted(by_id.items(), key=lambda kv: kv[1])
        if not any(c2 <= c and o2 <= o and (c2, o2) != (c, o) for c2, o2 in by_id.values())
    ]  # fmt: skip
    assert front.front == expected
    summary = build_report(study_dir)
    assert summary.pareto_front == expected
    assert (study_dir / "report" / "cost.png").stat().st_size > 1000
    saved = json.loads((study_dir / "report" / "report.json").read_text())
    assert saved["pareto_front"] == expected


def test_the_shape_counts_layers_parameters_and_flops_once():
    from study.training.network import build_network
    from study.training.shape import Shape

    shape = Shape(12, 64, 3)
    assert shape.dense_layers() == [(12, 64), (64, 64), (64, 64), (64, 64), (64, 1)]
    assert shape.parameters == build_network(12, 64, 3).count_params() == 13_377
    assert shape.flops_per_particle == 2 * (12 * 64 + 3 * 64 * 64 + 64) == 26_240
    assert Shape.from_parameters(13_377, 64, 3) == shape
    assert Shape.from_parameters(13_378, 64, 3) is None  # no network has that count
