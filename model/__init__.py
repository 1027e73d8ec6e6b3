"""The depth-guided video diffuser: DF-Encoder, video denoiser, pipeline, training
and evaluation."""
