"""Group sheets (`sm.load_groups`): keypoint-MoSeq's index.csv, dicts, matching by stem, clear errors."""

import pytest

import smoseq as sm


def write(tmp_path, text, name="index.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_index_csv_with_extra_columns_matches_recordings_by_stem(tmp_path):
    sheet = write(tmp_path, "name,group,age\nvideos/m1.mp4,wt,3\nvideos/m2.mp4,ko,4\nm3,wt,5\n")
    groups = sm.load_groups(sheet, recordings=["m3", "m1", "m2"])
    assert groups == {"m3": "wt", "m1": "wt", "m2": "ko"}
    assert list(groups) == ["m3", "m1", "m2"]


def test_sheet_alone_keeps_its_names_and_reads_labels_as_text(tmp_path):
    sheet = write(tmp_path, "name,group\na,1\nb,2\n")
    assert sm.load_groups(sheet) == {"a": "1", "b": "2"}


def test_dict_works_like_a_sheet():
    assert sm.load_groups({"a.csv": "x", "b": "y"}, recordings=["a", "b"]) == {"a": "x", "b": "y"}


@pytest.mark.parametrize(
    "text, recordings, message",
    [
        ("name,group\na,x\n", ["a", "b"], "no group for recording(s) 'b'"),
        ("name,group\na,x\nb,y\nc,y\n", ["a", "b"], "name(s) 'c' match no recording"),
        ("name,condition\na,x\n", ["a"], "needs columns name,group"),
        ("name,group\na,\n", ["a"], "recording 'a' has no group"),
        ("name,group\na,x\na,y\n", ["a"], "listed in groups 'x' and 'y'"),
        ("name,group\nx/a.csv,x\ny/a.csv,x\n", ["a"], "matches several names"),
    ],
)
def test_bad_sheets_are_one_line_naming_the_file(tmp_path, text, recordings, message):
    sheet = write(tmp_path, text)
    with pytest.raises(sm.InputError) as error:
        sm.load_groups(sheet, recordings=recordings)
    assert message in str(error.value)
    assert str(sheet) in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(sm.InputError, match="no such group sheet"):
        sm.load_groups(tmp_path / "absent.csv")
