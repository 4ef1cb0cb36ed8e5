"""Image metrics on the embedded digits: what they mean, agreement with torch-fidelity, the reference
cache, the classifier extractor and the Inception weights errors.

Thresholds come from measurements on the default digits split with the default classifier (the
measured value is given next to each), with a wide margin.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torch_fidelity

from benchsuite import cache, registry
from benchsuite.cli import main
from benchsuite.datasets._image import to_unit_range
from benchsuite.errors import ConfigError, DataUnavailableError
from benchsuite.evaluate import metrics_for
from benchsuite.metrics import extractors
from benchsuite.metrics import fidelity as fidelity_module
from benchsuite.metrics.fidelity import Fidelity, density_coverage, reference_images
from benchsuite.metrics.stacked import StackedModes, predicted_modes

CPU = torch.device("cpu")
FAST = {"kid_subsets": 10}  # torch-fidelity's 100 KID subsets cost seconds and test nothing more


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


@pytest.fixture(scope="module")
def classifier(digits, shared_cache) -> Path:
    """The digits classifier, trained once per session (about 20 s on one core)."""
    return extractors.ensure_classifier(digits, CPU)


def score(samples, dataset, **options):
    return Fidelity(**(FAST | options)).compute(samples, dataset, CPU)


def held_out(digits):
    return to_unit_range(digits.images("test")), digits.labels("test")


class Images(torch.utils.data.Dataset):
    """uint8 images as torch-fidelity takes them."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


# --- What the numbers mean --------------------------------------------------------------------------


def test_classifier_extractor_is_accurate_and_recorded(digits, classifier):
    record = extractors.read_classifier(classifier)
    assert record["accuracy"] > 0.95  # measured 0.994 on the 359 held-out digits
    assert record["test_images"] == 359 and record["training"]["steps"] == extractors.CLASSIFIER_TRAINING["steps"]
    metric = Fidelity(**FAST)
    values = metric.compute(held_out(digits)[0], digits, CPU)
    assert values["classifier_accuracy"] == pytest.approx(record["accuracy"])
    # Which weights scored the run: the file's own digest, recorded with the settings.
    assert metric.settings["weights_sha256"] == cache.file_sha256(classifier)


def test_fid_of_held_out_real_data_is_far_below_that_of_noise(digits, classifier):
    real, _ = held_out(digits)
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    real_fid = score(real, digits)["fid"]
    noise_fid = score(noise, digits)["fid"]
    assert real_fid < 3.0  # measured 0.39
    assert noise_fid > 50.0  # measured 146
    assert noise_fid > 30 * real_fid


def test_half_of_the_classes_gives_high_precision_and_low_recall(digits, classifier):
    real, labels = held_out(digits)
    values = score(real[labels < 5], digits)
    assert values["precision"] > 0.75  # measured 0.87: what is generated looks real
    assert values["recall"] < 0.6  # measured 0.44: half of the real data is never generated
    assert values["coverage"] < 0.65  # measured 0.52
    everything = score(real, digits)
    assert everything["recall"] > 0.8  # measured 0.90
    assert everything["recall"] - values["recall"] > 0.3


def test_inception_score_counts_the_classes(digits, classifier):
    real = to_unit_range(digits.images("train"))
    is_real = score(real, digits)["is_mean"]
    assert 7.0 < is_real <= 10.0  # measured 8.1 for 10 classes (splits of 144 samples)
    test, labels = held_out(digits)
    assert score(test[labels == 3], digits)["is_mean"] == pytest.approx(1.0, abs=0.15)  # measured 1.02


def test_results_do_not_depend_on_the_evaluation_batch_size(digits, classifier):
    real, _ = held_out(digits)
    small = score(real, digits, batch_size=37, cache=False)
    large = score(real, digits, batch_size=359, cache=False)
    assert small.keys() == large.keys()
    for name in small:
        assert small[name] == pytest.approx(large[name], rel=1e-5, abs=1e-6), name


def test_fid_kid_is_and_precision_recall_equal_torch_fidelity_called_directly(digits, classifier):
    name, _ = extractors.register_with_torch_fidelity()
    generated = digits.images("test")
    real = reference_images(digits, "train", len(generated))
    direct = torch_fidelity.calculate_metrics(
        input1=Images(generated), input2=Images(real), fid=True, isc=True, kid=True, prc=True,
        feature_extractor=name, feature_extractor_weights_path=str(classifier),
        cuda=False, cache=False, verbose=False, save_cpu_ram=True, batch_size=100,
        kid_subsets=FAST["kid_subsets"], kid_subset_size=len(generated),
    )
    suite = score(to_unit_range(generated), digits)
    assert suite["reference_samples"] == len(real) == 359
    assert suite["fid"] == pytest.approx(direct[torch_fidelity.KEY_METRIC_FID], rel=1e-6)
    assert suite["is_mean"] == pytest.approx(direct[torch_fidelity.KEY_METRIC_ISC_MEAN], rel=1e-6)
    assert suite["kid_mean"] == pytest.approx(direct[torch_fidelity.KEY_METRIC_KID_MEAN], rel=1e-5, abs=1e-7)
    assert suite["precision"] == pytest.approx(direct[torch_fidelity.KEY_METRIC_PRECISION])
    assert suite["recall"] == pytest.approx(direct[torch_fidelity.KEY_METRIC_RECALL])


