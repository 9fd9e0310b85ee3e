"""Data sets: file formats, checksums, downloads (local only), subsets, augmentation, shards, errors.

Fake data sets are written in the real formats (gzipped idx, python-2-style CIFAR pickles in
the official tar.gz layout, class folders of images) with their own MD5s patched into the
modules' checksum tables; nothing is downloaded from the internet.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ablate.config import compose
from ablate.data import available, cifar, fashion_mnist, load
from ablate.data.base import channel_stats
from ablate.data.options import defaults
from ablate.run.app import _reason
from ablate.data.seeds import generator
from ablate.data.subset import balanced_subset, class_counts
from ablate.errors import ConfigError, DataError

torch.set_num_threads(1)
CPU = torch.device("cpu")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def x_of(split, batch_size=64, **kw):
    """All batches of a split concatenated: (x, y)."""
    kw = {"train": False, "epoch": 0, "seed": 0, **kw}
    xs, ys = zip(*split.batches(batch_size, **kw))
    return torch.cat(xs), torch.cat(ys)


# ---------------------------------------------------------------- Fashion-MNIST (fake idx files)

def idx(array: np.ndarray) -> bytes:
    """The idx encoding of a uint8 array: magic 0x0800 + ndim, big-endian dims, raw bytes."""
    return struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def fake_fmnist_arrays(n_train=60, n_val=20, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "val_images": rng.integers(0, 256, (n_val, 28, 28), dtype=np.uint8),
        "val_labels": (np.arange(n_val) % 10).astype(np.uint8)[::-1].copy(),
    }


def write_fmnist(folder: Path, arrays: dict, mtime=0) -> dict:
    """Write the four .gz files into folder; return the FILES table that matches them."""
    folder.mkdir(parents=True, exist_ok=True)
    table = {}
    for role, (name, _, _) in fashion_mnist.FILES.items():
        raw = idx(arrays[role])
        gz = gzip.compress(raw, mtime=mtime)
        (folder / name).write_bytes(gz)
        table[role] = (name, md5(gz), md5(raw))
    return table


@pytest.fixture
def fmnist(tmp_path, monkeypatch):
    arrays = fake_fmnist_arrays()
    folder = tmp_path / "fmnist"
    monkeypatch.setattr(fashion_mnist, "FILES", write_fmnist(folder, arrays))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return folder, arrays


def fm_cfg(root, **kw):
    return {"name": "fashion_mnist", "root": str(root), "download": False, "mean": [0.5], "std": [0.25], **kw}


def test_fashion_mnist_loads_fake_files_exactly(fmnist):
    folder, arrays = fmnist
    data = load(fm_cfg(folder, augment=False), CPU, 0)
    assert (data.name, data.num_classes, data.in_channels, data.resolution) == ("fashion_mnist", 10, 1, 28)
    assert (len(data.train), len(data.val)) == (60, 20)
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    x, y = x_of(data.val, 8)
    assert x.shape == (20, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    pixels = (x * 0.25 + 0.5) * 255  # undo the normalisation: the file's bytes, in file order
    assert torch.allclose(pixels[:, 0], torch.from_numpy(arrays["val_images"]).float(), atol=1e-3)
    assert y.tolist() == arrays["val_labels"].tolist()


def test_recompressed_gzip_with_same_content_is_accepted(fmnist, tmp_path, monkeypatch):
    # Debian recompresses the archives: other .gz bytes, same idx content (checked by content MD5)
    _, arrays = fmnist
    other = tmp_path / "recompressed"
    table = write_fmnist(other, arrays, mtime=1_600_000_000)
    assert table["train_images"][1] != fashion_mnist.FILES["train_images"][1]
    assert load(fm_cfg(other), CPU, 0).train.labels.tolist() == arrays["train_labels"].tolist()


def test_plain_idx_files_are_read_too(fmnist, tmp_path):
    _, arrays = fmnist
    plain = tmp_path / "plain"
    plain.mkdir()
    for role, (name, _, _) in fashion_mnist.FILES.items():
        (plain / name.removesuffix(".gz")).write_bytes(idx(arrays[role]))
    assert len(load(fm_cfg(plain), CPU, 0).train) == 60


def test_a_torchvision_root_of_fashion_mnist_is_read_where_torchvision_keeps_it(fmnist, tmp_path):
    """Found by hand: a researcher whose Fashion-MNIST came with torchvision points data.root at torchvision's root,
    which keeps the files in FashionMNIST/raw/; ablate looked in the root alone, so it downloaded the data set a
    second time (or, offline, said it was missing). Both layouts are read, without a download."""
    folder, arrays = fmnist
    raw = tmp_path / "torchvision" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in folder.iterdir():
        (raw / name.name).write_bytes(name.read_bytes())
    data = load(fm_cfg(tmp_path / "torchvision"), CPU, 0)  # download=False: nothing is fetched
    assert data.train.labels.tolist() == arrays["train_labels"].tolist()
    assert sorted(p.name for p in (tmp_path / "torchvision").iterdir()) == ["FashionMNIST"]


def test_checksum_mismatch_names_the_file_and_refuses(fmnist):
    folder, arrays = fmnist
    changed = arrays["train_images"].copy()
    changed[0, 0, 0] ^= 1  # one bit: still a valid idx file, other bytes
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(changed)))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz has MD5 [0-9a-f]{32} but the published"):
        load(fm_cfg(folder), CPU, 0)


@pytest.mark.parametrize("damage, message", [
    (lambda gz, raw: gz[: len(gz) // 2], "is truncated or not a gzip file"),
    (lambda gz, raw: gzip.compress(raw[:-100]), "is truncated or malformed: its header says 60×28×28 = 47040 bytes"),
    (lambda gz, raw: gzip.compress(b"\x00\x00\x08\x01" + raw[4:]), "is not an idx file of 3-D unsigned bytes"),
])
def test_truncated_or_malformed_idx_names_the_file(fmnist, damage, message):
    folder, arrays = fmnist
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes(), idx(arrays["train_images"])))
    with pytest.raises(DataError, match=str(path).replace(".", r"\.") + ".*" + message.replace(".", r"\.")):
        load(fm_cfg(folder), CPU, 0)


def test_wrong_image_shape_names_the_file(tmp_path, monkeypatch):
    arrays = fake_fmnist_arrays()
    arrays["train_images"] = arrays["train_images"][:, :27, :27].copy()
    monkeypatch.setattr(fashion_mnist, "FILES", write_fmnist(tmp_path, arrays))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz holds images of shape \(60, 27, 27\)"):
        load(fm_cfg(tmp_path), CPU, 0)


def test_missing_files_say_how_to_fix(fmnist, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as e:
        load(fm_cfg(empty), CPU, 0)
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz is not in" in msg and str(empty) in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "data.download=true" in msg
    # with no root: both places it looked are named
    with pytest.raises(DataError, match=r"no-debian or .*cache.*ablate.*fashion_mnist"):
        load({"name": "fashion_mnist", "download": False}, CPU, 0)


def test_root_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DataError, match=r"data\.root='.*file\.txt' is not a directory"):
        load(fm_cfg(f), CPU, 0)


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_from_local_http_server(fmnist, server, tmp_path):
    folder, arrays = fmnist
    www, url = server
    for f in folder.iterdir():
        (www / f.name).write_bytes(f.read_bytes())
    target = tmp_path / "downloaded"
    data = load(fm_cfg(target, download=True, url=url), CPU, 0)
    assert sorted(p.name for p in target.iterdir()) == sorted(n for n, _, _ in fashion_mnist.FILES.values())
    assert data.train.labels.tolist() == arrays["train_labels"].tolist()


def test_download_into_cache_when_root_is_null(fmnist, server, tmp_path):
    folder, _ = fmnist
    www, url = server
    for f in folder.iterdir():
        (www / f.name).write_bytes(f.read_bytes())
    data = load({"name": "fashion_mnist", "download": True, "url": url}, CPU, 0)
    assert Path(data.root) == tmp_path / "cache" / "ablate" / "fashion_mnist"
    assert len(data.val) == 20


def test_download_with_wrong_checksum_is_discarded(fmnist, server, tmp_path):
    folder, _ = fmnist
    www, url = server
    for f in folder.iterdir():
        (www / f.name).write_bytes(f.read_bytes())
    (www / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the published file")
    target = tmp_path / "downloaded"
    with pytest.raises(DataError, match=r"download of .*t10k-labels-idx1-ubyte\.gz has MD5 .* so it was discarded"):
        load(fm_cfg(target, download=True, url=url), CPU, 0)
    assert not (target / "t10k-labels-idx1-ubyte.gz").exists()
    assert not (target / "t10k-labels-idx1-ubyte.gz.part").exists()


def test_download_failure_says_how_to_fix(fmnist, tmp_path):
    url = (tmp_path / "nowhere").as_uri() + "/"
    with pytest.raises(DataError, match=r"could not download file://.*train-images-idx3-ubyte\.gz .*apt-get install"):
        load(fm_cfg(tmp_path / "a" / "dl", download=True, url=url), CPU, 0)
    # found by hand: a data.root that did not exist (a typo) was made for the download and left behind, empty
    assert not (tmp_path / "a").exists()


# ---------------------------------------------------------------- CIFAR (fake pickles and archives)

def cifar_pickle(d: dict) -> bytes:
    """Like the official files: a dict with byte-string keys, protocol 2."""
    return pickle.dumps({k.encode(): v for k, v in d.items()}, protocol=2)


def write_cifar(root: Path, name: str, n_train=40, n_test=20, seed=0, archive=True, extracted=False):
    """Fake CIFAR files in the official layout; returns (patched Variant, train images, train labels)."""
    v = cifar.VARIANTS[name]
    k = v.num_classes
    rng = np.random.default_rng(seed)
    files, md5s = {}, {}
    parts = {"train": [], "test": []}
    per_file = n_train // len(v.train)
    for split, members_ in (("train", v.train), ("test", v.test)):
        for fname, _ in members_:
            n = per_file if split == "train" else n_test
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = [int(i % k) for i in range(n)]
            files[fname] = cifar_pickle({"batch_label": "fake", v.label_key: labels, "data": data,
                                         "filenames": [f"{i}.png" for i in range(n)]})
            parts[split].append((data, labels))
    files[v.meta[0]] = cifar_pickle({v.names_key: [f"c{i}".encode() for i in range(k)]})
    root.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for fname, blob in files.items():
            info = tarfile.TarInfo(f"{v.folder}/{fname}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    if archive:
        (root / v.archive[0]).write_bytes(buf.getvalue())
    if extracted:
        (root / v.folder).mkdir(exist_ok=True)
        for fname, blob in files.items():
            (root / v.folder / fname).write_bytes(blob)
    patched = cifar.Variant(
        v.title, (v.archive[0], md5(buf.getvalue())), v.folder,
        tuple((f, md5(files[f])) for f, _ in v.train), tuple((f, md5(files[f])) for f, _ in v.test),
        (v.meta[0], md5(files[v.meta[0]])), v.label_key, v.names_key, k)
    images = np.concatenate([d for d, _ in parts["train"]]).reshape(-1, 3, 32, 32)
    labels = sum((l for _, l in parts["train"]), [])
    return patched, images, labels, buf.getvalue()


def c_cfg(name, root, **kw):
    return {"name": name, "root": str(root), "download": False, "augment": False, **kw}


@pytest.mark.parametrize("name, k", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_extracts_checks_and_loads(tmp_path, monkeypatch, name, k):
    variant, images, labels, _ = write_cifar(tmp_path, name, n_train=200 if k == 100 else 40)
    monkeypatch.setitem(cifar.VARIANTS, name, variant)
    data = load(c_cfg(name, tmp_path, mean=None, std=None), CPU, 0)
    assert (data.num_classes, data.in_channels, data.resolution) == (k, 3, 32)
    assert data.classes[:2] == ("c0", "c1") and len(data.classes) == k
    assert (tmp_path / variant.folder / variant.train[0][0]).is_file()
    assert data.train.labels.tolist() == labels
    # rows are R, G, B planes of 32×32: channel 0 of image 0 is the first 1024 bytes
    x, _ = x_of(data.train, 16)
    pixels = x * torch.tensor(data.std).view(1, 3, 1, 1) * 255 + torch.tensor(data.mean).view(1, 3, 1, 1) * 255
    assert torch.allclose(pixels, torch.from_numpy(images).float(), atol=1e-2)


def test_a_cifar_root_that_is_the_extracted_folder_itself_is_read(tmp_path, monkeypatch):
    """Found by hand: data.root pointing at the extracted cifar-10-batches-py folder itself (where the pickles
    are) looked for cifar-10-batches-py inside it, downloaded the archive into it (or, offline, said the data set
    was missing). The folder that holds the checked pickles is read as it is."""
    variant, _, labels, _ = write_cifar(tmp_path, "cifar10", archive=False, extracted=True)
    monkeypatch.setitem(cifar.VARIANTS, "cifar10", variant)
    folder = tmp_path / variant.folder
    before = sorted(p.name for p in folder.iterdir())
    data = load(c_cfg("cifar10", folder), CPU, 0)
    assert data.train.labels.tolist() == labels and sorted(p.name for p in folder.iterdir()) == before


def test_cifar_download_from_file_url(tmp_path, monkeypatch):
    www = tmp_path / "www"
    variant, _, labels, _ = write_cifar(www, "cifar10")
    monkeypatch.setitem(cifar.VARIANTS, "cifar10", variant)
    root = tmp_path / "root"
    data = load(c_cfg("cifar10", root, download=True, url=www.as_uri()), CPU, 0)
    assert (root / "cifar-10-python.tar.gz").is_file() and data.train.labels.tolist() == labels


def test_a_failed_cifar_download_names_the_folder_to_put_the_archive_in(tmp_path):
    """Found by hand (no network): `data=cifar10` said `put the official cifar-10-python.tar.gz in data.root`, without
    the folder that is, the cache folder when data.root is not set."""
    root = tmp_path / "root"
    with pytest.raises(DataError) as error:
        load(c_cfg("cifar10", root, download=True, url=(tmp_path / "nowhere").as_uri()), CPU, 0)
    assert str(error.value).endswith(f"; put the official cifar-10-python.tar.gz in data.root={str(root)!r}.")
    assert not root.exists()  # made for the download, and removed with it


def test_cifar_archive_checksum_mismatch_names_the_archive(tmp_path, monkeypatch):
    variant, *_ = write_cifar(tmp_path, "cifar10")
    bad = cifar.Variant(*[("cifar-10-python.tar.gz", "0" * 32) if f == "archive" else getattr(variant, f)
                          for f in cifar.Variant.__dataclass_fields__])
    monkeypatch.setitem(cifar.VARIANTS, "cifar10", bad)
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz has MD5 .* training is refused"):
        load(c_cfg("cifar10", tmp_path), CPU, 0)


def test_cifar_tampered_batch_names_the_file(tmp_path, monkeypatch):
    variant, *_ = write_cifar(tmp_path, "cifar10", archive=False, extracted=True)
    monkeypatch.setitem(cifar.VARIANTS, "cifar10", variant)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one pixel of the data array
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"data_batch_3 has MD5 [0-9a-f]{32} but the published file has"):
        load(c_cfg("cifar10", tmp_path), CPU, 0)


def test_cifar_wrong_shape_names_the_file(tmp_path, monkeypatch):
    variant, *_ = write_cifar(tmp_path, "cifar10", archive=False, extracted=True)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(cifar_pickle({"labels": [0, 1], "data": np.zeros((2, 1024), np.uint8)}))
    patched = cifar.Variant(*[((("test_batch", md5(path.read_bytes())),) if f == "test" else getattr(variant, f))
                              for f in cifar.Variant.__dataclass_fields__])
    monkeypatch.setitem(cifar.VARIANTS, "cifar10", patched)
    with pytest.raises(DataError, match=r"test_batch has data of shape \(2, 1024\)"):
        load(c_cfg("cifar10", tmp_path), CPU, 0)


def test_cifar_missing_says_how_to_fix(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-100 is missing: .*data\.download=true or put cifar-100-python\.tar\.gz"):
        load(c_cfg("cifar100", tmp_path), CPU, 0)


def test_safe_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil"
    path.write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match=r"evil is not a CIFAR python pickle .*is not allowed"):
        cifar.unpickle(path)


# ---------------------------------------------------------------- ImageNet-style folders

PIL = pytest.importorskip("PIL.Image")


@pytest.fixture
def folders(tmp_path):
    root = tmp_path / "imagenet"
    colours = {"n01": (255, 0, 0), "n02": (0, 255, 0), "n03": (0, 0, 255)}
    for split, count in (("train", 4), ("val", 2)):
        for k, (wnid, rgb) in enumerate(colours.items()):
            d = root / split / wnid
            d.mkdir(parents=True)
            for i in range(count):
                size = (40 + 8 * i, 30 + 4 * k)  # mixed sizes and aspect ratios
                PIL.new("RGB", size, rgb).save(d / f"{wnid}_{i}.JPEG" if i % 2 else d / f"{wnid}_{i}.png")
    return root


def in_cfg(root, **kw):
    return {"name": "imagenet", "root": str(root), "resolution": 16, "resize": 18, "workers": 0, **kw}


def test_imagenet_folders_stream_batches(folders):
    data = load(in_cfg(folders), CPU, 0)
    assert (data.num_classes, data.in_channels, data.resolution) == (3, 3, 16)
    assert data.classes == ("n01", "n02", "n03") and (len(data.train), len(data.val)) == (12, 6)
    x, y = x_of(data.val, 4)
    assert x.shape == (6, 3, 16, 16) and x.is_contiguous(memory_format=torch.channels_last)
    assert y.tolist() == [0, 0, 1, 1, 2, 2]
    # a solid red image, center-cropped, normalised: channel 0 is (1 - 0.485) / 0.229 (JPEG: ± a few levels)
    assert x[0, 0].mean().item() == pytest.approx((1 - 0.485) / 0.229, abs=0.05)
    assert x[0, 1].mean().item() == pytest.approx((0 - 0.456) / 0.224, abs=0.05)
    tx, ty = x_of(data.train, 4, train=True, epoch=1, seed=3)
    assert tx.shape == (12, 3, 16, 16) and sorted(ty.tolist()) == [0] * 4 + [1] * 4 + [2] * 4


def test_imagenet_crops_do_not_depend_on_workers(folders):
    serial = load(in_cfg(folders), CPU, 0)
    parallel = load(in_cfg(folders, workers=2), CPU, 0)
    a = x_of(serial.train, 4, train=True, epoch=2, seed=7)
    b = x_of(parallel.train, 4, train=True, epoch=2, seed=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("threads, workers", [(1, 1), (3, 3), (16, 8)])
def test_imagenet_workers_auto_are_the_training_processs_threads(folders, threads, workers):
    """Found by hand: the default of 8 DataLoader workers in each of the two DDP processes of a 2-core machine
    (16 decoders on 2 cores, and torch's warning about it twice). `auto` (the default) starts one worker per
    thread of the training process, whose count already is its share of the job's cores, at most 8."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        data = load(in_cfg(folders, workers="auto"), CPU, 0)
    finally:
        torch.set_num_threads(before)
    assert (data.train.workers, data.val.workers) == (workers, workers)
    assert compose(["data=imagenet"]).data.workers == "auto"


def test_imagenet_workers_are_forked_from_the_training_process(folders, monkeypatch):
    """Found by hand: in a DDP process (started by the fork server) torch's DataLoader took the process's own start
    method, forkserver, whose new server imports torch afresh: about 3 s per loader per epoch (a 2-process run of
    120 images trained at 17 img/s, against 327 with data.workers=0). Workers are forked from the training process,
    as the DataLoader does by default in a process Python started itself."""
    import multiprocessing

    made = []
    real = torch.utils.data.DataLoader

    def recording(*args, **kw):
        made.append(kw.get("multiprocessing_context"))
        return real(*args, **kw)

    monkeypatch.setattr(torch.utils.data, "DataLoader", recording)
    data = load(in_cfg(folders, workers=1), CPU, 0)
    next(iter(data.train.batches(4, train=True, epoch=0, seed=0)))
    (context,) = made
    assert context == "fork" or context.get_start_method() == "fork"
    assert "fork" in multiprocessing.get_all_start_methods()


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_image_is_one_sentence_from_any_worker(folders, workers):
    """Found by hand: a file that is no image, decoded in a DataLoader worker, ended the run in torch's re-raise of
    the error, whose message is the worker's whole traceback ("Caught DataError in DataLoader worker process 0.
    Original Traceback …"). The sentence is the error's own, as without workers."""
    bad = folders / "train" / "n02" / "n02_9.png"
    bad.write_bytes(b"not an image")
    data = load(in_cfg(folders, workers=workers), CPU, 0)
    with pytest.raises(DataError) as e:
        x_of(data.train, 4, train=True, epoch=0, seed=0)
    assert _reason(e.value) == (
        f"{bad} is not a readable image (cannot identify image file '{bad}'); remove or replace it."
    )


def test_a_training_class_folder_without_images_is_refused(folders):
    """Found by hand: an empty class folder under train/ counted as a class (the model was asked for one output
    more) whose images never come: a class no run can learn. It is refused, naming the folder."""
    (folders / "train" / "n04").mkdir()
    (folders / "train" / "n04" / "notes.txt").write_text("")
    with pytest.raises(DataError) as e:
        load(in_cfg(folders), CPU, 0)
    assert str(e.value) == (
        f"{folders / 'train' / 'n04'} holds no images (.jpeg, .jpg, .png, .ppm, .bmp, .webp): each class folder "
        "under train/ needs at least one; add its images or remove the folder."
    )


def test_imagenet_needs_a_root(tmp_path):
    with pytest.raises(DataError, match=r"data\.root=null is not a directory: data=imagenet needs"):
        load({"name": "imagenet"}, CPU, 0)
    (tmp_path / "train" / "n01").mkdir(parents=True)
    with pytest.raises(DataError, match=r"val is not a directory"):
        load(in_cfg(tmp_path), CPU, 0)


# ---------------------------------------------------------------- synthetic, subsets, batches

def syn(**kw):
    return {"name": "synthetic", "num_samples": 200, "val_samples": 100, "resolution": 12, "in_channels": 2,
            "num_classes": 5, **kw}


def test_synthetic_is_seeded_balanced_and_learnable():
    a, b, c = load(syn(), CPU, 1), load(syn(), CPU, 1), load(syn(), CPU, 2)
    assert (a.num_classes, a.in_channels, a.resolution, len(a.train), len(a.val)) == (5, 2, 12, 200, 100)
    assert torch.equal(a.train.images, b.train.images) and not torch.equal(a.train.images, c.train.images)
    assert torch.bincount(a.train.labels).tolist() == [40] * 5
    # learnable: the nearest class mean of the training images classifies held-out images well
    x, y = x_of(a.train)
    means = torch.stack([x[y == k].mean(0) for k in range(5)]).flatten(1)
    vx, vy = x_of(a.val)
    predicted = torch.cdist(vx.flatten(1), means).argmin(1)
    assert (predicted == vy).float().mean() > 0.9


def test_balanced_subset_counts_and_determinism():
    labels = torch.tensor([0] * 2 + [1] * 10 + [2] * 10)
    assert class_counts(labels, 12, seed=0).tolist() == [2, 5, 5]  # class 0 gives all it has
    assert sorted(class_counts(labels, 13, seed=0).tolist()) == [2, 5, 6]
    assert class_counts(labels, 22, seed=0).tolist() == [2, 10, 10]
    a, b = balanced_subset(labels, 13, seed=4), balanced_subset(labels, 13, seed=4)
    assert torch.equal(a, b) and torch.equal(a, a.sort().values) and a.unique().numel() == 13
    assert any(not torch.equal(a, balanced_subset(labels, 13, seed=s)) for s in range(5, 10))


def test_subset_of_a_data_set_is_balanced(fmnist):
    folder, _ = fmnist
    data = load(fm_cfg(folder, train_subset=30, val_subset=10), CPU, 3)
    assert torch.bincount(data.train.labels, minlength=10).tolist() == [3] * 10
    assert torch.bincount(data.val.labels, minlength=10).tolist() == [1] * 10
    again = load(fm_cfg(folder, train_subset=30, val_subset=10), CPU, 3)
    assert torch.equal(data.train.images, again.train.images)


@pytest.mark.parametrize("field, value, message", [
    ("train_subset", 61, r"data\.train_subset=61 is larger than the 60 images of the Fashion-MNIST train split: use at most 60"),
    ("val_subset", 21, r"data\.val_subset=21 is larger than the 20 images .* use at most 20"),
    ("train_subset", 0, r"data\.train_subset=0 is invalid: it must be a whole number of at least 1 or null"),
    ("pad", -1, r"data\.pad=-1 is invalid: it must be a whole number of at least 0"),
    ("mean", [0.1, 0.2], r"data\.mean=\[0\.1,0\.2\] is invalid: it must be a list of 1 number "),
    ("std", [0.0], r"data\.std=\[0\.0\] is invalid: it must be a list of 1 positive number"),
    ("augment", "yes", r"data\.augment='yes' is invalid: it must be true or false"),
])
def test_bad_fields_name_field_value_and_valid(fmnist, field, value, message):
    folder, _ = fmnist
    with pytest.raises(ConfigError, match=message):
        load(fm_cfg(folder, **{field: value}), CPU, 0)


def test_unknown_data_set_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"data\.name='mnist' is unknown: available data sets are "
                                          r"cifar10, cifar100, fashion_mnist, imagenet, synthetic\."):
        load({"name": "mnist"}, CPU, 0)


