"""The diffuser's training data: painting-process videos made by the teacher.

* :mod:`.synth`: samples (the teacher's plan rendered by erasure into T frames) and
  :func:`~.synth.synth_dataset` (sharded, resumable, byte-identical across engines);
* :mod:`.engines`: where samples are made (a local process pool or Ray);
* :mod:`.dataset`: the WebDataset-style shard format and the PyTorch dataset that
  streams it.
"""
