"""The compiled C export: the whole pipeline against the SavedModel, its entries, its
failures (issue 18)."""

import platform
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study.best import c_check, c_export, c_reference, c_source
from study.best.export import TOLERANCE, write_saved_model
from study.data import synthetic
from study.data.preprocessing import Preprocessing
from study.errors import DataError, ExportError
from study.names import C_INTERNALS, C_LIBRARY
from study.training.network import build_network


def _pipeline(tmp_path, activation="tanh", width=128, blocks=10, rows=120_000):
    """A network with non-zero weights behind a preprocessing fitted on generated data,
    one continuous column with ties; its SavedModel; raw rows to check on."""
    frame = next(synthetic.generate(rows, seed=3, chunk_size=rows))
    features = [c for c in frame.columns if c.startswith("mc_")]
    flags = [c for c in features if c.startswith("mc_is") or c == "mc_charge"]
    frame["mc_z"] = np.round(frame["mc_z"], 0)  # many equal values: ties in its quantiles
    pre = Preprocessing.fit(frame.iloc[:20_000], features, flags)
    assert np.any(np.diff(pre.quantiles["mc_z"]) <= 0)
    model = build_network(len(features), width, blocks, activation, 1e-3)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            k, b = weights
            layer.set_weights([
                rng.normal(0, 0.5 / np.sqrt(k.shape[0]), k.shape).astype(np.float32),
                rng.normal(0, 0.1, b.shape).astype(np.float32),
            ])  # fmt: skip
    write_saved_model(model, pre, tmp_path / "saved_model")
    pre.save(tmp_path / "preprocessing.json")
    return model, pre, frame[features].to_numpy(np.float32)[20_000:]


def test_notebook_network_in_c_matches_the_savedmodel_on_100k_rows(tmp_path):
    model, pre, raw = _pipeline(tmp_path)
    record = c_export.build(model, pre, tmp_path)
    assert record["compiled"] and "-O3" in record["flags"]
    rows = c_check.check_rows(pre, raw)
    flags = [pre.features.index(c) for c in pre.flags]
    combinations = np.unique(raw[:, flags], axis=0)
    assert len(combinations) == 6  # 3 species x 2 charges: the flag combinations that occur
    assert len(rows) == len(raw) + 64 * (5 * len(pre.continuous) + len(combinations))
    figures = c_check.check(tmp_path, rows, model)
    assert figures["rows"] >= 100_000
    assert figures["max_abs_difference"] <= TOLERANCE  # from the SavedModel
    assert figures["max_abs_difference_from_reference"] <= c_check.AGREEMENT
    assert figures["c_max_error"] == pytest.approx(figures["float32_max_error"], abs=1e-7)
    assert figures["single_entry_max_abs_difference"] == 0.0
    assert c_export.flops_per_particle(model) == 2 * (12 * 128 + 10 * 128 * 128 + 128)
    header = (tmp_path / "c" / "acceptance.h").read_text()
    assert "float *acceptance(float *output, const float *input);" in header
    assert "float *acceptance_batch(float *output, const float *input, int n);" in header


@pytest.mark.parametrize("activation, width, blocks", [("gelu", 21, 3), ("relu", 16, 2),
                                                       ("swish", 40, 1)])  # fmt: skip
def test_every_activation_and_a_padded_width_match(tmp_path, activation, width, blocks):
    model, pre, raw = _pipeline(tmp_path, activation, width, blocks, rows=30_000)
    c_export.build(model, pre, tmp_path, name="lamarr_acc")
    library = c_export.CLibrary(tmp_path)
    assert library.name == "lamarr_acc"
    figures = c_check.check(tmp_path, c_check.check_rows(pre, raw), model)
    assert figures["max_abs_difference"] <= TOLERANCE
    assert figures["max_abs_difference_from_reference"] == 0.0  # bit for bit
    assert list(figures["activations"]) == [{"swish": "silu"}.get(activation, activation)]


