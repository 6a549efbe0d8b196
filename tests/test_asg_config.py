"""The ASG additions to the run schema keep old run ids and enter the hash only when set."""
import pytest

from bench.config import RunSpec, apply_overrides, load_sweep
from synth.errors import UserError

# Computed with bench/config.py as it was before the `protocol` and `asg` fields were added. The
# default run id changed since, on purpose, with finetune.recompute_bn (a different test): with it
# false, the evaluation of before, the old id comes back.
DEFAULT_RUN_ID = "e22ab1d84a36"
DEFAULT_PRETRAIN_ID = "0891678436fc"
OLD_EVAL = {"finetune.recompute_bn": False}


def test_default_run_id_unchanged_by_the_asg_fields():
    spec = RunSpec()
    assert spec.protocol is None and spec.asg is None
    assert apply_overrides(spec, OLD_EVAL).run_id == DEFAULT_RUN_ID
    assert spec.pretrain_id == DEFAULT_PRETRAIN_ID
    assert "protocol" not in spec.identity() and "asg" not in spec.identity()


def test_setting_the_sections_changes_the_run_id():
    base = RunSpec()
    proxy = apply_overrides(base, {"asg.proxy_lambda": 0.1})
    assert proxy.run_id != base.run_id
    # In the transfer protocol ASG acts on fine-tuning only: the pre-trained cell is shared.
    assert proxy.pretrain_id == base.pretrain_id
    gen = apply_overrides(base, {"protocol": "generalize", "target.n_real": [0]})
    gen_proxy = apply_overrides(gen, {"asg.proxy_lambda": 0.1})
    assert gen.run_id != base.run_id
    assert gen_proxy.pretrain_id != gen.pretrain_id  # here ASG changes the synthetic training


def test_generalize_training_is_shared_across_real_test_targets():
    gen = apply_overrides(RunSpec(), {"protocol": "generalize", "target.n_real": [0],
                                      "target.name": "mnist5k", "asg.lr_policy": "handset"})
    other = apply_overrides(gen, {"target.name": "sklearn_digits"})
    assert gen.run_id != other.run_id and gen.pretrain_id == other.pretrain_id


@pytest.mark.parametrize("key,value,message", [
    ("protocol", "finetune", "protocol: input should be 'transfer' or 'generalize', got 'finetune'"),
    ("asg.lr_policy", "adam", "asg.lr_policy: input should be 'none', 'handset' or 'learned', got 'adam'"),
    ("asg.proxy_lambda", -1.0, "asg.proxy_lambda: input should be greater than or equal to 0, got -1.0"),
    ("asg.interval", 0, "asg.interval: input should be greater than 0, got 0"),
    ("asg.lambda", 0.1, "asg.lambda: unknown key; did you mean 'proxy_lambda'? (keys here: proxy_lambda, "),
])
def test_bad_asg_values_are_one_line_user_errors(key, value, message):
    with pytest.raises(UserError) as err:
        apply_overrides(RunSpec(), {key: value})
    assert "\n" not in str(err.value) and str(err.value).startswith(message), str(err.value)


def test_packaged_generalize_config_loads():
    from bench.commands import resolve_config

    sweep = load_sweep(resolve_config("generalize"))
    cells = sweep.cells()
    assert all(c.protocol == "generalize" for c in cells)
    assert {c.asg.lr_policy for c in cells} == {"none", "handset", "learned"}
    assert any(c.asg.proxy_lambda > 0 for c in cells)


@pytest.mark.parametrize("overrides", [{"protocol": "transfer"}, {"asg.proxy_lambda": 0.0},
                                       {"asg.interval": 5, "asg.n_groups": 8}])
def test_written_out_defaults_and_keys_fine_tuning_ignores_keep_the_run_id(overrides):
    # A transfer run reads only asg.proxy_lambda; a config that spells out the defaults (or sets
    # keys only the generalize protocol reads) is the same run and must resume, not rerun.
    spec = apply_overrides(RunSpec(), overrides | OLD_EVAL)
    assert (spec.run_id, spec.pretrain_id) == (DEFAULT_RUN_ID, DEFAULT_PRETRAIN_ID)
    proxy = apply_overrides(RunSpec(), {"asg.proxy_lambda": 0.1})
    assert apply_overrides(proxy, overrides | {"asg.proxy_lambda": 0.1}).run_id == proxy.run_id


def test_a_grid_over_ignored_keys_is_one_cell():
    from bench.config import SweepSpec

    sweep = SweepSpec(base=RunSpec(), grid={"asg.interval": [5, 10, 20], "protocol": [None, "transfer"]})
    assert len(sweep.cells()) == 1
