"""Data that arrives by itself: the download from mirrors, against a local HTTP server serving the real files."""
import functools
import gzip
import http.server
import threading

import numpy as np
import pytest

from rdsweep import data
from rdsweep.config import DataConfig
from rdsweep.data import download
from rdsweep.errors import RdsweepError

FILES = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www (a mirror), its base URL; it logs nothing."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_the_real_files_are_downloaded_checked_and_read(server, mnist_dir, tmp_path):
    root, url = server
    for name in FILES:
        (root / name).write_bytes((mnist_dir / name).read_bytes())
    (root / "mirror-b").mkdir()
    dest = tmp_path / "cache" / "mnist"
    cfg = DataConfig(dir=str(dest), mirrors=[url + "missing/", url])  # the first mirror answers 404
    test = data.load_split(cfg, "test")  # downloads what it needs, the test split only
    assert [p.name for p in dest.iterdir()] == [FILES[1]] and test.shape == (10000, 28, 28, 1)
    data.ensure_available(cfg)
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)  # nothing else: no temporary file left
    np.testing.assert_array_equal(data.load_split(cfg, "train")[:100],
                                  data.load_split(DataConfig(dir=str(mnist_dir)), "train")[:100])


def test_a_corrupted_file_is_refused_and_not_kept(server, mnist_dir, tmp_path):
    root, url = server
    raw = bytearray(gzip.decompress((mnist_dir / FILES[1]).read_bytes()))
    raw[5000] ^= 1  # one pixel: a valid IDX file, the wrong content
    (root / FILES[1]).write_bytes(gzip.compress(bytes(raw)))
    dest = tmp_path / "d" / "mnist"
    with pytest.raises(RdsweepError, match=r"t10k-images-idx3-ubyte.gz: checksum mismatch .* the file was refused\): "
                                           r"download t10k-images-idx3-ubyte.gz from http://127.0.0.1"):
        download.fetch("mnist", dest, ["test"], [url])
    assert not (tmp_path / "d").exists()  # the directories it made are gone again, nothing half-written stays


def test_the_content_is_checked_not_the_gzip_wrapper(server, mnist_dir, tmp_path):
    """A mirror that re-compresses the same IDX bytes (another gzip level, another header) is fine."""
    root, url = server
    (root / FILES[1]).write_bytes(gzip.compress(gzip.decompress((mnist_dir / FILES[1]).read_bytes()), 1, mtime=0))
    download.fetch("mnist", tmp_path, ["test"], [url])
    assert download.content_sha256(tmp_path / FILES[1], 1 << 30) == (download.DATASETS["mnist"].files["test"].sha256,
                                                                    7840016)


def test_no_network_is_one_line_naming_the_files_and_where_to_put_them(tmp_path):
    with pytest.raises(RdsweepError) as e:
        data.ensure_available(DataConfig(dir=str(tmp_path / "m"), mirrors=["http://127.0.0.1:9/", "http://127.0.0.1:9/x/"]))
    message = str(e.value)
    assert "\n" not in message and "every mirror failed with" in message
    files = "train-images-idx3-ubyte.gz, t10k-images-idx3-ubyte.gz"
    assert f"download {files} from http://127.0.0.1:9/ into {tmp_path / 'm'}" in message
    assert "RDSWEEP_DATA_DIR" in message


def test_the_default_directory_rule(monkeypatch, tmp_path):
    monkeypatch.setenv("RDSWEEP_DATA_DIR", str(tmp_path / "here"))
    assert data.data_dir(DataConfig()) == tmp_path / "here"
    monkeypatch.delenv("RDSWEEP_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_dir(DataConfig()) == tmp_path / "cache" / "rdsweep" / "mnist"
    assert data.data_dir(DataConfig(dir=str(tmp_path / "mine"))) == tmp_path / "mine"
    monkeypatch.setenv("RDSWEEP_FASHION_DIR", str(tmp_path / "f"))
    assert data.data_dir(DataConfig(name="fashion_mnist")) == tmp_path / "f"
