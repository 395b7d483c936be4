"""Typed config: compose-time refusals, validation of every job before anything runs, run names."""
import pytest
from hydra import compose, initialize_config_module

from rdsweep import config
from rdsweep.errors import RdsweepError
from rdsweep.experiment.precheck import precheck

config.register()


def composed(*overrides):
    with initialize_config_module("rdsweep.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_the_defaults_validate_and_name_the_run():
    cfg = config.validate(composed())
    assert cfg.model.name == "seed" and cfg.prior.filters == [3, 3, 3, 3] and cfg.lmbda == 500
    assert cfg.name == "mnist-seed-deep_factorized-mae-d50-e5-s0"


@pytest.mark.parametrize("overrides,name", [
    (["data.train_limit=2000"], "mnist-seed-deep_factorized-mae-d50-e5-s0-n2000"),
    (["train.learning_rate=0.002", "train.batch_size=64"], "mnist-seed-deep_factorized-mae-d50-e5-s0-b64-lr0.002"),
    (["model.hidden=256", "prior.init_scale=5"], "mnist-seed-deep_factorized-mae-d50-e5-s0-hidden256-init_scale5"),
    (["model.filters=[32,64]", "prior=logistic", "seed=3"], "mnist-seed-logistic-mae-d50-e5-s3-filters32x64"),
    (["train.lr_schedule=cosine", "train.epochs=20"], "mnist-seed-deep_factorized-mae-d50-e20-s0-cosine"),
    (["train.lr_warmup=0.25"], "mnist-seed-deep_factorized-mae-d50-e5-s0-lrwarm0.25"),
    (["codec.rdo_rounds=8", "train.batch_size=64"], "mnist-seed-deep_factorized-mae-d50-e5-s0-b64-rdo8"),
])
def test_every_setting_of_the_checkpoint_identity_separates_run_names(overrides, name):
    assert config.validate(composed(*overrides)).name == name


@pytest.mark.parametrize("argv,message", [
    (["lmbda=-1"], "lmbda must be a number > 0"),
    (["lmbda=1e39"], "<= 3.4e38 (float32)"),
    (["train.epochs=one"], "train.epochs=one: Value 'one' of type 'str' could not be converted to Integer"),
    (["prior=nope"], "available options in 'prior': deep_factorized, gaussian, laplace, logistic"),
    (["model=nope"], "available options in 'model'"),
    (["distortion=l3"], "expected one of [mae, mse, ms_ssim]"),
    (["data.source=web"], "expected one of [auto, idx, tfds]"),
    (["latent_dims=0"], "latent_dims must be 1..4096"),
    (["seed=99999999999999999999"], "seed must be 0..2**32-1"),
    (["train.epochs=10000000"], "train.epochs must be 1..1e6"),
    (["model.filters=[20,50,60,70,80]"], "model.filters"),
    (["prior.filters=[0]"], "prior.filters"),
    (["codec.tail_mass=0.7"], "codec.tail_mass"),
    (["codec.rdo_rounds=-1"], "codec.rdo_rounds must be 0..100"),
    (["codec.rdo_rounds=101"], "codec.rdo_rounds must be 0..100"),
    (["train.lr_schedule=linear"], "train.lr_schedule must be constant or cosine"),
    (["-m", "lmbda=300,500,-2"], "not -2.0"),
    (["-m", "lmbda=300", "seed=0,1", "train.batch_size=0"], "train.batch_size"),
])
def test_bad_values_are_refused_before_anything_runs(argv, message):
    with pytest.raises(Exception) as e:
        precheck(argv)
    assert message in config.one_line(e.value)
    assert isinstance(e.value, RdsweepError) or "hydra" in type(e.value).__module__ or "omegaconf" in type(e.value).__module__


def test_a_good_sweep_passes_the_precheck(mnist_dir):  # the precheck also makes sure the data is there
    precheck(["-m", "lmbda=300,500", "seed=0,1", "prior=logistic", "hydra.sweep.dir=/tmp/x"])


def test_an_experiments_sweep_is_prechecked_under_the_command_lines_values(mnist_dir, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)  # conf/experiment/ is found from the working directory
    precheck(["-m", "+experiment=seeds", "prior=logistic"])
    with pytest.raises(RdsweepError, match="lmbda must be a number > 0"):
        precheck(["-m", "+experiment=seeds", "lmbda=1,-1"])  # the command line's lmbda replaces the experiment's
    with pytest.raises(RdsweepError, match="seed must be 0..2"):
        precheck(["-m", "+experiment=table1", "seed=-3"])
    precheck(["-m", "+experiment=best", "seed=0,1,2"])  # the best setting: hyperprior, mixed, cosine from 2e-3


def test_the_best_experiment_is_table_1_with_the_hyperprior_mixed_and_a_cosine_rate(monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    cfg = config.validate(composed("+experiment=best"))
    assert (cfg.model.name, cfg.train.quantizer, cfg.train.lr_schedule, cfg.train.learning_rate, cfg.train.epochs,
            cfg.train.batch_size, cfg.latent_dims, cfg.distortion.value) == ("hyperprior", "mixed", "cosine", 2e-3,
                                                                             5, 128, 50, "mae")


def test_a_cosine_schedule_spans_the_epochs_so_they_join_the_checkpoint_identity():
    constant, cosine = (config.identity(config.validate(composed(f"train.lr_schedule={s}", "train.epochs=7")))
                        for s in ("constant", "cosine"))
    assert "epochs" not in constant and "lr_schedule" not in constant  # a constant run can be extended
    assert cosine["epochs"] == 7 and cosine["lr_schedule"] == "cosine"
    soft = config.identity(config.validate(composed("train.quantizer=soft", "train.epochs=7")))
    assert soft["epochs"] == 7 and soft["soft_alpha"] == [1.0, 16.0]  # alpha's schedule spans the epochs


def test_the_cosine_learning_rate_falls_from_the_rate_to_one_percent_over_the_epochs():
    from rdsweep.experiment.train import learning_rate

    train = config.validate(composed("train.lr_schedule=cosine", "train.epochs=4", "train.learning_rate=0.01")).train
    lr = learning_rate(train, steps_per_epoch=10)
    assert float(lr(0)) == pytest.approx(0.01) and float(lr(20)) == pytest.approx(0.00505)
    assert float(lr(40)) == pytest.approx(1e-4) and float(lr(1000)) == pytest.approx(1e-4)
    assert learning_rate(config.validate(composed()).train, 10) == 1e-3


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_the_learning_rate_warm_up_rises_from_zero_then_follows_the_schedule(schedule):
    from rdsweep.experiment.train import learning_rate

    train = config.validate(composed(f"train.lr_schedule={schedule}", "train.epochs=4", "train.learning_rate=0.01",
                                     "train.lr_warmup=0.5")).train
    lr = learning_rate(train, steps_per_epoch=10)  # 5 steps of warm-up out of 40
    assert float(lr(0)) == 0 and float(lr(2)) == pytest.approx(0.004) and float(lr(5)) == pytest.approx(0.01)
    assert float(lr(40)) == pytest.approx(1e-4 if schedule == "cosine" else 0.01)
    with pytest.raises(RdsweepError, match="train.lr_warmup"):
        config.validate(composed("train.lr_warmup=5"))


def test_checkpoints_of_the_rounding_that_moved_to_the_median_are_not_resumed():
    """Training with ste/soft (any model) or mixed (seed, gained) rounds factorized latents around the median now:
    a checkpoint of the earlier rounding has another identity; the best setting's (hyperprior, mixed) does not."""
    def rounding(*overrides):
        return config.identity(config.validate(composed(*overrides))).get("rounding")

    assert rounding() is None and rounding("model=hyperprior", "train.quantizer=mixed") is None
    assert rounding("train.quantizer=mixed") == rounding("model=hyperprior", "train.quantizer=ste") == "median"
    assert rounding("model=meanscale", "train.quantizer=soft") == "median"
    assert config.validate(composed("train.quantizer=mixed")).name.endswith("-mixed")  # the name is unchanged
