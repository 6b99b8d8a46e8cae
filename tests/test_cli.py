"""The nerve command end to end, in temporary folders with tiny epochs: the files a run writes,
its pictures, the figures it reports against independent arithmetic, the commands that use a
run (evaluate, predict, summary), and the errors and exit codes of bad specs and inputs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from conftest import SHARED_MNIST

import nerve
from nerve import cli
from nerve.runs import presets, run

PNG = b"\x89PNG\r\n\x1a\n"
needs_mnist = pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="needs ../shared/data")


def nerve_cmd(capsys, *args) -> tuple[int, str, str]:
    """Run ``nerve ARGS`` in this process: (exit code, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def picture(path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) > 5000


def metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


# --- the default run -------------------------------------------------------------------------
def test_default_run_writes_a_complete_folder_and_repeats_from_its_config(capsys, tmp_path):
    code, out, _ = nerve_cmd(capsys, "--out", tmp_path / "a", "--epochs", 30)
    assert code == 0
    folder = tmp_path / "a"
    names = {p.name for p in folder.iterdir()}
    assert set(run.FILES) | {"history.png", "confusion_matrix.png",
                             "decision_boundary.png"} == names
    assert all(picture(folder / n) for n in names if n.endswith(".png"))
    m = metrics(folder)
    assert m["validation"]["accuracy"] >= 0.9 and m["validation"]["examples"] == 120
    assert f"run folder: {folder}" in out and "accuracy" in out
    config = tomllib.loads((folder / "config.toml").read_text())
    assert config["train"]["epochs"] == 30 and config["data"]["source"] == "spirals"
    history = (folder / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,accuracy,val_loss,val_accuracy" and len(history) == 31
    # the model file is nerve's: it loads, and decides as the metrics say
    model = nerve.load(folder / "model.safetensors")
    spec, _ = run.load_spec(folder)
    data = run.sources.get("spirals").load(spec["data"], spec["seed"])
    decided = nerve.predict(model, data.x_val).argmax(axis=1)
    assert (decided == data.y_val).mean() == m["validation"]["accuracy"]
    # the config repeats the run exactly
    assert nerve_cmd(capsys, "train", folder / "config.toml", "--out", tmp_path / "b")[0] == 0
    assert metrics(tmp_path / "b")["validation"] == m["validation"]


def test_python_m_nerve_alone_trains_the_default_preset(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nerve", "--epochs", "3", "--quiet"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("spirals-")
    assert f"run folder: {folders[0].relative_to(tmp_path)}" in proc.stdout
    assert "Epoch" not in proc.stdout + proc.stderr  # --quiet: the result only


def test_help_and_version(capsys):
    code, out, _ = nerve_cmd(capsys, "--help")
    assert code == 0 and all(c in out for c in cli.COMMANDS)
    code, out, _ = nerve_cmd(capsys, "train", "--help")
    assert code == 0 and all(name in out for name in presets.PRESETS)
    assert nerve_cmd(capsys, "--version")[1].strip() == f"nerve {nerve.__version__}"


# --- every preset ----------------------------------------------------------------------------
def test_surfing_learns_the_seed_decision(capsys, tmp_path):
    code, out, _ = nerve_cmd(capsys, "train", "surfing", "--out", tmp_path / "r")
    assert code == 0
    m = metrics(tmp_path / "r")
    w, b = np.array(m["neuron"]["weights"]), m["neuron"]["bias"]
    days = np.array([[a, c, d] for a in (0, 1) for c in (0, 1) for d in (0, 1)])
    seed = days @ [5, 2, 4] - 3 > 0  # the seed's perceptron, computed here
    assert ((days @ w + b > 0) == seed).all() and m["converged"]
    assert m["neuron"]["seed_day_decision"] == "go" and m["training"]["accuracy"] == 1.0
    assert m["evaluated_on"] == "training" and "training examples (none held out" in out
    assert m["neuron"]["seed_day_weighted_sum"] == pytest.approx(w @ [1, 0, 1] + b)


def test_xor_runs_the_seed_gradient_descent_to_its_stop_rule(capsys, tmp_path):
    code, out, _ = nerve_cmd(capsys, "train", "xor", "--out", tmp_path / "r")
    assert code == 0
    m = metrics(tmp_path / "r")
    assert m["converged"] and 1 < m["steps"] < 5000 and m["training"]["accuracy"] == 1.0
    rows = (tmp_path / "r" / "history.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss,step_size" and len(rows) == m["steps"] + 1
    sizes = [float(r.split(",")[2]) for r in rows[1:]]
    assert sizes[-1] <= 0.001 < max(sizes[:-1])  # it stopped at the first step below 0.001
    # --epochs caps the steps of gradient descent (max_steps)
    assert nerve_cmd(capsys, "train", "xor", "--epochs", 10, "--out", tmp_path / "s")[0] == 0
    assert metrics(tmp_path / "s")["steps"] == 10 and not metrics(tmp_path / "s")["converged"]


def test_digits_mlp(capsys, tmp_path):
    pytest.importorskip("sklearn")
    code, out, _ = nerve_cmd(capsys, "train", "digits-mlp", "--epochs", 5, "--out",
                             tmp_path / "r")
    assert code == 0 and metrics(tmp_path / "r")["validation"]["accuracy"] > 0.85


def test_sine_lstm_beats_the_naive_forecast_and_draws_it(capsys, tmp_path):
    code, out, _ = nerve_cmd(capsys, "train", "sine-lstm", "--epochs", 4, "--out",
                             tmp_path / "r")
    assert code == 0
    v = metrics(tmp_path / "r")["validation"]
    assert v["mae"] < v["naive_mae"] and v["skill_mae"] == pytest.approx(
        1 - v["mae"] / v["naive_mae"])
    assert picture(tmp_path / "r" / "forecast.png")
    info = json.loads((tmp_path / "r" / "data.json").read_text())
    assert info["task"] == "forecast" and info["window"] == 40


@pytest.fixture
def series_csv(tmp_path):
    t = np.arange(240)
    values = 10 + 5 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.3, 240)
    path = tmp_path / "sales.csv"
    path.write_text("month,sales\n" + "".join(f"{a},{b:.4f}\n" for a, b in zip(t, values)))
    return path, values


def test_forecast_lstm_on_a_csv_then_predict_the_next_steps(capsys, tmp_path, series_csv):
    path, values = series_csv
    code, _, err = nerve_cmd(capsys, "train", "forecast-lstm", "--csv", path, "--column",
                             "sales", "--epochs", 8, "--out", tmp_path / "r")
    assert code == 0, err
    v = metrics(tmp_path / "r")["validation"]
    assert v["mae"] < v["naive_mae"]
    code, out, _ = nerve_cmd(capsys, "predict", tmp_path / "r", path, "--column", "sales",
                             "--steps", 3, "--out", tmp_path / "p.csv")
    assert code == 0
    # the same forecast computed directly from the model and the training part's scaler
    spec, _, model, info = run.open_run(tmp_path / "r")
    n_train = int(round(240 * spec["data"]["train"]))
    scaler = nerve.data.StandardScaler().fit(values[:n_train].astype(np.float32))
    direct = nerve.forecast(model, values.astype(np.float32), 3, scaler, window=20)
    written = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)[:, 1]
    np.testing.assert_allclose(written, direct, rtol=1e-5)
    assert info["scaler"]["mean"][0] == pytest.approx(float(scaler.mean_), rel=1e-6)


# --- MNIST: --data, --download, evaluate, predict, summary -----------------------------------
@needs_mnist
def test_mnist_cnn_run_then_evaluate_predict_and_summary(capsys, tmp_path):
    folder = tmp_path / "cnn"
    code, _, err = nerve_cmd(capsys, "train", "mnist-cnn", "--data", SHARED_MNIST, "--epochs",
                             1, "--out", folder)
    assert code == 0, err
    for name in ("filters.png", "feature_maps.png", "confusion_matrix.png", "history.png"):
        assert picture(folder / name), name
    accuracy = metrics(folder)["validation"]["accuracy"]
    assert accuracy > 0.9
    code, out, _ = nerve_cmd(capsys, "evaluate", folder)
    assert code == 0 and f"accuracy {accuracy:.2%} on 2000" in out
    # predict: a .npy of 5 images, a CSV of the same rows, and a picture of the first
    (_, _), (x, y) = nerve.data.mnist_t10k_split(SHARED_MNIST, flatten=False)
    np.save(tmp_path / "five.npy", x[:5])
    code, out, _ = nerve_cmd(capsys, "predict", folder, tmp_path / "five.npy")
    lines = [ln for ln in out.splitlines() if ln.startswith("  ")]
    model = nerve.load(folder / "model.safetensors")
    expected = nerve.predict(model, x[:5]).argmax(axis=1)
    assert code == 0 and [int(ln.split()[1]) for ln in lines] == expected.tolist()
    np.savetxt(tmp_path / "five.csv", x[:5].reshape(5, -1), delimiter=",")
    code, _, _ = nerve_cmd(capsys, "predict", folder, tmp_path / "five.csv", "--out",
                           tmp_path / "p.csv")
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert code == 0 and rows[0].startswith("example,class,probability,p(0)")
    probs = np.array([[float(v) for v in r.split(",")[3:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert [int(r.split(",")[1]) for r in rows[1:]] == expected.tolist()
    from PIL import Image

    dark_on_light = (255 - x[0, 0] * 255).astype(np.uint8)  # as a user draws a digit
    Image.fromarray(dark_on_light).resize((112, 112)).save(tmp_path / "digit.png")
    code, out, _ = nerve_cmd(capsys, "predict", folder, tmp_path / "digit.png")
    assert code == 0 and out.split()[1] == str(expected[0])
    code, out, _ = nerve_cmd(capsys, "summary", folder)
    assert code == 0 and "Total params: 206,922" in out
    np.save(tmp_path / "raw.npy", x[:2] * 255)  # raw pixels: a silent misprediction else
    code, _, err = nerve_cmd(capsys, "predict", folder, tmp_path / "raw.npy")
    assert code == 1 and "[0, 1]" in err and "divide them by 255" in err


def test_summary_of_presets_and_a_spec_file(capsys, tmp_path):
    code, out, _ = nerve_cmd(capsys, "summary", "mnist-cnn")
    assert code == 0 and "(-1, 16, 28, 28)" in out and "Total params: 206,922" in out
    code, out, _ = nerve_cmd(capsys, "summary", "sine-lstm")
    assert code == 0 and "LastTimeStep" in out and "(-1, 32)" in out
    spec = tmp_path / "s.toml"
    spec.write_text('[data]\nsource = "spirals"\n[model]\nlayers = [{ type = "Linear", '
                    'in_features = 2, out_features = 2 }]\n')
    code, out, _ = nerve_cmd(capsys, "summary", spec)
    assert code == 0 and "Total params: 6" in out


def sums_file(tmp_path):
    path = tmp_path / "SHA256SUMS"
    path.write_text("".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
                            for p in sorted(SHARED_MNIST.glob("t10k-*"))))
    return path


def test_mnist_download_from_a_mirror_checked_by_its_checksums(capsys, tmp_path,
                                                               mnist_server):
    url, requests = mnist_server
    common = ("train", "mnist-mlp", "--download", "--data", tmp_path / "mnist", "--base-url",
              url, "--epochs", 1)
    # the published checksums are of the original files: the recompressed copies fail them
    code, _, err = nerve_cmd(capsys, *common, "--out", tmp_path / "refused")
    assert code == 1 and "checksum mismatch" in err
    assert not (tmp_path / "refused").exists() and not any((tmp_path / "mnist").glob("*.gz"))
    code, _, err = nerve_cmd(capsys, *common, "--checksums", sums_file(tmp_path), "--out",
                             tmp_path / "r")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "mnist").glob("*.gz")) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert metrics(tmp_path / "r")["validation"]["accuracy"] > 0.85


# --- bad specs, bad arguments, failed runs ----------------------------------------------------
BAD_SPECS = {
    "unknown-layer": ('[data]\nsource = "spirals"\n[model]\nlayers = [{ type = "Dense", '
                      'units = 2 }]\n', ["model.layers[0].type", "'Dense'",
                                          "Linear, LogSigmoid, LogSoftmax"]),
    "unknown-key": ('[data]\nsource = "spirals"\nsamples = 10\n[model]\nlayers = [{ type = '
                    '"Linear", in_features = 2, out_features = 2 }]\n',
                    ["data.samples", "unknown key", "n_samples"]),
    "layer-argument": ('[data]\nsource = "spirals"\n[model]\nlayers = [{ type = "Linear", '
                       'in_features = 2, out = 2 }]\n', ["model.layers[0].out", "in_features"]),
    "wrong-kind": ('seed = 0\n[data]\nsource = "spirals"\n[model]\nlayers = [{ type = "Linear", '
                   'in_features = 2, out_features = 2 }]\n[train]\nlr = "fast"\n',
                   ["train.lr", "a positive number", "'fast'"]),
    "source": ('[data]\nsource = "cifar"\n[model]\nlayers = [{ type = "ReLU" }]\n',
               ["data.source", "'cifar'", "spirals"]),
    "does-not-fit": ('[data]\nsource = "spirals"\n[model]\nlayers = [{ type = "Linear", '
                     'in_features = 3, out_features = 2 }]\n', ["model.layers", "(2,)"]),
    "wrong-outputs": ('[data]\nsource = "spirals"\nn_classes = 3\n[model]\nlayers = [{ type = '
                      '"Linear", in_features = 2, out_features = 2 }]\n',
                      ["3 classes need 3 outputs"]),
    "syntax": ('[data\nsource = "spirals"\n', ["not valid TOML"]),
    "name": ('name = "../elsewhere"\n[data]\nsource = "spirals"\n[model]\nlayers = [{ type = '
             '"ReLU" }]\n', ["name", "'../elsewhere'", "letters, digits"]),
    "missing-model": ('[data]\nsource = "spirals"\n', ["[model]", "missing"]),
    "perceptron-layers": ('[data]\nsource = "surfing"\n[model]\nlayers = [{ type = "Linear", '
                          'in_features = 3, out_features = 1 }]\n', ["one layer", "Perceptron"]),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_a_bad_spec_names_the_file_and_the_key_and_exits_2(capsys, tmp_path, case):
    text, words = BAD_SPECS[case]
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    code, out, err = nerve_cmd(capsys, "train", path, "--out", tmp_path / "run")
    assert code == 2
    assert err.startswith(f"nerve train: error: {path}") and "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, words", [
    (["train", "--seed", "-1"], ["--seed", "integer >= 0", "-1"]),
    (["train", "--epochs", "0"], ["--epochs", "positive integer"]),
    (["train", "--lr", "nan"], ["--lr", "positive number"]),
    (["train", "--batch-size", "x"], ["--batch-size"]),
    (["predict", "somewhere"], ["INPUT"]),
    (["explain", "magic"], ["unknown topic", "neuron"]),
])
def test_bad_arguments_are_usage_errors(capsys, args, words):
    code, _, err = nerve_cmd(capsys, *args)
    assert code == 2 and "Traceback" not in err
    for word in words:
        assert word in err


def test_usage_errors_after_parsing_exit_2(capsys, tmp_path):
    code, _, err = nerve_cmd(capsys, "train", "no-such-preset")
    assert code == 2 and "surfing, xor, spirals" in err
    code, _, err = nerve_cmd(capsys, "train", "spirals", "--csv", "x.csv")
    assert code == 2 and "--csv does not apply" in err
    code, _, err = nerve_cmd(capsys, "train", "mnist-mlp", "--out", tmp_path / "r")
    assert code == 2 and "--data DIR" in err and "--download" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    code, _, err = nerve_cmd(capsys, "train", "--out", tmp_path / "full")
    assert code == 2 and "not an empty folder" in err
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    code, _, err = nerve_cmd(capsys, "evaluate", tmp_path)
    assert code == 2 and "config.toml" in err


def test_a_failed_run_exits_1_and_leaves_no_folder(capsys, tmp_path, monkeypatch):
    code, _, err = nerve_cmd(capsys, "train", "mnist-mlp", "--data", tmp_path / "nothing",
                             "--out", tmp_path / "r")
    assert code == 1 and "not found" in err and not (tmp_path / "r").exists()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(run, "_history_csv", broken)  # fails after the model was written
    code, _, err = nerve_cmd(capsys, "train", "--epochs", 1, "--runs-dir", tmp_path / "runs")
    assert code == 1 and "disk full" in err
    assert list((tmp_path / "runs").iterdir()) == []  # no folder, no partial one, no model


def test_without_matplotlib_a_run_writes_everything_else_and_says_so_once(capsys, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(run, "has_matplotlib", lambda: False)
    code, _, err = nerve_cmd(capsys, "train", "--epochs", 2, "--out", tmp_path / "r")
    assert code == 0 and err.count('pip install ".[viz]"') == 1
    assert {p.name for p in (tmp_path / "r").iterdir()} == set(run.FILES)


def test_predict_refuses_inputs_that_do_not_fit(capsys, tmp_path):
    assert nerve_cmd(capsys, "train", "--epochs", 1, "--out", tmp_path / "r")[0] == 0
    np.save(tmp_path / "wrong.npy", np.zeros((4, 3)))
    code, _, err = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "wrong.npy")
    assert code == 1 and "shape (2,)" in err and "(4, 3)" in err
    (tmp_path / "x.txt").write_text("1,2\n")
    code, _, err = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "x.txt")
    assert code == 1 and ".csv, a .npy or an image" in err
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    code, _, err = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "obj.npy")
    assert code == 1 and "pickle" in err.lower()  # never unpickled
    from PIL import Image

    Image.new("L", (8, 8)).save(tmp_path / "p.png")
    code, _, err = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "p.png")
    assert code == 1 and "image models" in err


