"""Physiological loaders: a WFDB record with annotations, and the `.ts` format of aeon's series."""

from __future__ import annotations

import numpy as np
import pytest

from minaction.data import DataContext
from minaction.data.files import RemoteFile
from minaction.data.physiological import (
    BEAT_AFTER,
    BEAT_BEFORE,
    MitbihSource,
    extract_beats,
    load_mitbih,
)
from minaction.data.ts_format import read_ts
from minaction.errors import DataIntegrityError, DatasetUnavailableError

# -- the .ts format -------------------------------------------------------------------------------

TS_FILE = """\
# A comment line
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength true
@seriesLength 3
@classLabel true up down
@data
1.0,2.0,3.0:0.5,0.5,?:up
3.0,2.0,1.0:1.5,1.5,1.5:down
"""


def test_ts_file_is_read_as_cases_time_features(tmp_path):
    path = tmp_path / "Toy_TRAIN.ts"
    path.write_text(TS_FILE)

    series = read_ts(path)

    assert series.problem == "Toy" and series.class_labels == ("up", "down")
    assert series.values.shape == (2, 3, 2) and series.values.dtype == np.float32
    assert series.values[0, :, 0].tolist() == [1.0, 2.0, 3.0]  # first dimension over time
    assert np.isnan(series.values[0, 2, 1])  # '?' is missing
    assert series.labels.tolist() == ["up", "down"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("1.0,2.0,3.0:0.5,0.5,?:up", "1.0,2.0:0.5,0.5:up"), "unequal"),
        ((":down\n", ":sideways\n"), "not among the declared classes"),
        (("@classLabel true up down", "@classLabel false"), "no '@classLabel true"),
        (("0.5,0.5,?", "0.5,x,?"), "line 11"),
    ],
)
def test_malformed_ts_file_is_named(tmp_path, change, message):
    path = tmp_path / "Bad.ts"
    path.write_text(TS_FILE.replace(*change))

    with pytest.raises(DataIntegrityError, match=message):
        read_ts(path)


def test_truncated_ts_file_is_caught(tmp_path):
    path = tmp_path / "Cut.ts"
    path.write_text(TS_FILE.split("@data")[0])

    with pytest.raises(DataIntegrityError, match="no cases after @data"):
        read_ts(path)


# -- MIT-BIH (WFDB) -------------------------------------------------------------------------------


def write_record(directory, name: str, symbols: str, seed: int):
    """A 20 s, 360 Hz, two-lead WFDB record with an annotated beat every second.

    Each beat is a narrow spike whose height is its index in `symbols`, so beats can be told
    apart after extraction.
    """
    wfdb = pytest.importorskip("wfdb")
    rng = np.random.default_rng(seed)
    fs, seconds = 360, 20
    ecg = rng.normal(0, 0.01, size=(fs * seconds, 2))
    peaks = np.arange(1, len(symbols) + 1) * fs
    for k, peak in enumerate(peaks):
        ecg[peak - 2 : peak + 3, 0] += 1.0 + k
    wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=["MLII", "V1"], p_signal=ecg,
                fmt=["212", "212"], write_dir=str(directory))  # fmt: skip
    wfdb.wrann(name, "atr", peaks, symbol=list(symbols), write_dir=str(directory))
    return peaks


def test_beats_are_cut_around_annotated_r_peaks(tmp_path):
    # N, V, '+' (a rhythm change, not a beat), A, F, '/' (paced: class Q), ... and a last beat
    # at 20 s, too close to the end of the 20 s record for its window.
    write_record(tmp_path, "101", "NV+AF/" + "N" * 12 + "LN", seed=0)

    beats, classes = extract_beats(tmp_path / "101")

    assert beats.shape == (18, BEAT_BEFORE + BEAT_AFTER)  # 20 annotations less '+' and the last
    assert classes[:5].tolist() == [0, 2, 1, 3, 4]  # N V A F / → AAMI N V S F Q (0..4 = NSVFQ)
    assert abs(int(beats[1].argmax()) - BEAT_BEFORE) <= 2  # the 5-sample spike is centred
    assert beats[1].max() == pytest.approx(2.0, abs=0.05)  # the second spike is 1 + 1 high


def test_mitbih_split_is_by_patient(tmp_path):
    write_record(tmp_path, "101", "NNVNNANNNNFNNNNNNN", seed=1)  # a DS1 (train) patient
    write_record(tmp_path, "100", "NNNNVNNNNNNNNNNNNN", seed=2)  # a DS2 (test) patient
    source = MitbihSource(train_records=("101",), test_records=("100",), sums=None)
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "cache")

    x_train, y_train, x_test, y_test = load_mitbih(ctx, source=source)

    assert x_train.shape == (18, 256, 1) and x_test.shape == (18, 256, 1)
    assert y_train.tolist().count(2) == 1 and y_test.tolist().count(2) == 1
    assert float(x_train.std()) == pytest.approx(1.0, rel=0.05)  # scaled by the train spread
    assert len(list((ctx.cache_dir / "mitbih" / "derived").glob("*.npz"))) == 1


def test_damaged_wfdb_record_is_named(tmp_path):
    write_record(tmp_path, "101", "N" * 10, seed=3)
    (tmp_path / "101.dat").write_bytes((tmp_path / "101.dat").read_bytes()[:100])

    with pytest.raises(DataIntegrityError, match=r"WFDB record .*101 cannot be read"):
        extract_beats(tmp_path / "101")


def test_missing_records_are_listed(tmp_path):
    write_record(tmp_path, "101", "N" * 10, seed=4)
    source = MitbihSource(train_records=("101",), test_records=("100",), sums=None)
    ctx = DataContext.create(data_dir=tmp_path, cache_dir=tmp_path / "cache")

    with pytest.raises(DatasetUnavailableError, match=r"missing 100.hea, 100.dat, 100.atr"):
        load_mitbih(ctx, source=source)


def test_mitbih_download_is_checked_against_the_published_list(tmp_path, local_server):
    import hashlib

    write_record(tmp_path, "101", "N" * 15, seed=5)
    write_record(tmp_path, "100", "NV" * 7, seed=6)
    source_files = [f"{r}.{ext}" for r in ("101", "100") for ext in ("hea", "dat", "atr")]
    for name in source_files:
        local_server.files[name] = (tmp_path / name).read_bytes()
    listing = "".join(
        f"{hashlib.sha256(local_server.files[n]).hexdigest()} {n}\n" for n in source_files
    ).encode()
    local_server.files["SHA256SUMS.txt"] = listing
    sums = RemoteFile("SHA256SUMS.txt", (local_server.url + "SHA256SUMS.txt",),
                      "sha256:" + hashlib.sha256(listing).hexdigest())  # fmt: skip
    source = MitbihSource(("101",), ("100",), base_url=local_server.url, sums=sums)
    ctx = DataContext.create(cache_dir=tmp_path / "cache")

    x_train, _, _, y_test = load_mitbih(ctx, source=source)

    assert x_train.shape == (15, 256, 1) and y_test.tolist().count(2) == 7
    assert (ctx.cache_dir / "mitbih" / "100.dat").is_file()

    # A record file altered in the cache no longer matches the list, and is named.
    damaged = ctx.cache_dir / "mitbih" / "100.atr"
    damaged.write_bytes(damaged.read_bytes()[:-4])
    with pytest.raises(DataIntegrityError, match=r"100\.atr fails its sha256 checksum"):
        load_mitbih(ctx, source=source)