def test_every_data_config_loads_as_options():
    from omegaconf import OmegaConf

    from ablate.data.options import options

    for name in available():
        node = OmegaConf.create(defaults(name))  # the yaml as Hydra gives it
        assert options(node).name == name


def test_augmentation_is_pad_crop_flip_and_seeded():
    data = load(syn(augment=True, pad=3, num_samples=64), CPU, 0)
    split = data.train
    xs = [x for x, _ in split.batches(16, train=True, epoch=5, seed=9)]
    assert all(x.shape == (16, 2, 12, 12) and x.is_contiguous(memory_format=torch.channels_last) for x in xs)
    # the same crops and flips, built the slow way from the zero-padded images
    order = split.order(16, train=True, epoch=5, seed=9)
    shifts, flips = split.augmentation(5, 9)
    padded = F.pad(load(syn(num_samples=64), CPU, 0).train.images, (3, 3, 3, 3))
    crops = []
    for i in order.tolist():
        dy, dx = shifts[i].tolist()
        crop = padded[i, :, dy:dy + 12, dx:dx + 12]
        crops.append(crop.flip(-1) if flips[i] else crop)
    assert torch.equal(torch.cat(xs), split.normalize(torch.stack(crops)))
    assert 0 < int(flips.sum()) < 64 and shifts.min() == 0 and shifts.max() == 6
    # seeded: the same (seed, epoch) repeats, another epoch differs
    again = torch.cat([x for x, _ in split.batches(16, train=True, epoch=5, seed=9)])
    other = torch.cat([x for x, _ in split.batches(16, train=True, epoch=6, seed=9)])
    assert torch.equal(torch.cat(xs), again) and not torch.equal(again, other)
    # evaluation: the original images, in order, unaugmented
    x, y = x_of(split, 10)
    plain = load(syn(num_samples=64), CPU, 0).train
    assert torch.equal(x, plain.normalize(plain.images)) and torch.equal(y, plain.labels)