def test_schedule_and_callbacks_from_a_spec(capsys, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "scheduled"\n[data]\nsource = "spirals"\n[model]\nlayers = [\n'
                    '  { type = "Linear", in_features = 2, out_features = 16 },\n'
                    '  { type = "Tanh" },\n'
                    '  { type = "Linear", in_features = 16, out_features = 2 },\n]\n[train]\n'
                    'epochs = 6\nlr = 0.02\nschedule = { type = "StepLR", step_size = 2, '
                    'gamma = 0.5 }\ncallbacks = [{ type = "EarlyStopping", patience = 50 }]\n')
    code, _, err = nerve_cmd(capsys, "train", path, "--runs-dir", tmp_path / "runs")
    assert code == 0, err
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("scheduled-")
    rows = (folder / "history.csv").read_text().splitlines()
    lr = [float(r.split(",")[rows[0].split(",").index("lr")]) for r in rows[1:]]
    assert lr == pytest.approx([0.02, 0.02, 0.01, 0.01, 0.005, 0.005])


@pytest.mark.parametrize("preset, shape", [("spirals", (7, 2)), ("sine-lstm", (7, 40, 1))])
def test_export_writes_an_onnx_file_that_onnx_runtime_runs_like_nerve(capsys, tmp_path, preset,
                                                                     shape):
    ort = pytest.importorskip("onnxruntime")
    assert nerve_cmd(capsys, "train", preset, "--epochs", 1, "--out", tmp_path / "r")[0] == 0
    code, out, err = nerve_cmd(capsys, "export", tmp_path / "r", "--onnx", tmp_path / "m.onnx")
    assert code == 0, err
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    model = nerve.load(tmp_path / "r" / "model.safetensors")
    np.testing.assert_allclose(got, nerve.predict(model, x), rtol=1e-4, atol=1e-5)
    code, _, err = nerve_cmd(capsys, "export", tmp_path / "r")
    assert code == 2 and "--onnx" in err


def test_distributed_train_on_two_processes_writes_one_run_folder(tmp_path):
    """mpirun -n 2 nerve train --distributed: process 0 writes the folder, and the model is
    the one a single process trains on the same global batches."""
    from test_distributed import MPIRUN, launch

    if MPIRUN is None:
        pytest.skip("needs mpirun (the mpi extra)")
    proc = launch(2, "-m", "nerve", "train", "spirals", "--distributed", "--epochs", 3,
                  "--batch-size", 16, "--out", tmp_path / "two", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("run folder:") == 1
    one = subprocess.run([sys.executable, "-m", "nerve", "train", "spirals", "--epochs", "3",
                          "--batch-size", "32", "--out", str(tmp_path / "one"), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr
    two, single = (nerve.load(tmp_path / d / "model.safetensors") for d in ("two", "one"))
    for (name, a), (_, b) in zip(two.state_dict().items(), single.state_dict().items()):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


# --- found in review ------------------------------------------------------------------------
def spec_file(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


XOR_LOGITS = ('[data]\nsource = "xor"\n[model]\nlayers = [{ type = "Linear", in_features = 2, '
              'out_features = 8 }, { type = "Tanh" }, { type = "Linear", in_features = 8, '
              'out_features = 1 }]\n[train]\nmethod = "fit"\nloss = "bce_with_logits"\n'
              'lr = 0.05\nepochs = 200\nbatch_size = 4\n')


def test_a_logit_output_is_read_through_a_sigmoid(capsys, tmp_path):
    """One logit (bce_with_logits) was taken for a probability: 'probability 10.000'."""
    assert nerve_cmd(capsys, "train", spec_file(tmp_path, XOR_LOGITS), "--out",
                     tmp_path / "r")[0] == 0
    (tmp_path / "x.csv").write_text("0,0\n0,1\n1,0\n1,1\n")
    code, out, _ = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "x.csv", "--out",
                             tmp_path / "p.csv")
    model = nerve.load(tmp_path / "r" / "model.safetensors")
    logits = nerve.predict(model, np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
    p1 = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1, usecols=4)
    np.testing.assert_allclose(p1, 1 / (1 + np.exp(-logits[:, 0])), rtol=1e-6)
    assert code == 0 and all(0 <= p <= 1 for p in p1)


@pytest.mark.parametrize("text, words", [
    ('[data]\nsource = "spirals"\n[model]\nlayers = [{ type = "Linear", in_features = 2, '
     'out_features = 2 }]\n[train]\nloss = "nll"\n', ["LogSoftmax"]),
    ('[data]\nsource = "sine"\n[model]\nlayers = [{ type = "LSTM", input_size = 1, '
     'hidden_size = 4 }, { type = "LastTimeStep" }, { type = "Linear", in_features = 4, '
     'out_features = 1 }]\n', ["batch_first", "(batch, time, features)"]),
    ('[data]\nsource = "spirals"\nvalidation_split = 0.0\n[model]\nlayers = [{ type = "Linear",'
     ' in_features = 2, out_features = 2 }]\n[train]\ncallbacks = [{ type = "EarlyStopping" }]\n',
     ["monitor", "no validation examples"]),
    ('[data]\nsource = "spirals"\n[model]\nlayers = [{ type = "Linear", in_features = 2, '
     'out_features = 2 }]\n[train]\nschedule = { type = "StepLR" }\n', ["train.schedule",
                                                                        "step_size"]),
    ('[data]\nsource = "spirals"\n[model]\nlayers = [{ type = "Linear", in_features = 2, '
     'out_features = 2 }]\n[train]\ncallbacks = [{ type = "EarlyStopping", monitor = "banana" '
     '}]\n', ["monitor", "'banana'", "val_accuracy"]),
    ('[data]\nsource = "spirals"\nn_classes = 1\n[model]\nlayers = [{ type = "Linear", '
     'in_features = 2, out_features = 1 }]\n', ["data:", "n_classes"]),
    ('[data]\nsource = "spirals"\nvalidation_split = 0.9999\n[model]\nlayers = [{ type = '
     '"Linear", in_features = 2, out_features = 2 }]\n', ["validation_split"]),
    ('[data]\nsource = "spirals"\nn_classes = 3\n[model]\nlayers = [{ type = "Perceptron", '
     'n_inputs = 2 }]\n[train]\nmethod = "perceptron"\n', ["two classes"]),
])
def test_spec_problems_found_late_are_usage_errors_too(capsys, tmp_path, text, words):
    code, _, err = nerve_cmd(capsys, "train", spec_file(tmp_path, text), "--out", tmp_path / "r")
    assert code == 2 and "Traceback" not in err, err
    assert all(w in err for w in words), err
    assert not (tmp_path / "r").exists()


def test_options_that_would_do_nothing_are_refused(capsys, tmp_path):
    for args, words in [(["--checksums", "x"], "goes with --download"),
                        (["--download", "--base-url", "ftp://x"], "http://"),
                        (["--csv", "x.csv"], "does not apply")]:
        code, _, err = nerve_cmd(capsys, "train", "mnist-mlp", "--data", tmp_path, *args)
        assert code == 2 and words in err, err


def test_a_forecaster_refuses_inputs_that_are_not_one_series(capsys, tmp_path, series_csv):
    path, values = series_csv
    assert nerve_cmd(capsys, "train", "forecast-lstm", "--csv", path, "--column", "sales",
                     "--epochs", 1, "--out", tmp_path / "r")[0] == 0
    np.save(tmp_path / "two.npy", np.stack([np.arange(240.0), values], 1))
    (tmp_path / "nohead.csv").write_text("".join(f"{i},{v}\n" for i, v in enumerate(values)))
    for args, words in [(["two.npy"], "one series"), (["nohead.csv"], "no header"),
                        (["nohead.csv", "--column", "sales"], "no header row")]:
        code, _, err = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / args[0],
                                 *args[1:])
        assert code == 1 and words in err, err
    # evaluate on another file (a shorter series) is refused, not measured on other rows
    (tmp_path / "short.csv").write_text("".join(path.read_text().splitlines(True)[:200]))
    code, _, err = nerve_cmd(capsys, "evaluate", tmp_path / "r", "--data", tmp_path / "short.csv")
    assert code == 1 and "differ from the run's" in err


def test_a_spec_file_s_relative_paths_are_kept_absolute_in_the_run(capsys, tmp_path, series_csv,
                                                                  monkeypatch):
    path, _ = series_csv
    spec = spec_file(tmp_path, f'[data]\nsource = "csv"\npath = "{path.name}"\ncolumn = "sales"\n'
                     '[model]\nlayers = [{ type = "LSTM", input_size = 1, hidden_size = 4, '
                     'batch_first = true }, { type = "LastTimeStep" }, { type = "Linear", '
                     'in_features = 4, out_features = 1 }]\n[train]\nepochs = 1\n')
    monkeypatch.chdir(tmp_path.parent)  # not the spec's folder
    assert nerve_cmd(capsys, "train", spec, "--out", tmp_path / "r")[0] == 0
    config = tomllib.loads((tmp_path / "r" / "config.toml").read_text())
    assert config["data"]["path"] == str(path.resolve())


def test_a_transparent_picture_is_read_on_white_and_a_blank_one_is_refused(capsys, tmp_path):
    from PIL import Image

    pytest.importorskip("sklearn")
    assert nerve_cmd(capsys, "train", "digits-mlp", "--epochs", 3, "--out", tmp_path / "r")[0] == 0
    strokes = np.zeros((32, 32), np.uint8)
    strokes[4:28, 14:18] = 255  # a "1"
    grey = Image.fromarray(255 - strokes)  # black on white
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # black strokes on nothing
    rgba.putalpha(Image.fromarray(strokes))
    grey.save(tmp_path / "grey.png")
    rgba.save(tmp_path / "alpha.png")
    answers = [nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / f)[1].split()[:2]
               for f in ("grey.png", "alpha.png")]
    assert answers[0] == answers[1]
    Image.new("L", (32, 32), 255).save(tmp_path / "blank.png")
    code, _, err = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "blank.png")
    assert code == 1 and "blank" in err


def test_a_run_that_diverges_is_written_and_fails(capsys, tmp_path):
    code, out, err = nerve_cmd(capsys, "train", "--lr", "1e300", "--epochs", 3, "--out",
                               tmp_path / "r")
    assert code == 1 and "stopped early" in err and (tmp_path / "r" / "model.safetensors").exists()
    assert "stop_reason" in metrics(tmp_path / "r") and "RuntimeWarning" not in err


def test_a_runs_folder_that_cannot_be_made_fails_before_training(capsys, tmp_path):
    (tmp_path / "afile").write_text("")
    code, out, err = nerve_cmd(capsys, "train", "--runs-dir", tmp_path / "afile")
    assert code == 1 and "cannot write a run folder" in err and "Epoch" not in out + err


def test_predict_quiet_prints_the_predictions_and_refuses_options_of_forecasts(capsys, tmp_path):
    """Found in review: --quiet printed nothing (the predictions are the result), and --steps
    and --column were accepted (or refused with a wrong reason) on a classification run."""
    assert nerve_cmd(capsys, "train", "--epochs", 1, "--out", tmp_path / "r")[0] == 0
    (tmp_path / "x.csv").write_text("0.1,0.2\n-0.5,0.3\n")
    code, out, _ = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "x.csv", "--quiet")
    assert code == 0 and out.count("probability") == 2 and out.startswith("  0:")
    code, _, err = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "x.csv", "--steps", 5)
    assert code == 2 and "--steps 5" in err and "classifies" in err
    (tmp_path / "h.csv").write_text("a,b\n0.1,0.2\n")
    code, _, err = nerve_cmd(capsys, "predict", tmp_path / "r", tmp_path / "h.csv", "--column",
                             "a")
    assert code == 1 and "forecast run" in err and "no header" not in err


def test_a_perceptron_that_does_not_converge_says_so(capsys, tmp_path):
    code, out, _ = nerve_cmd(capsys, "train", "surfing", "--lr", 0.5, "--epochs", 2, "--out",
                             tmp_path / "r")
    m = metrics(tmp_path / "r")
    assert code == 0 and not m["converged"]
    assert "did not converge in 2 epochs" in out and "learned weights" not in out


def test_standard_normal_init_reaches_every_layer_with_weights(tmp_path):
    from nerve.runs import run as runs

    spec = runs.load_spec("mnist-cnn")[0]
    spec["model"]["init"] = "standard-normal"
    model = runs.build_model(spec, None)
    for name, p in model.named_parameters():
        values = p.detach().numpy()
        if name.endswith("bias"):
            assert (values == 0).all(), name
        else:
            assert 0.8 < values.std() < 1.2, (name, values.std())
