import pytest

from bottleneck_pipeline.errors import InputError
from bottleneck_pipeline.storage import fetch_input


def test_relative_input_dir_resolves_against_the_project_root(tmp_path):
    f = fetch_input("data/sample", "erp.xlsx", tmp_path)
    assert f.local_path.is_file() and f.uri.endswith("data/sample/erp.xlsx")


def test_missing_file_and_folder_are_named(tmp_path):
    with pytest.raises(InputError, match=r"^erp.xlsx: file not found in "):
        fetch_input(str(tmp_path), "erp.xlsx", tmp_path)
    with pytest.raises(InputError, match=r"^input_dir '.*nowhere': folder not found"):
        fetch_input(str(tmp_path / "nowhere"), "erp.xlsx", tmp_path)
    with pytest.raises(InputError, match="unsupported location scheme 'ftp'"):
        fetch_input("ftp://host/x/", "erp.xlsx", tmp_path)