def test_a_c_that_computes_something_else_fails_naming_its_row(tmp_path, monkeypatch):
    """The fault point moves the C's answers by 1e-3 (study/faults.py): the check says
    where, with the C, its float32 reference and the exact answer."""
    from study import faults

    model, pre, raw = _pipeline(tmp_path, "tanh", 16, 1, rows=25_000)
    c_export.build(model, pre, tmp_path)
    monkeypatch.setenv(faults.VARIABLE, "fail:c-check")
    monkeypatch.setattr(faults, "_passed", faults.Counter())
    with pytest.raises(ExportError) as error:
        c_check.check(tmp_path, raw[:100], model)
    text = str(error.value)
    assert re.search(r"differs by 0\.001 \(> 9\.54e-07\) from the float32 arithmetic", text)
    row = int(re.search(r"at row (\d+) \(raw \[", text).group(1))
    c_there = float(re.search(r": C ([0-9.]+),", text).group(1))
    assert c_there == pytest.approx(c_export.CLibrary(tmp_path).predict(raw[row : row + 1])[0]
                                    + 1e-3, abs=1e-6)  # fmt: skip


def _scaled(model, factor: float) -> None:
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([w * np.float32(factor) for w in weights])


def test_a_network_whose_own_float32_error_passes_1e5_passes_the_check(tmp_path):
    """The check that aborted a finished study: a deep, wide network whose float32
    arithmetic is more than 1e-5 from the exact one. The C is judged by that arithmetic,
    not by a fixed 1e-5, and the card's figures say both."""
    model, pre, raw = _pipeline(tmp_path, "gelu", 180, 8, rows=25_000)
    _scaled(model, 3.2)  # large pre-activations: float32 rounding of 180-term sums
    c_export.build(model, pre, tmp_path)
    figures = c_check.check(tmp_path, raw[:3000], model)
    assert figures["c_max_error"] > 1e-5
    assert figures["max_abs_difference_from_reference"] <= c_check.AGREEMENT
    assert figures["float32_max_error"] == pytest.approx(figures["c_max_error"], rel=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "swish"])
def test_the_space_s_widest_deepest_network_passes_for_each_activation(tmp_path, activation):
    """SPACE's largest network (16 blocks of 512) on random weights: the C agrees with its
    float32 reference, and its distance from the exact arithmetic is recorded."""
    from study.space import SPACE

    blocks, width = int(SPACE["n_blocks"].high), int(SPACE["width"].high)
    assert activation in SPACE["activation"].values
    model, pre, raw = _pipeline(tmp_path, activation, width, blocks, rows=21_000)
    c_export.build(model, pre, tmp_path)
    figures = c_check.check(tmp_path, raw[:150], model)
    assert figures["max_abs_difference_from_reference"] <= c_check.AGREEMENT
    assert 0 < figures["c_max_error"] < 1e-4


def test_without_a_compiler_the_source_is_written_and_said(tmp_path, monkeypatch, caplog):
    model, pre, _ = _pipeline(tmp_path, "tanh", 16, 1, rows=25_000)
    monkeypatch.setattr(c_export, "compiler", lambda: None)
    record = c_export.build(model, pre, tmp_path)
    assert record == {**record, "compiled": False, "reason": "no C compiler on this machine"}
    assert (tmp_path / "c" / "acceptance.c").exists() and not (
        tmp_path / "c" / "acceptance.so"
    ).exists()
    assert "no C compiler" in caplog.text
    with pytest.raises(ExportError, match="not compiled"):
        c_export.CLibrary(tmp_path)


def _hostile_pipeline(tmp_path):
    """A small network behind a preprocessing whose feature names attack the C: a
    constructor in a comment, an #include after a newline, a line splice, a trigraph,
    quotes; `c_source` is given them as they are (the dataset checks bypassed)."""
    proof = tmp_path / "pwned"
    names = [
        "mc_x */ __attribute__((constructor)) static void f(void)"
        f'{{ system("touch {proof}"); }} /* ',
        'mc_y\n#include "/etc/passwd"\n',
        "mc_z \\",
        "mc_w ??/",
        'mc_q "quoted" \' é',
    ]
    frame = next(synthetic.generate(5_000, seed=3, chunk_size=5_000))
    safe = ["mc_x", "mc_y", "mc_z", "mc_eta", "mc_is_mu"]
    frame = frame[safe].rename(columns=dict(zip(safe, names, strict=True)))
    pre = Preprocessing.fit(frame, names, [names[-1]])
    model = build_network(len(names), 16, 1, "tanh", 1e-3)
    return model, pre, frame[names].to_numpy(np.float32), proof


