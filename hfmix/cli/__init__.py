"""The `hfmix` command.

    hfmix                        compare ERM and mixup on the embedded default (MiniLM, tweet sentiment)
    hfmix train [OPTIONS]        fine-tune one model with one recipe; saves it with mix_config.json
    hfmix compare [OPTIONS]      ERM and each --recipes entry on the same split and seed: a table + diagrams
    hfmix tune [OPTIONS]         search recipes (method, level, α, layers, λ per row/batch, mix_stop) by NLL on the
                                 calibration rows; writes the best as mix_config.json for `hfmix train --mix_config`
                                 (needs optuna: pip install "hfmix[tune]"; --n_trials, --tune_seed)
    hfmix config list            every recipe name (mix_types and aliases) and the config it builds
    hfmix config show|save|push  print, write or share a recipe's mix_config.json

`hfmix train --calibrate temperature` fits a temperature on the calibration rows and folds it into the saved model
(with calibration.json). A flag typed on the command line always wins over `--mix_config` and `--config`.

Options come from ScriptArguments, MixupConfig and MixTrainingArguments (`hfmix train --help`), and from a
YAML/JSON recipe file (`--config recipe.yaml`); command-line flags override the file.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if argv and argv[0] == "--version":
        from hfmix import __version__

        print(f"hfmix {__version__}")
        return 0
    command = argv.pop(0) if argv and not argv[0].startswith("-") else "compare"
    from hfmix.cli import commands

    handlers = {
        "train": commands.train,
        "compare": commands.compare,
        "tune": commands.tune,
        "config": commands.config_command,
    }
    if command not in handlers:
        print(
            f"hfmix: unknown command {command!r}; use train, compare, tune or config (hfmix --help).", file=sys.stderr
        )
        return 2
    try:
        handlers[command](argv)
    except ValueError as err:
        print(f"hfmix {command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
