"""Every section checks all its values when the config is loaded: a bad value in a --config
file ends a stage with exit 2 and one line naming the key, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lmcore.config import ConfigError
from pipelines.config import PipelineConfig, load_pipeline_config
from pipelines.dedup.__main__ import main as dedup_main
from pipelines.stage import options

ROOT = Path(__file__).resolve().parents[1]

# (the dedup: section, the start of the one error line)
BAD_DEDUP = [
    ({"threshold": 1.5}, "dedup.threshold must be in (0, 1], not 1.5"),
    ({"threshold": 0}, "dedup.threshold must be in (0, 1], not 0"),
    ({"num_perm": 0}, "dedup.num_perm must be in [1, 4096], not 0"),
    ({"num_perm": 100_000}, "dedup.num_perm must be in [1, 4096], not 100000"),
    ({"seed": -1}, "dedup.seed must be in [0, 4294967295], not -1"),
    ({"word_ngram": 0}, "dedup.word_ngram must be >= 1, not 0"),
    ({"char_ngram": -2}, "dedup.char_ngram must be >= 1, not -2"),
    ({"shuffle_shards": 0}, "dedup.shuffle_shards must be >= 1, not 0"),
    ({"index_files": 0}, "dedup.index_files must be >= 1, not 0"),
    ({"threads": 0}, "dedup.threads must be >= 1, not 0"),
    ({"boilerplate_min_docs": 1}, "dedup.boilerplate_min_docs must be >= 2, not 1"),
    ({"boilerplate_min_chars": -1}, "dedup.boilerplate_min_chars must be >= 0, not -1"),
    ({"min_chars_after_boilerplate": -5}, "dedup.min_chars_after_boilerplate must be >= 0, not -5"),
    ({"false_positive_weight": -0.1}, "dedup.false_positive_weight must be in [0, 1], not -0.1"),
    ({"false_negative_weight": 2}, "dedup.false_negative_weight must be in [0, 1], not 2.0"),
    ({"false_positive_weight": 0, "false_negative_weight": 0}, "dedup.false_positive_weight and dedup.false_negative_weight must not both be 0"),
    ({"signature_min_jaccard": 1.5}, "dedup.signature_min_jaccard must be in [0, 1], not 1.5"),
    ({"verify": "exactly"}, "dedup.verify must be one of exact, signature, none, not 'exactly'"),
    ({"boilerplate_scope": "everywhere"}, "dedup.boilerplate_scope must be one of edges, anywhere, not 'everywhere'"),
    ({"num_perm": "many"}, "config.dedup.num_perm: expected an integer, got 'many'"),
    ({"fuzzy": "yes"}, "config.dedup.fuzzy: expected true/false, got 'yes'"),
    ({"thresold": 0.7}, "config.dedup: unknown key(s) ['thresold']"),
]  # fmt: skip


def _inputs(tmp_path: Path, section: dict) -> list[str]:
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "a", "text": "one document " * 20}) + "\n")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"dedup": section}))
    return [
        f"--input={tmp_path / 'a.jsonl'}",
        f"--output={tmp_path / 'out'}",
        f"--config={tmp_path / 'bad.yaml'}",
    ]


@pytest.mark.parametrize(
    ("section", "line"), BAD_DEDUP, ids=lambda v: "-".join(v) if isinstance(v, dict) else None
)
def test_a_bad_dedup_value_is_exit_2_and_one_line_naming_the_key(tmp_path, capsys, section, line):
    assert dedup_main(_inputs(tmp_path, section)) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {line}"), captured.err
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.slow
def test_python_m_dedup_with_a_bad_config_prints_no_traceback(tmp_path):
    argv = _inputs(tmp_path, {"num_perm": 0, "word_ngram": 3})
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.dedup", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: dedup.num_perm must be in [1, 4096], not 0"
    assert "Traceback" not in proc.stderr + proc.stdout


def test_every_default_passes_its_own_checks():
    assert load_pipeline_config() == PipelineConfig()


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"read": {"text_mode": "paragraphs"}}, r"read\.text_mode must be 'document' or 'paragraph', not 'paragraphs'"),
        ({"read": {"max_doc_bytes": 0}}, r"read\.max_doc_bytes must be a positive integer, not 0"),
        ({"read": {"source": ""}}, r"read\.source must be a non-empty label or null"),
        ({"clean": {"preset": "doc"}}, r"clean\.preset must be one of web, docs, not 'doc'"),
        ({"clean": {"zh_convert": "s2t"}}, r"clean\.zh_convert must be one of none, t2s, tw2s, hk2s, not 's2t'"),
        ({"clean": {"html_extractor": "bs4"}}, r"clean\.html_extractor must be one of resiliparse, trafilatura"),
        ({"clean": {"langid_chars": 0}}, r"clean\.langid_chars must be >= 1, not 0"),
        ({"clean": {"languages": ["en", ""]}}, r"clean\.languages must not contain an empty language code"),
        ({"tokenize": {"vocab_size": 100}}, r"tokenize\.vocab_size must be at least 259"),
        ({"tokenize": {"compression": "gzip"}}, r"tokenize\.compression must be null, 'zstd' or 'lz4'"),
        ({"tokenize": {"sample_fraction": 0}}, r"tokenize\.sample_fraction must be in \(0, 1\], not 0"),
        ({"tokenize": {"max_piece_chars": 10}}, r"tokenize\.max_piece_chars must be at least 64, not 10"),
    ],
)  # fmt: skip
def test_every_section_names_the_key_of_a_bad_value(overrides, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_pipeline_config(overrides=overrides)


def test_direct_construction_raises_the_one_config_error():
    from pipelines.dedup.config import DedupConfig

    with pytest.raises(ConfigError, match=r"dedup\.num_perm"):
        DedupConfig(num_perm=0)


# -- --set key=value ---------------------------------------------------------------------------
def test_key_value_overrides_come_after_the_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dedup: {threshold: 0.8, num_perm: 64}\n")
    config = load_pipeline_config(str(cfg), ["dedup.threshold=0.7", "clean.languages=[en]"])
    assert (config.dedup.threshold, config.dedup.num_perm, config.clean.languages) == (0.7, 64, ["en"])
    with pytest.raises(ConfigError, match=r"dedup\.word_ngram must be >= 1, not 0"):
        load_pipeline_config(str(cfg), ["dedup.word_ngram=0"])


def test_print_config_shows_set_and_keeps_its_format(capsys):
    with pytest.raises(SystemExit) as plain:
        options.parse_options(["--print-config"], _command())
    default = capsys.readouterr().out
    assert plain.value.code == 0 and yaml.safe_load(default)["dedup"]["threshold"] == 0.6
    with pytest.raises(SystemExit) as done:
        options.parse_options(
            ["--print-config", "--set", "dedup.threshold=0.7", "--set=tokenize.vocab_size=600"], _command()
        )
    changed = capsys.readouterr().out
    assert done.value.code == 0
    assert changed == default.replace("  threshold: 0.6\n", "  threshold: 0.7\n").replace(
        "  vocab_size: 8192\n", "  vocab_size: 600\n"
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("dedup.num_perm=0", "error: dedup.num_perm must be in [1, 4096], not 0"),
        ("dedup.threshold", "error: override 'dedup.threshold' is not key=value"),
        ("clean.thresholds.zh.min_wrods=3", "error: clean.thresholds.zh: unknown threshold(s) ['min_wrods']"),
    ],
)
def test_a_bad_set_is_exit_2_and_one_line(capsys, item, message):
    with pytest.raises(SystemExit) as bad:
        options.parse_options(["--print-config", f"--set={item}"], _command())
    err = capsys.readouterr().err.strip().splitlines()
    assert bad.value.code == 2 and len(err) == 1 and err[0].startswith(message)


@pytest.mark.slow
def test_a_run_applies_set_after_the_config_file(tmp_path):
    src = tmp_path / "a.jsonl"
    same = "the same document, word for word, " * 10
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": same}) + "\n" for i in range(3)))
    config = tmp_path / "c.yaml"
    config.write_text("dedup: {exact: true, fuzzy: true}\n")
    kept = {}
    for name, items in {"file": [], "set": ["--set=dedup.exact=false", "--set=dedup.fuzzy=false"]}.items():
        out = tmp_path / name
        assert dedup_main([f"--input={src}", f"--output={out}", f"--config={config}", *items]) == 0
        kept[name] = json.loads((out / "stats.json").read_text())["counts"]["kept"]
    assert kept == {"file": 1, "set": 3}


def test_a_bad_set_item_is_exit_2_naming_it(tmp_path, capsys):
    argv = [f"--input={tmp_path / 'a.jsonl'}", f"--output={tmp_path / 'out'}", "--set=dedup.threshold=7"]
    assert dedup_main(argv) == 2
    err = capsys.readouterr().err
    assert "dedup.threshold" in err and "Traceback" not in err


def test_help_documents_set():
    text = options.light_parser(_command()).format_help()
    assert "--set SECTION.KEY=VALUE" in text and "dedup.threshold=0.7" in text


def _command() -> options.Command:
    from pipelines.dedup.__main__ import COMMAND

    return COMMAND
