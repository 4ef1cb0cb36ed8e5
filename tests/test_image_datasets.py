"""Image datasets: the embedded digits and their stacked variant, and the torchvision datasets offline."""

from __future__ import annotations

import struct
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from sklearn.datasets import load_digits

from benchsuite import registry
from benchsuite.cli import main
from benchsuite.config import resolve
from benchsuite.datasets._image import to_uint8, to_unit_range
from benchsuite.datasets.digits import stratified_split
from benchsuite.errors import ConfigError, DataUnavailableError

TORCHVISION = ["mnist", "fashion-mnist", "cifar10", "celeba64", "stacked-mnist"]


def dataset(name: str, **options):
    return registry.get("dataset", name)(**options)


# --- digits -----------------------------------------------------------------------------------------


def test_digits_images_are_uint8_at_the_configured_size_and_samples_in_unit_range():
    digits = dataset("digits")
    assert digits.modality == "image"
    assert digits.shape == (1, 16, 16)
    train = digits.images("train")
    assert train.dtype == torch.uint8 and tuple(train.shape[1:]) == (1, 16, 16)
    # The scaling reaches both ends of 0..255 (ink 16 -> 255, paper 0 -> 0).
    assert int(train.min()) == 0 and int(train.max()) == 255
    batch = digits.sample(64, torch.Generator().manual_seed(0))
    assert batch.dtype == torch.float32 and batch.shape == (64, 1, 16, 16)
    assert float(batch.min()) == -1.0 and float(batch.max()) == 1.0

    large = dataset("digits", size=32)
    assert large.shape == (1, 32, 32) and tuple(large.images("test").shape[1:]) == (1, 32, 32)


def test_digits_split_is_fixed_stratified_disjoint_and_recorded():
    labels = torch.from_numpy(load_digits().target)
    split = stratified_split(labels, 0.2, 0)
    train, test = set(split["train"].tolist()), set(split["test"].tolist())
    assert not train & test and len(train | test) == 1797
    assert (len(train), len(test)) == (1438, 359)
    # Every class keeps its share of held-out images (35 to 37 of 174-183).
    assert torch.bincount(labels[split["test"]]).tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    assert torch.equal(stratified_split(labels, 0.2, 0)["test"], split["test"])
    assert not torch.equal(stratified_split(labels, 0.2, 1)["test"], split["test"])

    digits = dataset("digits")
    assert len(digits.images("train")) == 1438 and len(digits.labels("test")) == 359
    assert "seed 0" in digits.description and "0.2" in digits.description
    config = resolve({"dataset": "digits", "architecture": "dcgan", "objective": "nonsaturating"})
    assert config.dataset_options == {"size": 16, "test_fraction": 0.2, "split_seed": 0}
    assert (config.batch_size, config.z_dim) == (64, 64)


def test_digits_sampling_is_deterministic_and_resumable():
    digits = dataset("digits")
    generator = torch.Generator().manual_seed(7)
    first = digits.sample(32, generator)
    state = generator.get_state()
    second = digits.sample(32, generator)
    generator.set_state(state)
    assert torch.equal(digits.sample(32, generator), second)
    assert torch.equal(dataset("digits").sample(32, torch.Generator().manual_seed(7)), first)
    assert not torch.equal(first, second)


def test_digits_options_are_checked():
    with pytest.raises(ConfigError, match="test_fraction"):
        dataset("digits", test_fraction=1.0)
    with pytest.raises(ConfigError, match="size"):
        dataset("digits", size=2)
    with pytest.raises(ConfigError, match="no split 'valid'"):
        dataset("digits").images("valid")


def test_uint8_round_trip_and_non_finite_values():
    images = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    assert torch.equal(to_uint8(to_unit_range(images)), images)
    odd = torch.tensor([float("nan"), float("inf"), -float("inf"), 2.0, -3.0]).reshape(1, 1, 1, 5)
    assert to_uint8(odd).flatten().tolist() == [128, 255, 0, 255, 0]


# --- stacked digits ---------------------------------------------------------------------------------


