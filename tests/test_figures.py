"""The report's figures as functions of small DataFrames: what they draw, and that they say how
many seeds stand behind it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchsuite import figures

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch) -> list:
    """The matplotlib figures the functions render, kept to look at what they drew."""
    kept = []
    render = figures.render

    def keeping(figure, *args):
        kept.append(figure)
        return render(figure, *args)

    monkeypatch.setattr(figures, "render", keeping)
    return kept


def test_the_plane_draws_one_point_per_method_with_its_intervals(drawn):
    points = pd.DataFrame([
        {"method": "a × none", "n": 3, "x": 0.25, "x_low": 0.2, "x_high": 0.3,
         "y": 0.9, "y_low": 0.85, "y_high": 0.95},
        {"method": "b × r1", "n": 2, "x": 1.0, "x_low": 0.9, "x_high": 1.0, "y": 0.5, "y_low": 0.4, "y_high": 0.6},
        {"method": "c × sn", "n": 0, "x": math.nan, "x_low": math.nan, "x_high": math.nan, "y": math.nan,
         "y_low": math.nan, "y_high": math.nan},
    ])
    figure = figures.precision_recall_plane(points, "ring8", "share of modes covered (recall)", "precision")
    assert figure.png.startswith(PNG) and figure.slug == "plane-ring8"
    assert figure.title == "ring8: precision against share of modes covered"
    assert "n = 2 to 3 seeds each" in figure.caption
    (ax,) = drawn[0].axes
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["a × none (n=3)", "b × r1 (n=2)"]
    centres = [line.get_xydata()[0].tolist() for line in ax.lines if line.get_marker() == "o"]
    assert centres == [[0.25, 0.9], [1.0, 0.5]]


def test_the_plane_of_methods_without_values_is_not_drawn():
    points = pd.DataFrame([{"method": "a", "n": 0, "x": math.nan, "x_low": math.nan, "x_high": math.nan,
                            "y": 0.5, "y_low": math.nan, "y_high": math.nan}])
    assert figures.precision_recall_plane(points, "ring8", "recall", "precision") is None


def test_distributions_draw_every_seed_in_the_given_order_with_its_count(drawn):
    values = pd.DataFrame({"method": ["a", "a", "a", "b", "b"], "fid": [10.0, 12.0, 11.0, 30.0, np.nan],
                           "recall": [0.5, 0.6, 0.55, 0.1, 0.2]})
    figure = figures.seed_distributions(values, {"fid": "FID", "recall": "recall"}, ["a", "b"], "digits")
    assert figure.png.startswith(PNG) and figure.slug == "distributions-digits"
    assert "n = 2 to 3 seeds each" in figure.caption
    fid, recall = drawn[0].axes
    assert (fid.get_xlabel(), recall.get_xlabel()) == ("FID", "recall")
    assert [label.get_text() for label in fid.get_yticklabels()] == ["a (n=3)", "b (n=2)"]
    dots = np.concatenate([collection.get_offsets() for collection in fid.collections if len(collection.get_offsets())])
    assert sorted(dots[:, 0].tolist()) == [10.0, 11.0, 12.0, 30.0]  # a run without a value is not drawn


def test_training_lines_are_medians_with_a_min_to_max_band_and_gradients_on_a_log_scale(drawn):
    rows = []
    for run, line, scale in (("a0", "a", 1.0), ("a1", "a", 3.0), ("a2", "a", 2.0), ("b0", "b", 1.0)):
        for step in (1, 2):
            rows.append({"run": run, "line": line, "step": step, "loss_d": scale * step,
                         "grad_norm_g": 0.0 if line == "b" and step == 2 else scale / step})
    logs = pd.DataFrame(rows)
    figure = figures.training_lines(logs, {"loss_d": "D loss", "grad_norm_g": "G gradient", "absent": "never logged"},
                                    {"grad_norm_g"}, "ring8/mlp: objectives", "Losses", "curves-ring8")
    assert figure.caption == "Losses; n = 1 to 3 seeds each."
    loss, gradient = [ax for ax in drawn[0].axes if ax.get_visible() and ax.get_title()]
    assert (loss.get_title(), loss.get_yscale(), gradient.get_yscale()) == ("D loss", "linear", "log")
    a_loss = next(line for line in loss.lines if line.get_label() == "a (n=3)")
    assert a_loss.get_ydata().tolist() == [2.0, 4.0]  # the median of 1, 3, 2 at each step, doubled at step 2
    b_gradient = next(line for line in gradient.lines if line.get_label() == "b (n=1)")
    assert b_gradient.get_xdata().tolist() == [1]  # zero has no place on a log scale


def test_training_lines_without_any_logged_column_draw_nothing():
    logs = pd.DataFrame({"run": ["a0"], "line": ["a"], "step": [1], "loss_d": [0.5]})
    assert figures.training_lines(logs, {"grad_norm_g": "G gradient"}, set(), "t", "c", "s") is None


def test_the_same_data_give_the_same_bytes():
    values = pd.DataFrame({"method": ["a", "a", "b"], "fid": [1.0, 2.0, 3.0]})
    first = figures.seed_distributions(values, {"fid": "FID"}, ["a", "b"], "digits")
    again = figures.seed_distributions(values, {"fid": "FID"}, ["a", "b"], "digits")
    assert first.png == again.png


def test_seeds_phrase():
    assert figures.seeds_phrase([3, 3]) == "n = 3 seeds each"
    assert figures.seeds_phrase([1]) == "n = 1 seed each"
    assert figures.seeds_phrase([2, 5, 3]) == "n = 2 to 5 seeds each"
    assert figures.seeds_phrase([]) == "no seeds"
