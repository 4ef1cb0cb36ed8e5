"""Image evaluation speed: images per second through the classifier extractor, and what the reference
cache saves when several runs are evaluated.

Every figure is a ratio or a rate measured in the same process, with the compared sides in
alternating rounds, so it stays meaningful on a busy machine; nothing here asserts on time. The
fastest of several rounds counts.
"""

from __future__ import annotations

import time

import pytest
import torch

from benchsuite import registry
from benchsuite.cli import main
from benchsuite.device import pick_device
from benchsuite.evaluate import evaluate
from benchsuite.metrics import extractors
from benchsuite.metrics.fidelity import extract, reference

RUNS, SAMPLES, ROUNDS = 3, 2000, 3
EVALUATION = {"fidelity": {"kid_subsets": 10}}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """The session's cache directory, also for module-scoped fixtures (they start before conftest's)."""
    path = tmp_path_factory.getbasetemp() / "cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCHSUITE_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def digits(shared_cache):
    return registry.get("dataset", "digits")()


def fastest(function, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return min(times)


@pytest.mark.slow
def test_classifier_extractor_throughput(benchmark, digits):
    device = pick_device()
    extractor = extractors.create("classifier", digits, device)
    images = digits.images("train").repeat(3, 1, 1, 1)  # 4,314 images of 16x16
    benchmark.pedantic(extract, args=(extractor, images, 250), rounds=ROUNDS, iterations=1)
    extractor_rate = len(images) / benchmark.stats.stats.min

    # The generator pass every evaluation also makes: a default-width DCGAN for the same images.
    generator = registry.get("architecture", "dcgan")(digits.shape, 64).generator().to(device).eval()
    z = torch.randn(len(images), 64, device=device)

    @torch.no_grad()
    def generate():
        for chunk in z.split(250):
            generator(chunk)

    generator_rate = len(images) / fastest(generate)
    benchmark.extra_info.update(images_per_second=extractor_rate, generator_images_per_second=generator_rate,
                                extractor_to_generator_speed=extractor_rate / generator_rate)
    print(f"\nclassifier extractor: {extractor_rate:,.0f} images/s on {device}; "
          f"DCGAN generator: {generator_rate:,.0f} images/s; ratio {extractor_rate / generator_rate:.2f}")


@pytest.mark.slow
def test_reference_cache_saves_a_reference_pass_per_run(benchmark, digits, tmp_path):
    runs = []
    for seed in range(RUNS):
        out = tmp_path / f"run{seed}"
        assert main(["train", "--dataset", "digits", "--arch", "dcgan", "--objective", "nonsaturating",
                     "--seed", str(seed), "--steps", "2", "--quiet", "--out", str(out),
                     "--set", "architecture.width=8", "--set", "diagnostics=false"]) == 0
        runs.append(out)

    def evaluate_all(use_cache: bool) -> None:
        options = {"fidelity": EVALUATION["fidelity"] | {"cache": use_cache}}
        for run in runs:
            evaluate(run, samples=SAMPLES, metric_options=options)

    evaluate_all(True)  # fills the cache (and trains the classifier if this session has none yet)
    device = pick_device()
    extractor = extractors.create("classifier", digits, device)

    def compare() -> tuple[float, float, float, float]:
        # Rounds alternate between the two sides, so a change of load on the machine hits both.
        timings: dict[str, list[float]] = {"cached": [], "uncached": [], "from_cache": [], "recomputed": []}
        for _ in range(ROUNDS):
            timings["cached"].append(fastest(lambda: evaluate_all(True), rounds=1))
            timings["uncached"].append(fastest(lambda: evaluate_all(False), rounds=1))
            # The reference stage alone: loading the cached entry against extracting the features again.
            timings["from_cache"].append(fastest(
                lambda: reference(digits, "train", SAMPLES, extractor, 250, use_cache=True), rounds=1))
            timings["recomputed"].append(fastest(
                lambda: reference(digits, "train", SAMPLES, extractor, 250, use_cache=False), rounds=1))
        return tuple(min(timings[side]) for side in ("cached", "uncached", "from_cache", "recomputed"))

    cached, uncached, from_cache, recomputed = benchmark.pedantic(compare, rounds=1, iterations=1)

    benchmark.extra_info.update(
        runs=RUNS, samples=SAMPLES, cached_seconds=cached, uncached_seconds=uncached,
        evaluation_speedup=uncached / cached, reference_seconds_saved_per_run=(uncached - cached) / RUNS,
        reference_stage_speedup=recomputed / from_cache,
    )
    print(f"\n{RUNS} runs x {SAMPLES} samples: {uncached:.2f} s recomputing the reference, {cached:.2f} s with the "
          f"cache (x{uncached / cached:.2f}); reference stage alone x{recomputed / from_cache:.1f} "
          f"({recomputed * 1e3:.0f} ms -> {from_cache * 1e3:.0f} ms)")
