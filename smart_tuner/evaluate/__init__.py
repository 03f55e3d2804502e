"""Is the voice good? Free-running synthesis of held-out sentences, scored against recordings.

One module per metric family (spectral, pitch, stopping, intelligibility, naturalness, speaker);
`evaluation` runs them over a selection of utterances, `command` is `smart-tuner evaluate`, and
`monitor` measures a small fixed subset during training.
"""