def test_shards_are_disjoint_and_equal_across_ranks():
    split = load(syn(num_samples=100), CPU, 0).train
    world = 3
    shards = [split.order(8, train=True, epoch=1, seed=0, rank=r, world_size=world) for r in range(world)]
    assert [len(s) for s in shards] == [32] * 3  # 100 // 3 = 33 per rank, cut to 4 whole batches of 8
    assert torch.cat(shards).unique().numel() == 96
    counts = [sum(1 for _ in split.batches(8, train=True, epoch=1, seed=0, rank=r, world_size=world))
              for r in range(world)]
    assert counts == [split.num_batches(8, drop_last=True, world_size=world)] * 3 == [4] * 3
    # every rank sees the same permutation: rank r's shard is every 3rd entry of it
    assert torch.equal(split.order(8, train=True, epoch=1, seed=0)[:8],
                       torch.randperm(100, generator=generator(0, 1))[:8])
    # evaluation covers every image exactly once across ranks
    seen = [x_of(split, 7, rank=r, world_size=world)[1] for r in range(world)]
    assert sum(len(s) for s in seen) == 100
    ev = [split.order(7, train=False, epoch=0, seed=0, rank=r, world_size=world) for r in range(world)]
    assert sorted(torch.cat(ev).tolist()) == list(range(100))
    assert [split.num_batches(7, drop_last=False, rank=r, world_size=world) for r in range(world)] == [5, 5, 5]
    with pytest.raises(ConfigError, match=r"batch_size=64 is larger than the 33 training images each of the 3 rank"):
        next(split.batches(64, train=True, epoch=0, seed=0, world_size=3))


