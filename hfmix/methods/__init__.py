"""Methods with a runtime of their own (a loss built from the method's config) and a trainer of their own, one
folder per method: `config.py` (the Hub-shareable recipe, the one list of the method's options), `loss.py` (the
pure loss function and the runtime module that draws, gathers and computes), `trainer.py` (the `Trainer`).

The batch-mixing methods (mixup, FMix, cut-mix) need no runtime of their own: their configs live in
`hfmix.mixers` and `hfmix.MixTrainer` applies them."""