def test_density_and_coverage_on_gaussians():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(2000, 8, generator=generator)
    same = density_coverage(real, torch.randn(2000, 8, generator=generator), k=5)
    # Naeem et al. 2020: for identical distributions E[density] = 1 and coverage -> 1 - 2^-k = 0.969.
    assert same["density"] == pytest.approx(1.0, abs=0.1)
    assert same["coverage"] == pytest.approx(1 - 0.5**5, abs=0.02)
    tight = density_coverage(real, 0.1 * torch.randn(2000, 8, generator=generator), k=5)
    assert tight["coverage"] < 0.15  # measured 0.035: crowded in the centre, missing the rest
    shifted = density_coverage(real, torch.randn(2000, 8, generator=generator) + 3.0, k=5)
    assert shifted["density"] == pytest.approx(0.0, abs=0.05)  # measured 0.0: outside the real manifold
    assert shifted["coverage"] == pytest.approx(0.0, abs=0.05)  # measured 0.0


# --- Mode counting ----------------------------------------------------------------------------------


def test_mode_counting_on_stacked_digits(classifier):
    stacked = registry.get("dataset", "stacked-digits")()
    real = to_unit_range(stacked.images("test"))
    modes = StackedModes()
    counted = modes.compute(real, stacked, CPU)
    assert counted["modes_total"] == 1000
    assert counted["modes_covered"] >= 990  # measured 1000 of 1000 among the 10,000 fixed test combinations
    assert counted["mode_kl"] < 0.15  # measured 0.05
    constant = modes.compute(real[:1].expand(500, -1, -1, -1), stacked, CPU)
    assert constant["modes_covered"] == 1
    assert constant["mode_kl"] == pytest.approx(math.log(1000))
    assert modes.compute(real[:, :1], registry.get("dataset", "digits")(), CPU) == {}


def test_stacked_extractor_joint_logits_agree_with_the_channel_classifier(classifier):
    stacked = registry.get("dataset", "stacked-digits")(stacked_set_size=300)
    images = stacked.images("test")
    extractor = extractors.create("classifier", stacked, CPU)
    features, logits = extractor.module(images)
    network, _ = extractors.load_classifier(classifier)
    assert logits.shape == (300, 1000) and features.shape == (300, 3 * network.feature_width)
    torch.testing.assert_close(logits.exp().sum(dim=1), torch.ones(300))
    assert torch.equal(logits.argmax(dim=1), predicted_modes(images, network, 10, 3, CPU))


# --- The reference cache ----------------------------------------------------------------------------


def test_reference_is_computed_once_and_invalidated_by_its_keys(digits, classifier, tmp_path, monkeypatch):
    fresh = tmp_path / "cache"
    (fresh / "extractors").mkdir(parents=True)
    shutil.copy(classifier, fresh / "extractors" / classifier.name)
    monkeypatch.setenv("BENCHSUITE_CACHE", str(fresh))
    passes: list[int] = []
    extract = fidelity_module.extract

    def counting(extractor, images, batch_size):
        passes.append(len(images))
        return extract(extractor, images, batch_size)

    monkeypatch.setattr(fidelity_module, "extract", counting)
    real, _ = held_out(digits)
    runs = [real[torch.randperm(len(real), generator=torch.Generator().manual_seed(i))[:300]] for i in range(3)]

    cached = [score(run, digits) for run in runs]
    assert passes == [300, 300, 300, 300]  # one reference pass, then one pass per run
    passes.clear()
    assert score(runs[0], digits, cache=False) == cached[0]
    assert passes == [300, 300]

    passes.clear()
    score(runs[0][:200], digits)  # another number of samples: another reference
    assert passes == [200, 200]

    passes.clear()
    extractors.train_classifier(digits, CPU, steps=3)  # a retrained extractor: new weights hash
    score(runs[0][:200], digits)
    score(runs[1][:200], digits)
    assert passes == [200, 200, 200]

    passes.clear()
    for entry in (fresh / "reference").iterdir():
        entry.write_bytes(b"damaged")
    score(runs[1][:200], digits)
    assert passes == [200, 200]  # a damaged entry is a miss, recomputed