def test_stacked_digits_channels_are_base_digits_and_labels_are_joint():
    stacked = dataset("stacked-digits", stacked_set_size=500)
    base = stacked.base
    assert stacked.shape == (3, 16, 16) and stacked.num_classes == 1000 and stacked.stack == 3
    assert stacked.classifier_dataset() is base
    index = torch.tensor([[0, 1, 2], [5, 5, 5]])
    images, labels = stacked._stack("train", index)
    for row in range(2):
        for channel in range(3):
            assert torch.equal(images[row, channel], base.images("train")[index[row, channel], 0])
        expected = [int(base.labels("train")[i]) for i in index[row]]
        assert int(labels[row]) == expected[0] * 100 + expected[1] * 10 + expected[2]

    fixed = stacked.images("test")
    assert fixed.shape == (500, 3, 16, 16)
    assert torch.equal(dataset("stacked-digits", stacked_set_size=500).images("test"), fixed)
    base_rows = {bytes(image.numpy()) for image in base.images("train")[:, 0]}
    sample = to_uint8(stacked.sample(20, torch.Generator().manual_seed(0)))
    assert all(bytes(sample[i, c].numpy()) in base_rows for i in range(20) for c in range(3))


def test_stacked_digits_fixed_set_covers_the_modes():
    labels = dataset("stacked-digits").labels("train")
    # 10,000 uniform draws over 1,000 modes leave about 1000 * exp(-10) = 0.05 modes empty.
    assert len(torch.unique(labels)) >= 995


# --- torchvision datasets ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_dataset_offline_is_one_clear_error(name, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_OFFLINE", "1")
    data = dataset(name, root=str(tmp_path))
    assert data.modality == "image" and len(data.shape) == 3  # the shape needs no files
    with pytest.raises(DataUnavailableError) as caught:
        data.sample(4, torch.Generator().manual_seed(0))
    message = str(caught.value)
    base = "mnist" if name == "stacked-mnist" else name
    assert f"dataset {base!r} is not available" in message
    assert str(tmp_path) in message and "To fetch it" in message and "--data-root" in message


def test_failed_download_is_reported_with_its_reason(tmp_path, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def no_network(*args, **kwargs):
        raise URLError("network unreachable")

    monkeypatch.delenv("BENCHSUITE_OFFLINE", raising=False)
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", no_network)
    with pytest.raises(DataUnavailableError, match=r"the download failed \(.*network unreachable"):
        dataset("mnist", root=str(tmp_path)).images("train")


def test_missing_dataset_from_the_command_line_has_no_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCHSUITE_OFFLINE", "1")
    code = main(["train", "--dataset", "cifar10", "--arch", "dcgan", "--objective", "nonsaturating",
                 "--steps", "2", "--quiet", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--set", "architecture.width=8"])
    err = capsys.readouterr().err
    assert code == 2
    assert "dataset 'cifar10' is not available" in err and "cifar-10-python.tar.gz" in err
    assert "Traceback" not in err


def _write_idx(path: Path, tensor: torch.Tensor) -> None:
    """An MNIST-format (IDX) file: magic 0x08 (uint8) and the number of dimensions, then the sizes."""
    header = struct.pack(">I", 0x0800 + tensor.dim()) + b"".join(struct.pack(">I", s) for s in tensor.shape)
    path.write_bytes(header + tensor.numpy().tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_files_on_disk_load_resized_and_scaled(name, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHSUITE_OFFLINE", "1")
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for prefix, count in (("train", 12), ("t10k", 5)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", torch.randint(0, 256, (count, 28, 28), generator=generator,
                                                                       dtype=torch.uint8))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", torch.arange(count, dtype=torch.uint8) % 10)
    native = dataset(name, root=str(tmp_path))
    assert native.images("train").shape == (12, 1, 28, 28) and native.labels("test").tolist() == [0, 1, 2, 3, 4]
    resized = dataset(name, root=str(tmp_path), size=32)
    assert resized.images("test").shape == (5, 1, 32, 32) and resized.images("test").dtype == torch.uint8
    batch = resized.sample(6, torch.Generator().manual_seed(1))
    assert batch.shape == (6, 1, 32, 32) and -1.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    if name == "mnist":
        stacked = dataset("stacked-mnist", root=str(tmp_path), stacked_set_size=40)
        assert stacked.images("train").shape == (40, 3, 28, 28)
        assert int(stacked.labels("train").max()) < 1000
