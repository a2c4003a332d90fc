"""Shape bias: the decision rule, the counting, the published decision files, layouts and the CLI."""
import json

import pytest
import torch

from deepscope.cli import main
from deepscope.errors import DeepscopeError
from deepscope.probes import (
    Decision,
    find_cue_conflict,
    find_single_cue,
    load_mapping,
    read_decisions,
    score_files,
    shape_bias,
    write_decisions,
)
from deepscope.probes.decisions import expand_paths
from deepscope.probes.stimuli import parse_cue_conflict_name

MAPPING = load_mapping()

# ../shared/METHODS.md, "Texture vs shape": file (subject column / file stem part) -> shape bias in %.
PUBLISHED = {
    "alexnet_session_1": 42.9, "googlenet_session_1": 31.2, "vgg_session_1": 17.2,  # Caffe models
    "resnet50_session-1": 22.1, "alexnet_session-1": 25.3, "vgg16_session-1": 9.2,
    "resnet101_session-1": 26.1, "resnet152_session-1": 25.6, "densenet121_session-1": 21.4,
    "squeezenet1_1_session-1": 18.2,
}


def test_packaged_mapping_matches_the_shared_copy(cue_conflict):
    shared = load_mapping(cue_conflict / "sixteen_class_mapping.json")
    assert shared == MAPPING
    assert len(MAPPING.categories) == 16 and MAPPING.indices["knife"] == (499,)
    assert "mean" in MAPPING.decision_rule and "argmax" in MAPPING.decision_rule


def test_decision_is_mean_probability_per_category_not_sum():
    # 'bird' has 49 classes, 'airplane' one: summing would pick bird, the published rule (mean) airplane.
    logits = torch.full((1, 1000), -20.0)
    logits[0, list(MAPPING.indices["bird"])] = 0.0
    logits[0, 404] = 2.0  # airplane
    probs = torch.softmax(logits, 1)
    assert probs[0, list(MAPPING.indices["bird"])].sum() > probs[0, 404]
    assert MAPPING.decide(logits) == ["airplane"]
    cat = MAPPING.category_probabilities(probs)
    assert cat.shape == (1, 16)
    assert torch.isclose(cat[0, MAPPING.categories.index("bird")], probs[0, list(MAPPING.indices["bird"])].mean())


def test_mapping_errors(tmp_path):
    with pytest.raises(DeepscopeError, match="does not exist"):
        load_mapping(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"categories": ["cat"]}))
    with pytest.raises(DeepscopeError, match="imagenet_indices"):
        load_mapping(bad)
    with pytest.raises(DeepscopeError, match="ImageNet-1k"):
        MAPPING.decide(torch.zeros(2, 10))


def test_shape_bias_counts_drop_same_cue_images_and_split_by_shape_category():
    decisions = [
        Decision("a", "cat", "dog", "cat"),       # shape hit
        Decision("b", "cat", "dog", "dog"),       # texture hit
        Decision("c", "cat", "clock", "cat"),     # shape hit
        Decision("d", "cat", "cat", "dog"),       # shape = texture: dropped
        Decision("e", "dog", "cat", "knife"),     # neither cue
        Decision("f", "dog", "cat", "cat"),       # texture hit
    ]
    result = shape_bias(decisions, MAPPING.categories)
    assert (result.shape_hits, result.texture_hits, result.conflict_images) == (2, 2, 5)
    assert result.shape_bias == pytest.approx(0.5)
    assert result.per_category["cat"] == pytest.approx(2 / 3)
    assert result.per_category["dog"] == pytest.approx(0.0)
    assert result.per_category["oven"] is None  # no decided image
    assert result.cue_accuracy == pytest.approx(4 / 5)


def test_names_parse_in_both_formats():
    assert parse_cue_conflict_name("cat1-elephant2.png") == ("cat", "elephant")
    assert parse_cue_conflict_name("0001_s5n_dnn_0_airplane_00_airplane1-bicycle2.png") == ("airplane", "bicycle")
    assert parse_cue_conflict_name("cat1.png") is None


def test_published_decision_files_give_the_methods_values(cue_conflict):
    files = expand_paths([cue_conflict / "decisions"])
    observers = score_files(files, MAPPING.categories)
    by_file = {o.files[0].split("experiment_")[-1].removesuffix(".csv"): o for o in observers if not o.human}
    for stem, expected in PUBLISHED.items():
        assert round(100 * by_file[stem].shape_bias, 1) == expected, stem
    humans = next(o for o in observers if o.human)
    assert len(humans.files) == 10
    assert round(100 * humans.shape_bias, 1) == 95.8  # mean over the 10 subjects
    assert round(100 * humans.detail["pooled_shape_bias"], 1) == 95.9  # all 9,634 decided trials together
    assert set(humans.per_category) == set(MAPPING.categories)


def test_decision_files_round_trip(tmp_path, cue_conflict):
    original = read_decisions(next((cue_conflict / "decisions").glob("*resnet50_session-1.csv")))
    path = tmp_path / "again.csv"
    write_decisions(path, "resnet50", original.decisions)
    again = read_decisions(path)
    assert again.subject == "resnet50"
    assert shape_bias(again.decisions).as_dict() == shape_bias(original.decisions).as_dict()
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DeepscopeError, match="not a decision file"):
        read_decisions(tmp_path / "other.csv")


