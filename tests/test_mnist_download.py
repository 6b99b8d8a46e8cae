"""download_mnist and read_checksums, against the shared t10k files served on 127.0.0.1.

The shared gzip files were recompressed, so their SHA-256 differs from the published one: the
tests compute the served files' checksums, and check that the published defaults refuse them.
"""

import hashlib
from pathlib import Path

import pytest

import nerve.data
from nerve.data import (
    MNIST_BASE_URL,
    MNIST_SHA256,
    download_mnist,
    mnist_t10k_split,
    read_checksums,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST = SHARED / "mnist-t10k"
IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
PUBLISHED = {  # the SHA-256 of the original files, as listed by TensorFlow Datasets
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


@pytest.fixture
def mnist() -> Path:
    if not MNIST.is_dir():
        pytest.skip(f"shared MNIST t10k files not found at {MNIST}")
    return MNIST


@pytest.fixture
def served(mnist):
    """The served files' SHA-256 (name -> digest)."""
    return {name: hashlib.sha256((mnist / name).read_bytes()).hexdigest()
            for name in (IMAGES, LABELS)}


@pytest.fixture
def server(mnist, mnist_server):
    """(base URL, the list of paths requested so far) of a server of the shared t10k files."""
    return mnist_server


def test_published_checksums_and_url_are_the_defaults():
    assert dict(MNIST_SHA256) == PUBLISHED
    assert MNIST_BASE_URL == "https://storage.googleapis.com/cvdf-datasets/mnist/"
    assert nerve.data.MNIST_SHA256 is MNIST_SHA256
    with pytest.raises(TypeError):  # read-only: a caller overrides with sha256=
        MNIST_SHA256["t10k-images-idx3-ubyte.gz"] = "0" * 64


def test_download_with_the_right_checksums_gives_the_split(server, served, mnist, tmp_path):
    url, requests = server
    root = tmp_path / "mnist"
    assert download_mnist(root, base_url=url + "/", sha256=served) == root
    assert sorted(requests) == [f"/{IMAGES}", f"/{LABELS}"]  # exactly one "/" joins the URL
    assert sorted(p.name for p in root.iterdir()) == [IMAGES, LABELS]
    assert (root / IMAGES).read_bytes() == (mnist / IMAGES).read_bytes()
    (xt, yt), (xe, ye) = mnist_t10k_split(root)
    assert xt.shape == (8000, 784) and xe.shape == (2000, 784)
    assert yt.shape == (8000,) and ye.shape == (2000,)


def test_a_second_download_fetches_nothing(server, served, tmp_path):
    url, requests = server
    download_mnist(tmp_path, "t10k", url, served)  # no trailing "/" on the base URL
    assert sorted(requests) == [f"/{IMAGES}", f"/{LABELS}"]
    download_mnist(str(tmp_path), "t10k", url, served)
    assert len(requests) == 2


def test_a_wrong_checksum_names_both_digests_and_writes_nothing(server, served, tmp_path):
    url, _ = server
    wrong = dict(served, **{IMAGES: "ab" * 32})
    with pytest.raises(ValueError) as err:
        download_mnist(tmp_path / "mnist", base_url=url, sha256=wrong)
    assert "ab" * 32 in str(err.value) and served[IMAGES] in str(err.value)
    root = tmp_path / "mnist"
    assert not root.exists() or list(root.iterdir()) == []


def test_the_published_checksums_refuse_the_recompressed_files(server, served, tmp_path):
    url, _ = server
    assert served[IMAGES] != PUBLISHED[IMAGES]  # the shared files were recompressed
    with pytest.raises(ValueError, match=f"expected sha256 {PUBLISHED[IMAGES]}, "
                                         f"received {served[IMAGES]}"):
        download_mnist(tmp_path, base_url=url)
    assert list(tmp_path.iterdir()) == []


def test_checksums_from_a_sha256sum_file(server, served, tmp_path):
    url, _ = server
    listing = tmp_path / "SHA256SUMS"
    listing.write_text(f"# the served (recompressed) files\n\n{served[IMAGES].upper()}  {IMAGES}\n"
                       f"{served[LABELS]} *{LABELS}\r\n")
    assert read_checksums(listing) == served
    root = download_mnist(tmp_path / "mnist", sha256=read_checksums(listing), base_url=url)
    assert sorted(p.name for p in root.iterdir()) == [IMAGES, LABELS]


def test_a_file_url_mirror(served, mnist, tmp_path):
    root = download_mnist(tmp_path, base_url=mnist.as_uri(), sha256=served)
    assert (root / LABELS).read_bytes() == (mnist / LABELS).read_bytes()


@pytest.mark.parametrize("text, where", [
    ("abc  t10k-images-idx3-ubyte.gz\n", "line 1"),
    (f"# fine\n{'0' * 64}\n", "line 2"),  # no name
    (f"\n{'0' * 64}{IMAGES}\n", "line 2"),  # no space between digest and name
    (f"{'0' * 63}g  {IMAGES}\n", "line 1"),
    (f"{'0' * 64}  {IMAGES}\n{'1' * 64}  {IMAGES}\n", "line 2"),  # two digests for one name
])
def test_read_checksums_names_the_file_and_line_of_a_bad_line(tmp_path, text, where):
    path = tmp_path / "sums.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"sums.txt, {where}"):
        read_checksums(path)


def test_read_checksums_of_an_empty_or_comment_only_file(tmp_path):
    path = tmp_path / "sums.txt"
    path.write_text("# nothing yet\n\n   \n")
    assert read_checksums(path) == {}
    digest = "0" * 64
    path.write_text(f"{digest}  {IMAGES}\n{digest}  {IMAGES}\n")  # a repeat that agrees
    assert read_checksums(path) == {IMAGES: digest}


@pytest.mark.parametrize("kwargs, error, text", [
    ({"split": "test"}, ValueError, "split"),
    ({"base_url": "ftp://example.org/mnist/"}, ValueError, "base_url"),
    ({"base_url": "storage.googleapis.com/mnist"}, ValueError, "base_url"),
    ({"base_url": None}, ValueError, "base_url"),
    ({"sha256": ["0" * 64]}, TypeError, "sha256"),
    ({"sha256": {IMAGES: "abc"}}, ValueError, "sha256"),
])
def test_download_mnist_rejects_bad_arguments(tmp_path, kwargs, error, text):
    with pytest.raises(error, match=f"download_mnist: .*{text}="):
        download_mnist(tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_download_mnist_rejects_a_root_that_is_not_a_path():
    with pytest.raises(TypeError, match="root"):
        download_mnist(None)