def test_cache_entries_are_keyed_atomic_and_never_foreign(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path))
    key = {"dataset": "digits", "samples": 10}
    path = cache.store("reference", "label", key, {"x": torch.arange(3)})
    assert path.parent == tmp_path / "reference" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert torch.equal(cache.load("reference", "label", key)["x"], torch.arange(3))
    assert cache.path_for("reference", "label", key | {"samples": 11}) != path
    assert cache.load("reference", "label", key | {"samples": 11}) is None
    foreign = cache.path_for("reference", "label", {"other": 1})
    shutil.copy(path, foreign)  # a file whose stored key does not match its name is not used
    assert cache.load("reference", "label", {"other": 1}) is None
    calls = []
    assert cache.cached("reference", "label", key, lambda: calls.append(1) or "recomputed")["x"].tolist() == [0, 1, 2]
    assert calls == []


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path / "mine"))
    assert cache.root() == tmp_path / "mine"
    monkeypatch.delenv("BENCHSUITE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.root() == tmp_path / "xdg" / "benchsuite" / "cache"


# --- Extractor choice and errors --------------------------------------------------------------------


def test_auto_extractor_resolves_per_dataset_and_is_recorded(digits, classifier):
    metric = Fidelity(**FAST)
    assert metric.settings["extractor"] == "auto"
    metric.compute(held_out(digits)[0][:50], digits, CPU)
    assert metric.settings["extractor"] == "classifier"
    assert registry.get("dataset", "cifar10").default_extractor == "inception-v3-compat"
    assert set(metrics_for("image")) == {"fidelity", "stacked-modes"}


def test_bad_options_and_unlabelled_data_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown extractor 'vgg'.*classifier, inception-v3-compat"):
        Fidelity(extractor="vgg")
    with pytest.raises(ConfigError, match="split must be one of train, test"):
        Fidelity(split="valid")
    celeba = registry.get("dataset", "celeba64")(root=str(tmp_path))
    with pytest.raises(ConfigError, match="celeba64' has no class labels.*fidelity.extractor=inception-v3-compat"):
        extractors.create("classifier", celeba, CPU)


def test_inception_weights_are_torch_fidelitys():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert extractors.URL_INCEPTION_V3 == URL_INCEPTION_V3
    assert extractors.INCEPTION_FILE.endswith(f"-{extractors.INCEPTION_SHA256_PREFIX}.pth")


@pytest.fixture
def no_inception_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return extractors.default_inception_path()


def test_missing_inception_weights_offline(digits, no_inception_weights, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as caught:
        score(held_out(digits)[0][:50], digits, extractor="inception-v3-compat")
    message = str(caught.value)
    assert extractors.INCEPTION_FILE in message and str(no_inception_weights) in message
    assert "fidelity.inception_weights=PATH" in message and "never substitutes another extractor" in message


def test_failed_inception_download(digits, no_inception_weights, monkeypatch):
    def unreachable(*args, **kwargs):
        raise URLError("no route to host")

    monkeypatch.delenv("BENCHSUITE_OFFLINE", raising=False)
    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(DataUnavailableError, match=r"the download failed \(.*no route to host"):
        score(held_out(digits)[0][:50], digits, extractor="inception-v3-compat")


def test_named_inception_weights_must_exist_and_be_the_reference_file(digits, tmp_path):
    with pytest.raises(DataUnavailableError, match="nowhere.pth named by fidelity.inception_weights does not exist"):
        score(held_out(digits)[0][:50], digits, extractor="inception-v3-compat",
              inception_weights=str(tmp_path / "nowhere.pth"))
    impostor = tmp_path / "weights.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, impostor)
    with pytest.raises(DataUnavailableError, match=f"sha256 starts with .*the reference file's with "
                                                   f"{extractors.INCEPTION_SHA256_PREFIX}"):
        score(held_out(digits)[0][:50], digits, extractor="inception-v3-compat", inception_weights=str(impostor))


# --- The train-extractor command --------------------------------------------------------------------


def test_train_extractor_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path))
    assert main(["train-extractor", "stacked-digits", "--set", "size=32", "--steps", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "scored channel by channel with the classifier of digits" in out
    assert "classifier for digits: held-out accuracy" in out
    written = list((tmp_path / "extractors").iterdir())
    assert len(written) == 1 and extractors.read_classifier(written[0])["training"]["steps"] == 5
    assert written[0] == extractors.classifier_path(registry.get("dataset", "digits")(size=32))

    assert main(["train-extractor", "celeba64", "--data-root", str(tmp_path / "data")]) == 2
    assert "has no class labels" in capsys.readouterr().err
