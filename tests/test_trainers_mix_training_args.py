"""`hfmix.trainers.mix_training_args`: MixTrainingArguments resolve the recipe, from Python and the command line,
and carry it into MixTrainer."""

import json

import pytest
import tiny

from hfmix import MixTrainer, MixTrainingArguments, MixupConfig, get_mix_config


def test_training_arguments_resolve_mix_config(tmp_path):
    args = MixTrainingArguments(output_dir=str(tmp_path), mix_config='{"mix_type": "mixup", "level": "hidden"}')
    assert args.mix_config == MixupConfig(level="hidden")
    assert args.to_dict()["mix_config"]["level"] == "hidden"
    json.dumps(args.to_dict())  # the Trainer logs and saves these
    assert MixTrainingArguments(output_dir=str(tmp_path)).mix_config == get_mix_config("calibrated-few-shot")
    with pytest.raises(ValueError, match="alpha"):
        MixTrainingArguments(output_dir=str(tmp_path), mix_config={"mix_type": "mixup", "alpha": -1})


def test_training_arguments_from_the_command_line(tmp_path):
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(MixTrainingArguments).parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--mix_config", '{"mix_type": "mixup", "alpha": 0.2}']
    )
    assert args.mix_config == MixupConfig(alpha=0.2)


def test_training_arguments_carry_the_recipe(tmp_path):
    args = MixTrainingArguments(
        output_dir=str(tmp_path),
        max_steps=1,
        report_to=[],
        use_cpu=True,
        mix_config={"mix_type": "mixup", "level": "hidden", "layers": [2]},
    )
    trainer = MixTrainer(
        model=tiny.text_model("bert"), args=args, train_dataset=tiny.text_dataset(), data_collator=tiny.PadCollator()
    )
    assert trainer.mix_config == MixupConfig(level="hidden", layers=[2])
    trainer.train()
