"""No hand-typed results in the chapters' prose.

The course promises that every number in the prose is printed by a cell. A measured number belongs in a code cell's
output (an f-string) or in a myst-nb ``{glue}`` role, never typed into a markdown cell, where it goes stale the
moment the data, the code or the mode changes. This test scans every markdown cell for result-like numbers
(percentages, decimals, numbers with thousands separators, durations, "12x" ratios) outside maths, code and glue
roles. What remains must be a setting, a derived constant or a cited value, listed below with its reason; anything
else fails. Small integers ("6 layers", "seed 000") are not flagged: they are settings far more often than results.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# removed before scanning: display and inline maths, fenced and inline code, glue roles, links, section signs
STRIP = [r"\$\$.*?\$\$", r"\$[^$\n]+\$", r"```.*?```", r"`[^`\n]*`", r"\{glue(?::\w+)?\}`[^`]*`",
         r"https?://\S+", r"\]\([^)]*\)", r"§[\d.\-–]+"]
RESULT_LIKE = [r"\d+(?:\.\d+)?\s?%", r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", r"\b\d+\.\d+\b",
               r"\b\d+(?:\.\d+)?\s?(?:min|minutes|seconds|hours|s)\b", r"\b\d+(?:\.\d+)?x\b"]

# token -> why it may be typed: settings of the code, constants derived by hand, values cited from a paper
ALLOWED = {
    "01_transformer_math": {
        "2.0": "a licence name (Apache-2.0)",
    },
    "02_data": {
        "10%": "cold-item split setting (item_ratio=0.1)",
        "4.0": "a licence name (CC BY-SA 4.0)",
    },
    "03_mlm_pretraining": {
        "0.2": "the assert's margin below the starting model (nats)",
        "0.4": "the assert's margin below the pooled unigram (nats)",
        "2.5%": "the tail of each side of a 95% Clopper-Pearson interval (intervals.proportion_interval)",
        "2.5": "the tail of each side of a 95% Clopper-Pearson interval (intervals.proportion_interval)",
        "0.3": "XLM-R's sampling exponent, cited (Conneau et al., 2020)",
        "0.5": "XLM's sampling exponent, cited (Lample and Conneau, 2019)",
        "0.001": "the p-value threshold of the sampling tests (the assert uses the same)",
        "95%": "the bootstrap interval's level (intervals.bootstrap_mean, paired_difference)",
        "10%": "BERT's masking rule (random / unchanged share)",
        "15%": "BERT's masking rule (share of tokens chosen)",
        "80%": "BERT's masking rule ([MASK] share)",
    },
    "04_cross_lingual_mapping": {
        "10%": "code-switching rate setting",
        "95%": "the level of the bootstrap intervals (intervals.paired_difference's default)",
        "2,000": "bootstrap resamples setting (intervals.bootstrap_mean)",
        "0.05": "the plateau band setting (contrastive.PLATEAU_TOL, used by plateau_steps and run_outcome)",
        "0.01": "the collapse demo's verdict threshold (a setting of its cell)",
        "70%": "goal of the multilingual edition (issue #13): every untrained pair's P@1",
        "85%": "goal of the multilingual edition (issue #13): every trained pair's P@1",
        "40.6": "MUSE en→zh NN P@1, cited (Conneau et al., ICLR 2018, Table 1)",
        "40.6%": "MUSE en→zh NN P@1, cited (Conneau et al., ICLR 2018, Table 1)",
        "42.7": "MUSE en→zh CSLS P@1, cited (Conneau et al., ICLR 2018, Table 1)",
        "42.7%": "MUSE en→zh CSLS P@1, cited (Conneau et al., ICLR 2018, Table 1)",
    },
    "06_efficient_fine_tuning": {
        "2.13": "the installed torch version (its deprecated quantization API)",
        "95%": "the level of the bootstrap intervals (intervals.paired_difference's default)",
        "2%": "issue 19's goal for LoRA's trainable share",
        "87.2": "LoRA on RoBERTa-base, GLUE average, cited (Hu et al., 2021)",
        "86.4": "full fine-tuning of RoBERTa-base, GLUE average, cited (Hu et al., 2021)",
        "97%": "DistilBERT's retained GLUE score, cited (Sanh et al., 2019); the issue's goal",
        "40%": "DistilBERT's parameter saving, cited (Sanh et al., 2019)",
        "60%": "DistilBERT's inference speed-up, cited (Sanh et al., 2019)",
        "0.900": "int8 BERT-base F1 on MRPC, cited (PyTorch dynamic quantization tutorial)",
        "0.904": "fp32 BERT-base F1 on MRPC, cited (PyTorch dynamic quantization tutorial)",
    },
    "09_cross_lingual_recommendation": {
        "4.0": "a licence name (xMIND: CC BY-NC-SA 4.0)",
        "0.095": "USE en->en nDCG@10 on another protocol, cited in issue 16 (the anchor)",
        "0.058": "USE zh->en nDCG@10 on another protocol, cited in issue 16",
        "0.054": "USE en->zh nDCG@10 on another protocol, cited in issue 16",
        "1,000": "the anchor protocol's number of query verses, cited in issue 16",
        "31,102": "the anchor protocol's candidate verses (all of the KJV), cited in issue 16",
    },
    "10_cross_domain_and_cold_start": {
        "0.2": "the ID dropout setting (ID_DROPOUT)",
        "0.02": "issue 17's goal: within 0.02 nDCG@10 of the CF chapter's best",
        "0.5": "a probability threshold (the side of 0.5) and the MLP's dropout setting",
    },
    "07_scoring": {
        "0.1": "seed 000's softmax cut-off, quoted; and an example probability in the definition of calibration",
        "0.5": "thresholds quoted from seeds 000 and 004",
        "0.73": "sigma(1), the derived upper end of sigma(cos)",
        "10%": "an example rate in the definition of calibration",
        "25%": "split setting (stratified 75/25)",
        "75%": "split setting (stratified 75/25)",
        "20,000": "benchmark size setting (benchmarks/topk.py, users)",
        "2,000": "benchmark size setting (benchmarks/topk.py --quick, users)",
        "50,000": "benchmark size setting (benchmarks/topk.py)",
    },
}


def result_like_numbers(markdown: str) -> list[str]:
    """The result-like numbers of ``markdown`` outside maths, code, glue roles and links."""
    for pattern in STRIP:
        markdown = re.sub(pattern, " ", markdown, flags=re.S)
    return [token for pattern in RESULT_LIKE for token in re.findall(pattern, markdown)]


def test_scanner_finds_typed_results_and_skips_maths_code_and_glue():
    text = ("P@1 rose to 87% after 15 min; 17,666 lines; loss 2.63. "
            "$p = 0.731$ and `lr=2e-3` and {glue:text}`p1:.1%` and seed 001 §5.2.3.")
    assert result_like_numbers(text) == ["87%", "17,666", "2.63", "15 min"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_hand_typed_numbers_in_markdown(path):
    cells = json.loads(path.read_text())["cells"]
    allowed = ALLOWED.get(path.stem, {})
    typed = {}
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for token in result_like_numbers(source):
            if token not in allowed:
                typed.setdefault(token, []).append(index)
    assert not typed, (
        f"{path.name}: numbers typed into markdown cells {typed}. Print a measured number from a code cell "
        "(f-string) or glue it; if it is a setting, a derived constant or a cited value, add it to ALLOWED in "
        "tests/test_prose_numbers.py with the reason.")


def test_allowed_tokens_are_still_used():
    """An allowance whose number left the prose is removed, so the list stays an honest inventory."""
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        present = {t for c in cells if c["cell_type"] == "markdown"
                   for t in result_like_numbers(c["source"] if isinstance(c["source"], str) else "".join(c["source"]))}
        stale = set(ALLOWED.get(path.stem, {})) - present
        assert not stale, f"{path.name}: ALLOWED lists {sorted(stale)}, which no markdown cell contains any more"