def test_normalisation_uses_measured_stats_when_null():
    data = load(syn(mean=None, std=None), CPU, 0)
    x, _ = x_of(data.train)
    assert x.mean((0, 2, 3)).abs().max() < 1e-4
    assert (x.transpose(0, 1).flatten(1).std(1) - 1).abs().max() < 1e-3
    mean, std = channel_stats(data.train.images)
    assert data.mean == pytest.approx(mean) and data.std == pytest.approx(std)


# ---------------------------------------------------------------- the real Fashion-MNIST

REAL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (REAL / "train-images-idx3-ubyte.gz").is_file(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian():
    data = load({"name": "fashion_mnist", "download": False, "augment": False}, CPU, 0)
    assert data.root == str(REAL)  # found without data.root
    # published facts (Xiao et al., 2017): 60000 training and 10000 test images, 6000 and 1000 per class
    assert (len(data.train), len(data.val)) == (60000, 10000)
    assert torch.bincount(data.train.labels).tolist() == [6000] * 10
    assert torch.bincount(data.val.labels).tolist() == [1000] * 10
    # the configured mean/std are the training images' own (to the 4 decimals in the yaml)
    mean, std = channel_stats(data.train.images)
    assert mean[0] == pytest.approx(0.2860, abs=5e-5) and std[0] == pytest.approx(0.3530, abs=5e-5)
