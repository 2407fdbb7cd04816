"""TRC and MOT readers/writers on OpenSim's own files, checked against OpenSim's readers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mv3d.errors import InputError
from mv3d.io import read_mot, read_trc, write_mot, write_trc
from mv3d.io.atomic import atomic_write

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GAIT = DATA / "opensim-gait2354"
needs_data = pytest.mark.skipif(not GAIT.exists(), reason=f"reference data not found: {GAIT}")


@pytest.fixture(scope="module")
def walk():
    return read_trc(GAIT / "subject01_walk1.trc")


@needs_data
def test_read_walk_trc(walk):
    assert walk.points.shape == (151, 41, 3)
    assert walk.units == "mm" and walk.rate == 60.0
    assert walk.marker_names[:3] == ["R.ASIS", "L.ASIS", "V.Sacral"] and walk.marker_names[-1] == "Top.Head"
    np.testing.assert_array_equal(walk.frame_numbers, np.arange(1, 152))
    # First value of the file is 617.247620 mm; points are always metres.
    assert walk.points[0, 0, 0] == pytest.approx(0.61724762, abs=1e-12)
    assert walk.times[1] == pytest.approx(0.017)


@needs_data
def test_trc_round_trip_identical_and_opensim_reads_it(walk, tmp_path):
    import opensim

    out = tmp_path / "walk_copy.trc"
    write_trc(out, walk.points, walk.marker_names, walk.times, units="mm", rate=walk.rate)
    again = read_trc(out)
    # mm -> m -> mm with 6 decimals reproduces the file's digits: values are identical.
    np.testing.assert_array_equal(again.points, walk.points)
    np.testing.assert_array_equal(again.times, walk.times)
    assert again.marker_names == walk.marker_names and again.units == "mm" and again.rate == 60.0

    table = opensim.TimeSeriesTableVec3(str(out))
    assert list(table.getColumnLabels()) == walk.marker_names
    assert table.getNumRows() == 151
    assert table.getTableMetaDataAsString("Units") == "mm"
    times = np.array([table.getIndependentColumn()[i] for i in range(table.getNumRows())])
    np.testing.assert_allclose(times, walk.times, atol=1e-12)
    for i in (0, 75, 150):
        row = table.getRowAtIndex(i)
        vals = np.array([[row[m][k] for k in range(3)] for m in range(41)])
        np.testing.assert_allclose(vals, walk.points[i] * 1000, rtol=0, atol=1e-9)


@needs_data
def test_trc_in_metres_with_missing_markers_read_by_opensim(walk, tmp_path):
    import opensim

    pts = walk.points.copy()
    pts[10:20, 0] = np.nan   # first marker missing
    pts[30:40, -1] = np.nan  # last marker missing: empty trailing fields would break OpenSim 4.6
    out = tmp_path / "walk_m.trc"
    write_trc(out, pts, walk.marker_names, walk.times, units="m")
    again = read_trc(out)
    assert again.units == "m"
    # 9 decimals in metres: rounding error <= 5e-10 m.
    np.testing.assert_allclose(again.points, pts, atol=5e-10, rtol=0)
    np.testing.assert_array_equal(np.isnan(again.points), np.isnan(pts))
    table = opensim.TimeSeriesTableVec3(str(out))
    assert table.getNumRows() == 151
    assert np.isnan(table.getRowAtIndex(35)[40][0]) and np.isnan(table.getRowAtIndex(15)[0][2])
    assert table.getRowAtIndex(0)[0][0] == pytest.approx(pts[0, 0, 0], abs=1e-9)


def test_reader_accepts_empty_fields_and_loose_header(tmp_path):
    # Header values separated by double tabs (as in Rajagopal's mocap file) and an empty
    # marker (written by older tools) are read; empty fields are missing -> NaN.
    text = ("PathFileType  4\t(X/Y/Z) somewhere\n"
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames\n"
            "  100.0\t\t  100.0\t\t    2\t\t     2\t\t mm\t  100.0\t      1\t    2\n"
            "Frame#\tTime\tA\t\t\tB\t\t\t\n\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n"
            "1\t0.00\t1\t2\t3\t\t\t\n"
            "2\t0.01\t4\t5\t6\t7\t8\t9\n")
    path = tmp_path / "loose.trc"
    path.write_text(text)
    trc = read_trc(path)
    assert trc.marker_names == ["A", "B"] and trc.rate == 100.0
    assert np.isnan(trc.points[0, 1]).all()
    np.testing.assert_allclose(trc.points[1], [[0.004, 0.005, 0.006], [0.007, 0.008, 0.009]])


@needs_data
def test_trc_with_missing_column_is_one_clear_error(tmp_path):
    lines = (GAIT / "subject01_walk1.trc").read_text().splitlines()
    fields = lines[9].split("\t")
    lines[9] = "\t".join(fields[:5] + fields[6:])  # drop one coordinate of frame 4
    bad = tmp_path / "bad.trc"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        read_trc(bad)
    assert str(err.value) == (f"{bad}: line 10 has 124 columns, expected 125 (Frame#, Time and X/Y/Z of "
                              f"41 markers); a column is missing or extra")


def test_trc_marker_count_mismatch(tmp_path):
    path = tmp_path / "names.trc"
    write_trc(path, np.zeros((2, 2, 3)), ["A", "B"], np.array([0.0, 0.01]))
    text = path.read_text().replace("Frame#\tTime\tA\t\t\tB\t\t", "Frame#\tTime\tA\t\t")
    path.write_text(text)
    with pytest.raises(InputError, match="NumMarkers=2 but line 4 names 1 markers"):
        read_trc(path)


@needs_data
def test_mot_reference_round_trip_and_opensim_reads_it(tmp_path):
    import opensim

    ref = read_mot(GAIT / "reference" / "subject01_walk1_ik.mot")
    assert ref.values.shape == (73, 23) and ref.in_degrees and ref.name == "Coordinates"
    assert ref.columns[0] == "pelvis_tilt" and ref.times[0] == pytest.approx(0.4)
    assert ref.column("knee_angle_r")[0] == pytest.approx(-54.91982332)
    out = tmp_path / "ik.mot"
    write_mot(out, ref.times, ref.values, ref.columns, in_degrees=True, name=ref.name)
    again = read_mot(out)
    # 8 decimals, as in the reference file: values identical.
    np.testing.assert_array_equal(again.values, ref.values)
    np.testing.assert_array_equal(again.times, ref.times)
    assert again.columns == ref.columns and again.in_degrees and again.name == "Coordinates"

    table = opensim.TimeSeriesTable(str(out))
    assert list(table.getColumnLabels()) == ref.columns
    assert table.getNumRows() == 73
    assert table.getTableMetaDataAsString("inDegrees") == "yes"
    col = table.getDependentColumn("knee_angle_r").to_numpy()
    np.testing.assert_allclose(col, ref.column("knee_angle_r"), rtol=0, atol=1e-12)


def test_mot_radians_and_bad_file(tmp_path):
    out = tmp_path / "rad.sto"
    t = np.linspace(0, 1, 5)
    write_mot(out, t, np.column_stack([np.sin(t), t]), ["a", "b"], in_degrees=False)
    mot = read_mot(out)
    assert not mot.in_degrees and mot.name == "rad"
    np.testing.assert_allclose(mot.values[:, 0], np.sin(t), atol=5e-9)
    bad = tmp_path / "bad.mot"
    bad.write_text("x\nversion=1\ntime\ta\n0\t1\n")
    with pytest.raises(InputError, match=r"bad\.mot: no 'endheader' line"):
        read_mot(bad)
    with pytest.raises(InputError, match="column .c. not in the motion .rad.; columns: a, b"):
        mot.column("c")


def test_atomic_write_leaves_target_untouched_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left behind
    with atomic_write(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