def test_stimulus_folders_are_checked_with_a_layout_message(tmp_path, cue_conflict):
    stimuli = find_cue_conflict(cue_conflict / "stimuli", MAPPING.categories)
    assert len(stimuli) == 1280 and sum(s.conflict for s in stimuli) == 1200
    edges = find_single_cue(cue_conflict / "edges", MAPPING.categories)
    assert len(edges) == 160 and all(s.shape == s.path.parent.name for s in edges)
    with pytest.raises(DeepscopeError, match=r"one folder per category.*did you mean .*stimuli"):
        find_cue_conflict(cue_conflict, MAPPING.categories)
    with pytest.raises(DeepscopeError, match="do not fit the cue-conflict naming"):
        find_cue_conflict(cue_conflict / "edges", MAPPING.categories)
    with pytest.raises(DeepscopeError, match="looks like a cue-conflict image"):
        find_single_cue(cue_conflict / "stimuli", MAPPING.categories)
    with pytest.raises(DeepscopeError, match="does not exist. Expected one folder per category"):
        find_cue_conflict(tmp_path / "missing", MAPPING.categories)


def test_cli_scores_decision_files_and_rejects_a_wrong_folder(tmp_path, cue_conflict, capsys):
    decisions = sorted((cue_conflict / "decisions").glob("*subject-0[12]*.csv"))
    decisions.append(next((cue_conflict / "decisions").glob("*vgg16_session-1.csv")))
    assert main(["shape-bias", "--decisions", *map(str, decisions), "--out", str(tmp_path / "d")]) == 0
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    labels = {o["label"]: o for o in report["observers"]}
    assert round(100 * labels["vgg16"]["shape_bias"], 1) == 9.2
    assert len(labels["humans"]["files"]) == 2
    assert (tmp_path / "d" / "shape_bias.png").stat().st_size > 5000
    assert main(["shape-bias", "--stimuli", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "Expected one folder per category" in capsys.readouterr().err


def _first_per_category(folder, count):
    stimuli = find_cue_conflict(folder, MAPPING.categories)
    by_shape = {}
    for s in stimuli:
        by_shape.setdefault(s.shape, []).append(s)
    return [s for c in MAPPING.categories for s in by_shape[c][:count]]


def test_embedded_model_on_a_fixed_subset_resumes_and_plots(tmp_path, cue_conflict, model):
    """The first 6 images (sorted names) of every category: 96 images, 89 conflicts, ~5 s on a quiet CPU.

    Reference counts come from the full 1,280-image run (shape bias 0.239 = 197 shape / 626 texture,
    matching the independent measurement in ../shared/data/README.md), restricted to these images.
    """
    from deepscope.probes import measure_model
    from deepscope.probes.shape_run import STATE_FILE

    stimuli = _first_per_category(cue_conflict / "stimuli", 6)
    edges = [s for s in find_single_cue(cue_conflict / "edges", MAPPING.categories) if s.shape in ("cat", "knife")]
    report = measure_model(model, MAPPING, tmp_path, stimuli, edges=edges[:4], progress=False)
    cc = report["cue_conflict"]
    assert cc["images"] == 96 and cc["conflict_images"] == 89
    assert abs(cc["shape_hits"] - 13) <= 1 and abs(cc["texture_hits"] - 46) <= 1
    assert cc["shape_bias"] == pytest.approx(0.220, abs=0.02)
    assert report["edges"]["images"] == 4 and (tmp_path / "shape_bias.png").stat().st_size > 5000
    assert len(json.loads((tmp_path / STATE_FILE).read_text())["done"]["cue_conflict"]) == 96
    again = read_decisions(tmp_path / "decisions_cue_conflict.csv")
    assert shape_bias(again.decisions).shape_bias == pytest.approx(cc["shape_bias"])
    # A rerun into the same folder reuses the saved decisions: a model that fails when called gives the same report.
    broken = type(model)(torch.nn.Identity(), name=model.name, input_size=model.input_size)
    assert measure_model(broken, MAPPING, tmp_path, stimuli, edges=edges[:4], progress=False)["cue_conflict"] == cc


@pytest.mark.slow
def test_embedded_model_full_cue_conflict_set(tmp_path, cue_conflict, model):
    stimuli = find_cue_conflict(cue_conflict / "stimuli", MAPPING.categories)
    from deepscope.probes import measure_model

    report = measure_model(model, MAPPING, tmp_path, stimuli, progress=False)
    assert report["cue_conflict"]["shape_bias"] == pytest.approx(0.239, abs=0.01)


def test_cli_runs_the_model_on_a_small_stimulus_folder(tmp_path, cue_conflict, capsys):
    stimuli, edges = tmp_path / "stimuli", tmp_path / "edges"
    for category in ("clock", "bird"):
        for source, target in ((cue_conflict / "stimuli", stimuli), (cue_conflict / "edges", edges)):
            (target / category).mkdir(parents=True)
            for f in sorted((source / category).glob("*.png"))[:3]:
                (target / category / f.name).symlink_to(f)
    human = next((cue_conflict / "decisions").glob("*subject-01*.csv"))
    out = tmp_path / "out"
    assert main(["shape-bias", "--stimuli", str(stimuli), "--edges", str(edges), "--decisions", str(human),
                 "--threads", "1", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "efficientnet_lite0: shape bias" in printed and "16-way accuracy on edges" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["cue_conflict"]["images"] == 6 and report["edges"]["images"] == 6
    assert report["reference"][0]["label"] == "humans" and report["mapping"] == "packaged"
    assert read_decisions(out / "decisions_edges.csv").subject == "efficientnet_lite0"