def test_hostile_feature_names_reach_the_c_only_escaped(tmp_path):
    import ctypes
    import re
    import subprocess

    model, pre, raw, proof = _hostile_pipeline(tmp_path)
    record = c_export.build(model, pre, tmp_path, name="acc")
    assert record["compiled"]  # it compiles (gcc -std=c99: trigraphs on)
    folder = tmp_path / "c"
    nm = ["nm", "--defined-only"]
    exported = subprocess.run([*nm, "-D", folder / "acc.so"], capture_output=True, text=True)
    assert sorted(line.split()[-1] for line in exported.stdout.splitlines()) == [
        "acc", "acc_batch",
    ]  # fmt: skip
    library = c_export.CLibrary(tmp_path)  # dlopen: a constructor would run here
    ctypes.CDLL(str(folder / "acc.so"))
    assert not proof.exists()
    exact = c_reference.reference(model, pre, raw[:500])
    assert np.max(np.abs(library.predict(raw[:500]) - exact)) <= TOLERANCE
    # every symbol of the object is the model's: acc_<an internal>, no call but libm's
    subprocess.run(["cc", "-std=c99", "-O3", "-fPIC", "-c", "-o", tmp_path / "acc.o",
                    folder / "acc.c"], check=True)  # fmt: skip
    symbols = subprocess.run(["nm", tmp_path / "acc.o"], capture_output=True, text=True)
    lines = [s.split() for s in symbols.stdout.splitlines()]
    defined = {s[-1].split(".")[0] for s in lines if s[-2] != "U" and s[-1][0] != "."}
    assert defined and all(re.fullmatch(rf"acc(_({C_INTERNALS.pattern}|batch))?", s)
                           for s in defined), defined  # fmt: skip
    called = {s[-1] for s in lines if s[-2] == "U"}
    assert called and called <= C_LIBRARY, called
    source = (folder / "acc.c").read_text()
    assert source.count("#include") == 3 and source.count("/*") == source.count("*/")
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)  # the comments removed
    assert "system" not in code and "attribute" not in code and "passwd" not in code


def test_the_header_names_the_features_exactly_in_escaped_literals(tmp_path):
    import subprocess

    model, pre, _, _ = _hostile_pipeline(tmp_path)
    c_export.build(model, pre, tmp_path, name="acc")
    program = tmp_path / "names.c"
    program.write_text(
        '#include <stdio.h>\n#include "acc.h"\nint main(void) {\n'
        "    const char *names[] = ACC_FEATURE_NAMES;\n"
        "    for (int k = 0; k < ACC_N_FEATURES; k++) {\n"
        '        for (const char *c = names[k]; *c; c++) printf("%02x", (unsigned char)*c);\n'
        '        printf("\\n");\n    }\n    return 0;\n}\n'
    )
    binary = tmp_path / "names"
    subprocess.run(["cc", "-std=c99", "-I", tmp_path / "c", "-o", binary, program], check=True)
    printed = subprocess.run([binary], capture_output=True, text=True, check=True).stdout
    assert printed.split() == [n.encode().hex() for n in pre.features]


@pytest.mark.parametrize("library", ["/etc/x.so", "../x.so", "c/../../x.so", "c/link.so"])
def test_a_build_record_naming_a_library_outside_the_export_is_refused(tmp_path, library):
    import json

    from study.cli import main
    from study.errors import DataError

    (tmp_path / "x.so").write_bytes(b"")
    export = tmp_path / "export"
    (export / "c").mkdir(parents=True)
    (export / "c" / "link.so").symlink_to(tmp_path / "x.so")
    (export / "c" / "acceptance.h").write_text("#define ACCEPTANCE_N_FEATURES 2\n")
    record = {"name": "acceptance", "compiled": True, "library": library,
              "header": "c/acceptance.h"}  # fmt: skip
    (export / "c" / "build.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match="library: .* inside"):
        c_export.CLibrary(export)
    frame = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0) % 2})
    Preprocessing.fit(frame, ["a", "b"], ["b"]).save(export / "preprocessing.json")
    frame.to_feather(tmp_path / "in.feather")
    argv = ["predict", "--model", str(export), "--input", str(tmp_path / "in.feather"),
            "--output", str(tmp_path / "out.feather"), "--engine", "c"]  # fmt: skip
    assert main(argv) == 2
    assert not (tmp_path / "out.feather").exists()


