import pytest

from xlrec_lib.data.mind import NEWS_COLUMNS, mind_news, read_behaviors, read_news


@pytest.fixture
def mind_dir(fixtures_dir):
    return fixtures_dir / "mind-tiny"


def test_mind_news_and_behaviors(mind_dir):
    mind = mind_news(mind_dir)
    assert list(mind.news.columns) == NEWS_COLUMNS
    assert mind.news["news_id"].tolist() == ["N1", "N2", "N3"]
    assert mind.news.loc[1, "abstract"] == ""  # MIND has news without abstract
    b = mind.behaviors
    assert b["history"].tolist() == [["N1", "N2"], []]
    assert b["candidates"].tolist() == [["N3", "N2"], ["N1", "N3", "N2"]]
    assert b["labels"].tolist() == [[1, 0], [0, 0, 1]]
    assert str(b["time"].iloc[1]) == "2019-11-15 13:05:00"  # 1:05 PM


def test_clicks_one_row_per_candidate(mind_dir):
    clicks = mind_news(mind_dir).clicks()
    assert len(clicks) == 5 and clicks["label"].sum() == 2
    assert clicks.loc[clicks["label"] == 1, "news_id"].tolist() == ["N3", "N2"]


def test_xmind_translations_are_joined(mind_dir, fixtures_dir):
    mind = mind_news(mind_dir, translations={"cmn": fixtures_dir / "xmind-tiny-cmn"})
    assert mind.news["title_cmn"].tolist() == ["本地球队赢得奖杯", "", "今晚可以看到一颗新彗星"]
    assert mind.news.attrs["untranslated"] == {"cmn": 1}


def test_xmind_folder_alone(fixtures_dir):
    xmind = mind_news(fixtures_dir / "xmind-tiny-cmn")
    assert list(xmind.news.columns) == ["news_id", "title", "abstract"] and xmind.behaviors is None
    with pytest.raises(ValueError, match="no behaviors.tsv"):
        xmind.clicks()


def test_missing_folder_says_where_to_get_mind(tmp_path):
    with pytest.raises(FileNotFoundError, match="msnews.github.io"):
        mind_news(tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("N1\ta\tb\tc\td\n", r"line 1 has 5 fields; expected \[3, 8\]"),
        ("N1\tt\ta\nN2\tt\n", "line 2 has 2 fields, line 1 has 3"),
        ("N1\tt\ta\nN1\tu\tb\n", "news id 'N1' repeated on line 2"),
        ("\tt\ta\n", "line 1 has an empty id"),
    ],
)
def test_bad_news_files(tmp_path, text, message):
    path = tmp_path / "news.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_news(path)


@pytest.mark.parametrize(
    "line, message",
    [
        ("x\tU1\t11/15/2019 8:55:22 AM\t\tN1-1\n", "impression_id 'x' is not an integer"),
        ("1\tU1\t2019-11-15\t\tN1-1\n", "time '2019-11-15'"),
        ("1\tU1\t11/15/2019 8:55:22 AM\t\tN1-2\n", "token 'N1-2': label must be 0 or 1"),
        ("1\tU1\t11/15/2019 8:55:22 AM\t\tN2-1 -0\n", "token '-0' names no news id"),
        ("1\tU1\t11/15/2019 8:55:22 AM\tN1\t\n", "line 1 has no impressions"),
    ],
)
def test_bad_behaviors(tmp_path, line, message):
    path = tmp_path / "behaviors.tsv"
    path.write_text(line, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_behaviors(path)


def test_unlabelled_test_impressions(tmp_path):
    path = tmp_path / "behaviors.tsv"
    path.write_text("7\tU9\t11/22/2019 10:00:00 AM\tN1\tN2 N3\n", encoding="utf-8")
    assert read_behaviors(path)["labels"].tolist() == [[-1, -1]]


def _zip_of(folder, tmp_path, inner="MINDsmall_dev"):
    import zipfile

    archive = tmp_path / "mind.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in folder.iterdir():
            z.write(f, f"{inner}/{f.name}")
    return archive


def test_fetch_news_zip_unpacks_once_and_finds_news(mind_dir, tmp_path):
    from xlrec_lib.data.mind import fetch_news_zip

    url = _zip_of(mind_dir, tmp_path).as_uri()
    folder = fetch_news_zip(url, tmp_path / "cache" / "mind")
    assert folder.name == "MINDsmall_dev" and mind_news(folder).news["news_id"].tolist() == ["N1", "N2", "N3"]
    (tmp_path / "mind.zip").unlink()  # a second call reads the intact folder, no download
    assert fetch_news_zip(url, tmp_path / "cache" / "mind") == folder


def test_fetch_news_zip_errors_name_the_url(tmp_path):
    from xlrec_lib.data.mind import fetch_news_zip

    with pytest.raises(OSError, match="could not download .*missing.zip"):
        fetch_news_zip((tmp_path / "missing.zip").as_uri(), tmp_path / "a")
    (tmp_path / "not.zip").write_text("hello")
    with pytest.raises(ValueError, match="not a zip archive"):
        fetch_news_zip((tmp_path / "not.zip").as_uri(), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_xmind_url_checks_language_size_and_split():
    from xlrec_lib.data.mind import xmind_url

    assert xmind_url("cmn").endswith("/xMIND/cmn/xMINDsmall_dev.zip")
    with pytest.raises(ValueError, match="lang must be one of"):
        xmind_url("zh")
    with pytest.raises(ValueError, match="no split 'test' in size 'small'"):
        xmind_url("cmn", "small", "test")


def test_open_news_folders_demo_and_errors(mind_dir, fixtures_dir, tmp_path):
    from xlrec_lib.data.mind import demo_folder, open_news

    mind, source = open_news(mind_dir, fixtures_dir / "xmind-tiny-cmn")
    assert source == "folders" and mind.news["title_cmn"].iloc[0] == "本地球队赢得奖杯"
    demo, source = open_news()
    assert source == "demo" and len(demo.news) == 16 and demo.news.attrs["untranslated"] == {"cmn": 0}
    assert (demo_folder() / "news-demo-cmn" / "news.tsv").is_file()
    with pytest.raises(ValueError, match="give both mind_dir and xmind_dir"):
        open_news(mind_dir)
    with pytest.raises(ValueError, match="has no behaviors.tsv"):
        open_news(fixtures_dir / "xmind-tiny-cmn", fixtures_dir / "xmind-tiny-cmn")


def test_fetch_news_zip_default_folder_is_keyed_by_url(mind_dir, tmp_path, monkeypatch):
    from xlrec_lib.data.mind import fetch_news_zip

    monkeypatch.setenv("XLREC_CACHE", str(tmp_path / "cache"))
    first = _zip_of(mind_dir, tmp_path, inner="first")
    second = tmp_path / "other"
    second.mkdir()
    other = _zip_of(mind_dir, second, inner="second")
    a, b = fetch_news_zip(first.as_uri()), fetch_news_zip(other.as_uri())
    assert a.name == "first" and b.name == "second" and a.parents[0] != b.parents[0]


def test_fetch_news_zip_never_removes_a_folder_it_did_not_make(mind_dir, tmp_path):
    from xlrec_lib.data.mind import fetch_news_zip

    url = _zip_of(mind_dir, tmp_path).as_uri()
    mine = tmp_path / "my_mind"
    mine.mkdir()
    (mine / "my_notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ValueError, match="was not made by fetch_news_zip"):
        fetch_news_zip(url, mine)
    assert (mine / "my_notes.txt").read_text(encoding="utf-8") == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()  # made beforehand, as on Colab: used
    assert fetch_news_zip(url, empty).name == "MINDsmall_dev"
