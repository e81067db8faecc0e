import numpy as np
import pytest

from yolactedge.data.errors import DatasetError
from yolactedge.data.flo import read_flo, write_flo


def test_round_trip_is_exact(tmp_path):
    flow = np.random.default_rng(0).normal(0, 10, (7, 9, 2)).astype(np.float32)
    path = write_flo(tmp_path / "a.flo", flow)
    data = path.read_bytes()
    assert np.frombuffer(data[:4], "<f4")[0] == np.float32(202021.25)
    assert tuple(np.frombuffer(data[4:12], "<i4")) == (9, 7)  # width, then height
    assert len(data) == 12 + 7 * 9 * 2 * 4
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == (7, 9, 2)
    np.testing.assert_array_equal(back, flow)


def test_rejects_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_flo(tmp_path / "missing.flo")
    (tmp_path / "bad.flo").write_bytes(b"XXXX" + b"\0" * 20)
    with pytest.raises(DatasetError, match="magic"):
        read_flo(tmp_path / "bad.flo")
    path = write_flo(tmp_path / "cut.flo", np.zeros((4, 4, 2), np.float32))
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DatasetError, match="truncated"):
        read_flo(path)
    with pytest.raises(ValueError, match="HxWx2"):
        write_flo(tmp_path / "x.flo", np.zeros((4, 4, 3), np.float32))