def test_generate_refuses_a_name_that_is_no_safe_c_identifier():
    model, pre, _, _ = _hostile_pipeline(Path("/nonexistent"))
    for name in ("x(void){} int y", "int", "_Foo", "acc_W0"):
        with pytest.raises(ValueError, match="C name"):
            c_source.generate(model, pre, name)


def _disassembly(library: Path) -> str:
    done = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(library)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


X86 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.mark.skipif(not X86 or shutil.which("objdump") is None, reason="x86-64 with objdump")
@pytest.mark.parametrize("march, beyond", [
    ("baseline", r"%[yz]mm\d+|%k[0-7]|:\s+v[a-z0-9]+\s"),  # no AVX (no VEX mnemonic) at all
    ("x86-64-v3", r"%zmm\d+|%k[0-7]"),  # AVX2 and FMA, no AVX-512
])  # fmt: skip
def test_the_library_holds_no_instruction_beyond_its_baseline(tmp_path, march, beyond):
    model, pre, _ = _pipeline(tmp_path, "gelu", 64, 2, rows=25_000)
    record = c_export.build(model, pre, tmp_path, march=march)
    wanted = "x86-64-v2" if march == "baseline" else march
    assert f"-march={wanted}" in record["flags"] and record["target"] == wanted
    assert "-ffp-contract=off" in record["flags"] and "native" not in record["flags"]
    text = _disassembly(tmp_path / "c" / "acceptance.so")
    assert "mulps" in text  # the disassembly is read: the dense layers' SSE products
    found = re.findall(beyond, text)
    assert found == [], found[:5]
    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if march == "baseline" and " avx2" in cpu:  # the same test finds AVX in a native build
        c_export.build(model, pre, tmp_path / "native", march="native")
        assert re.findall(beyond, _disassembly(tmp_path / "native" / "c" / "acceptance.so"))


CALLER = r"""
#include <dlfcn.h>
#include <stdio.h>
typedef float *(*one_t)(float *, const float *);
typedef float *(*batch_t)(float *, const float *, int);
int main(int argc, char **argv)
{
    float in[3][N_FEATURES], out[3], single;
    for (int k = 0; k < 3; k++) for (int j = 0; j < N_FEATURES; j++)
        if (scanf("%f", &in[k][j]) != 1) return 3;
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!library) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    one_t one = (one_t)dlsym(library, "acceptance");
    batch_t batch = (batch_t)dlsym(library, "acceptance_batch");
    if (!one || !batch) return 4;
    batch(out, &in[0][0], 3);
    one(&single, in[2]);
    printf("%.9g %.9g %.9g %.9g\n", out[0], out[1], out[2], single);
    return 0;
}
"""


@pytest.mark.skipif(c_export.compiler() is None, reason="no C compiler")
def test_a_c_caller_built_with_default_flags_loads_and_runs_it(tmp_path):
    """Lamarr's way: a program built with the compiler's defaults dlopens the library and
    calls both entries; its answers are the library's through ctypes."""
    model, pre, raw = _pipeline(tmp_path, "tanh", 32, 2, rows=25_000)
    c_export.build(model, pre, tmp_path)
    header = (tmp_path / "c" / "acceptance.h").read_text()
    n = int(re.search(r"ACCEPTANCE_N_FEATURES (\d+)", header).group(1))
    (tmp_path / "caller.c").write_text(f"#define N_FEATURES {n}\n" + CALLER)
    subprocess.run([c_export.compiler(), "-o", str(tmp_path / "caller"),
                    str(tmp_path / "caller.c"), "-ldl"], check=True)  # fmt: skip
    rows = raw[:3]
    done = subprocess.run([str(tmp_path / "caller"), str(tmp_path / "c" / "acceptance.so")],
                          input=" ".join(f"{v:.9g}" for v in rows.ravel()),
                          capture_output=True, text=True, check=True)  # fmt: skip
    answers = np.float32(done.stdout.split())
    expected = c_export.CLibrary(tmp_path).predict(rows)
    assert np.array_equal(answers[:3], expected) and answers[3] == expected[2]


def _hostile_inputs(tmp_path, problem: str):
    model, pre, _ = _pipeline(tmp_path, "tanh", 16, 1, rows=25_000)
    if problem == "sigmoid hidden layer":
        model = build_network(len(pre.features), 16, 1, "sigmoid", 1e-3)
    elif problem == "NaN weight":
        kernel, bias = model.get_layer("block_0").get_weights()
        kernel[3, 5] = np.nan
        model.get_layer("block_0").set_weights([kernel, bias])
    elif problem == "inf bias":
        kernel, bias = model.get_layer("input_dense").get_weights()
        bias[0] = np.inf
        model.get_layer("input_dense").set_weights([kernel, bias])
    elif problem == "short quantiles":
        pre.quantiles["mc_eta"] = pre.quantiles["mc_eta"][:10]
    elif problem == "decreasing quantiles":
        pre.quantiles["mc_eta"] = pre.quantiles["mc_eta"][::-1]
    elif problem == "references outside [0, 1]":
        pre.references = [r * 2.0 for r in pre.references]
    return model, pre


@pytest.mark.parametrize("problem, message", [
    ("sigmoid hidden layer", r"layer input_dense: activation 'sigmoid', expected one of"),
    ("NaN weight", r"layer block_0: weights that are not finite numbers"),
    ("inf bias", r"layer input_dense: weights that are not finite numbers"),
    ("short quantiles", r"feature 'mc_eta': 10 quantiles for 1000 references"),
    ("decreasing quantiles", r"feature 'mc_eta': quantiles that are not finite, non-decreasing"),
    ("references outside [0, 1]", r"references: expected numbers in \[0, 1\]"),
])  # fmt: skip
def test_the_generator_refuses_what_the_c_cannot_represent_before_writing(
    tmp_path, problem, message
):
    """A forged model.keras or preprocessing.json (a results folder is someone else's) is
    refused with one line, and no C source or library is written."""
    model, pre = _hostile_inputs(tmp_path, problem)
    out = tmp_path / "export"
    with pytest.raises(DataError, match=message):
        c_export.build(model, pre, out)
    assert not (out / "c").exists()


def test_many_flags_keep_every_combination_in_a_bounded_check():
    """12 binary flags: ~4,000 combinations occur. Each is checked, on fewer copied rows
    (at most EXTRA_ROWS appended in all), not 64 x 4,000 rows beside a 10,000-row split."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    n, n_flags = 10_000, 12
    raw = np.c_[rng.normal(size=(n, 2)), rng.integers(0, 2, size=(n, n_flags))].astype(np.float32)
    names = ["x", "y", *(f"f{i}" for i in range(n_flags))]
    pre = SimpleNamespace(
        features=names, flags=names[2:], quantiles={"x": [-2.0, 2.0], "y": [-1.0, 1.0]}
    )
    combinations = np.unique(raw[:, 2:], axis=0)
    assert 3_500 < len(combinations) <= 4_096
    blocks = 5 * 2 + len(combinations)
    rows = c_check.check_rows(pre, raw)
    per_block = c_check.EXTRA_ROWS // blocks
    assert per_block in (7, 8, 9)
    assert len(rows) == n + per_block * blocks <= n + c_check.EXTRA_ROWS
    appended = {tuple(r) for r in rows[n + 10 * per_block :, 2:]}
    assert appended == {tuple(c) for c in combinations}  # every combination, none other
    assert np.all(rows[n : n + per_block, 0] == -6.0)  # x below its range: q0 - span
    few = SimpleNamespace(features=names[:3], flags=["f0"], quantiles=pre.quantiles)
    assert len(c_check.check_rows(few, raw[:, :3])) == n + 64 * (5 * 2 + 2)  # 64 a block
